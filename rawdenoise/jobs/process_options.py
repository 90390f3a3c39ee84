"""The options of a ``process`` run, one field per option of ``rawdenoise process``.

:meth:`ProcessOptions.validated` is the single place where these options are checked: the
command line and the Python API (:func:`rawdenoise.process`) raise the same
:class:`~rawdenoise.errors.UsageError` with the same message for the same bad value. The
messages name the command-line options (``--format``, ``--ratio``), as the field names do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from rawdenoise.errors import UsageError
from rawdenoise.formats import EXTENSIONS, FORMAT_ALIASES

DEFAULT_QUALITY = 95


@dataclass(frozen=True)
class ProcessOptions:
    """What to denoise, with which model, and how to write it (``rawdenoise process --help``).

    Field defaults are the command's defaults. ``model=None`` is the bundled ``default`` model;
    ``ratio`` is a number, ``"auto"`` or None (1); ``option`` holds ``KEY=VALUE`` strings.
    """

    paths: tuple[Path, ...] = ()
    model: str | None = None
    arch: str | None = None
    option: tuple[str, ...] = ()
    out: Path | None = None
    suffix: str = ""
    fmt: str = "png"
    bit_depth: int | None = None
    quality: int | None = None
    ratio: str | float | None = None
    target_exposure: float | None = None
    tile: int | None = None
    overlap: int | None = None
    device: str = "auto"
    precision: str = "auto"
    ensemble: int = 1
    level_lock: bool = True
    threads: int | None = None
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    shard: str | None = None
    dry_run: bool = False

    @property
    def model_ref(self) -> str:
        """The model to load: the given reference, or ``default``."""
        return self.model if self.model is not None else "default"

    @property
    def ratio_is_auto(self) -> bool:
        return isinstance(self.ratio, str) and self.ratio.strip().lower() == "auto"

    def validated(self) -> ProcessOptions:
        """These options checked and completed (format spelled canonically, bit depth and
        JPEG quality filled in); raises :class:`UsageError` for a bad combination or value.

        Checks that need no file, model or heavy library; the rest (threads, ensemble, tile
        sizes, the output folder) is :func:`check_runtime`'s.
        """
        if self.overwrite and self.skip_existing:
            raise UsageError("give either --overwrite or --skip-existing, not both")
        fmt = self.fmt.strip().lower()
        fmt = FORMAT_ALIASES.get(fmt, fmt)
        if fmt not in EXTENSIONS:
            raise UsageError(f"unknown --format {fmt!r}", hint="choose png, tiff, jpeg or dng")
        bit_depth, quality = self.bit_depth, self.quality
        if bit_depth is not None and bit_depth not in (8, 16):
            raise UsageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
        if fmt == "dng" and bit_depth not in (None, 16):
            raise UsageError(
                "--bit-depth applies to png and tiff; a DNG keeps the RAW's 16-bit data"
            )
        if fmt == "jpeg" and bit_depth not in (None, 8):
            raise UsageError("JPEG is 8-bit", hint="use --format png or tiff for 16-bit output")
        bit_depth = 8 if fmt == "jpeg" else bit_depth or 16
        if quality is not None and fmt != "jpeg":
            raise UsageError("--quality applies to --format jpeg only")
        if quality is not None and not 1 <= quality <= 100:
            raise UsageError(f"--quality must be 1-100, got {quality}")
        return dataclasses.replace(
            self,
            paths=tuple(Path(p) for p in self.paths),
            option=tuple(self.option or ()),
            fmt=fmt,
            bit_depth=bit_depth,
            quality=DEFAULT_QUALITY if quality is None else quality,
            ratio=None if self.ratio is None else str(self.ratio),
        )

    def check_runtime(self) -> tuple[int, int] | None:
        """The checks that import numpy (threads, ensemble, tiling signs, suffix, shard, the
        output folder); returns the shard (I, N) this process takes, or None."""
        from rawdenoise.atomic import check_output_folder
        from rawdenoise.devices import check_threads
        from rawdenoise.ensemble import check_ensemble
        from rawdenoise.inputs import parse_shard, shard_from_env
        from rawdenoise.tiling import check_tiling

        check_threads(self.threads)
        check_ensemble(self.ensemble)
        check_tiling(self.tile, self.overlap, 1)  # the signs now; the network's stride later
        if "/" in self.suffix or "\\" in self.suffix:
            raise UsageError(f"--suffix must not contain a path separator: {self.suffix!r}")
        shard = parse_shard(self.shard) if self.shard else shard_from_env()
        if self.out is not None:
            check_output_folder(self.out)  # a file where the folder should be: exit 5
        return shard
