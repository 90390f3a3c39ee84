"""The ``process`` job as a library: find inputs, name outputs, shard, denoise one file.

One file goes: decode -> per-channel black/white normalization -> x ratio -> LED's upper clip
at 1 -> tiled network (:func:`rawdenoise.inference.denoise`, output clipped at 1, values below
black kept) -> back to DN with the same levels -> unpacked (odd sizes included) ->
rendered/written atomically.
Normalization and gain are per image, never per tile.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import InputError, MissingExifError, UsageError
from rawdenoise.rawio import is_raw_path

if TYPE_CHECKING:
    import numpy as np

    from rawdenoise.render import OutputMetadata

#: output folder beside each input when ``--out`` is not given
DEFAULT_OUT_DIR = "denoised"
EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "dng": ".dng"}


# --------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes; ``error`` when it cannot even be tried."""

    source: Path
    output: Path | None = None
    error: InputError | None = None

    @property
    def sort_key(self) -> str:
        return str(self.source)


@dataclass
class Collected:
    """What :func:`collect_inputs` found: (file, the folder argument it came from or None)."""

    files: list[tuple[Path, Path | None]] = field(default_factory=list)
    bad: list[Job] = field(default_factory=list)
    ignored: int = 0  #: files in folders without a RAW extension


def collect_inputs(
    paths: Iterable[Path], *, recursive: bool = False, out_dir: Path | None = None
) -> Collected:
    """Files named explicitly and RAW files in folders (sorted, de-duplicated).

    A missing path or an explicitly named file without a RAW extension is a bad job; in folders
    only RAW extensions count, hidden files are skipped, and so are output folders
    (``denoised/`` and ``out_dir``) so that a second run does not denoise its own outputs. A
    folder that cannot be read, and a RAW name in a folder that leads nowhere (a broken
    symbolic link, a link loop) or to something that is no file (a FIFO), are bad jobs too:
    nothing is skipped without a word.
    """
    found = Collected()
    seen: set[str] = set()
    out_resolved = _real(out_dir) if out_dir is not None else None

    def add(path: Path, root: Path | None) -> None:
        key = str(_real(path))
        if key not in seen:
            seen.add(key)
            found.files.append((path, root))

    def bad(path: Path, message: str, hint: str | None = None) -> None:
        found.bad.append(Job(path, error=InputError(message, hint=hint)))

    for path in paths:
        path = Path(path)
        if path.is_dir():
            candidates, unreadable = _listing(path, recursive)
            for folder, reason in unreadable:
                bad(folder, f"{folder}: cannot read the folder ({reason})")
            raw_seen = False
            for item in candidates:
                rel_parts = item.relative_to(path).parts
                if any(part.startswith(".") for part in rel_parts):
                    continue
                if recursive and _in_output_folder(item, path, out_resolved):
                    continue
                if item.is_dir():
                    continue
                if not is_raw_path(item):
                    if item.is_file():
                        found.ignored += 1
                    continue
                raw_seen = True
                problem = _unusable(item)
                if problem is not None:
                    bad(item, f"{item}: {problem}")
                    continue
                add(item, path)
            if not raw_seen and not unreadable:
                deeper = not recursive and any(
                    c.is_dir() and c.name != DEFAULT_OUT_DIR and not c.name.startswith(".")
                    for c in candidates
                )
                bad(
                    path,
                    f"{path}: no RAW files in this folder",
                    hint="add -r to look into its sub-folders" if deeper else None,
                )
        elif path.is_file():
            if is_raw_path(path):
                add(path, None)
            else:
                bad(
                    path,
                    f"{path.name}: not a RAW file (extension {path.suffix or 'none'})",
                    hint="rawdenoise reads camera RAW files such as .ARW, .NEF, .CR2, .DNG",
                )
        else:
            bad(path, f"{path}: {_unusable(path) or 'no such file or folder'}")
    return found


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved as far as they go (never raises on a loop, as
    ``Path.resolve`` does on Python 3.11)."""
    return Path(os.path.realpath(path))


def _unusable(path: Path) -> str | None:
    """Why a path cannot be read as a RAW file (no such file, a link loop, a FIFO, a folder);
    ``None`` when it is a regular file (it may still be unreadable: read_raw says so)."""
    from rawdenoise.rawio import describe_missing, not_a_regular_file

    if not os.path.lexists(path):
        return "no such file or folder"
    if not path.exists():
        return describe_missing(path)
    return not_a_regular_file(path)


def _listing(folder: Path, recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(every entry of ``folder``, or below it, sorted; the folders that could not be read).

    Symbolic links to folders are listed but not followed (as ``Path.rglob`` does), so a link
    to a parent folder cannot make the walk endless.
    """
    entries: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    todo = [folder]
    while todo:
        current = todo.pop()
        try:
            with os.scandir(current) as it:
                children = list(it)
        except OSError as exc:
            unreadable.append((current, (exc.strerror or type(exc).__name__).lower()))
            continue
        for child in children:
            path = current / child.name
            entries.append(path)
            if recursive and not child.name.startswith(".") and _is_real_dir(child):
                todo.append(path)
    return sorted(entries), sorted(unreadable)


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _in_output_folder(item: Path, root: Path, out_resolved: Path | None) -> bool:
    """Whether ``item`` lies in an output folder inside the folder argument ``root``.

    ``--out`` counts only when it is strictly inside ``root``: an ``--out`` that is the input
    folder itself (or above it) would otherwise hide every input.
    """
    parents = item.relative_to(root).parts[:-1]
    if DEFAULT_OUT_DIR in parents:
        return True
    if out_resolved is None:
        return False
    root_resolved = _real(root)
    if out_resolved == root_resolved or out_resolved in root_resolved.parents:
        return False
    resolved = _real(item)
    return resolved == out_resolved or out_resolved in resolved.parents


def plan_jobs(collected: Collected, *, out_dir: Path | None, suffix: str, fmt: str) -> list[Job]:
    """Output paths ``<stem><suffix>.<ext>``; sorted by input; every output name unique.

    With ``out_dir`` the sub-folders below a folder argument are kept; otherwise outputs go to
    ``denoised/`` beside each input. Two inputs that would share an output name (``a.CR2`` and
    ``a.DNG``) get the source extension in the name (``a_cr2``, ``a_dng``); inputs that still
    clash (``a.CR2`` from two folders given with one ``--out``, or ``a.CR2`` and ``a.cr2``) get
    a counter as well (``a_cr2``, ``a_cr2_2``), in sorted input order, so that no input's
    result replaces another's. Names are compared case-insensitively (macOS, Windows). An
    output that would be one of the run's inputs, its own or another's (through ``--suffix``,
    ``--out``, ``-f dng``, a hard or symbolic link), is refused: inputs are never written.
    """
    if fmt not in EXTENSIONS:
        raise UsageError(f"unknown format {fmt!r}", hint="choose png, tiff, jpeg or dng")
    ext = EXTENSIONS[fmt]

    def folder(src: Path, root: Path | None) -> Path:
        if out_dir is None:
            return src.parent / DEFAULT_OUT_DIR
        if root is None:
            return out_dir
        return out_dir / src.parent.relative_to(root)

    def output(src: Path, dest: Path, tag: str = "") -> Path:
        return dest / f"{src.stem}{tag}{suffix}{ext}"

    def key(path: Path) -> str:
        return str(_real(path)).casefold()

    inputs = _InputIdentities(
        [src for src, _ in collected.files] + [j.source for j in collected.bad]
    )

    planned = sorted(
        ((src, folder(src, root)) for src, root in collected.files), key=lambda p: str(p[0])
    )
    plain = [key(output(src, dest)) for src, dest in planned]
    sharing = Counter(plain)
    taken: set[str] = set()
    jobs: list[Job] = []
    for (src, dest), plain_key in zip(planned, plain, strict=True):
        target = output(src, dest)
        if sharing[plain_key] > 1:
            tag = "_" + src.suffix.lstrip(".").lower()
            target, n = output(src, dest, tag), 2
            while key(target) in taken:
                target, n = output(src, dest, f"{tag}_{n}"), n + 1
        taken.add(key(target))
        victim = inputs.match(target)
        if victim is None:
            jobs.append(Job(src, target))
            continue
        same = victim == _real(src)
        what = "the input" if same else f"another input of this run ({victim})"
        jobs.append(
            Job(
                src,
                error=InputError(
                    f"{src.name}: the output {target} would replace {what}",
                    hint="use --suffix or another --out folder",
                ),
            )
        )
    jobs.extend(collected.bad)
    return sorted(jobs, key=lambda j: j.sort_key)


class _InputIdentities:
    """The files a run reads, to tell whether an output path would land on one of them."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.by_name: dict[str, Path] = {}
        self.by_inode: dict[tuple[int, int], Path] = {}
        for path in paths:
            real = _real(path)
            self.by_name[str(real).casefold()] = real
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.by_inode[(st.st_dev, st.st_ino)] = real

    def match(self, target: Path) -> Path | None:
        """The input ``target`` is (same name, case-insensitively, or same file), or None."""
        real = _real(target)
        if str(real).casefold() in self.by_name:
            return self.by_name[str(real).casefold()]
        try:
            st = os.stat(target)
        except OSError:
            return None
        return self.by_inode.get((st.st_dev, st.st_ino))


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): this process takes the 2nd of 4 shares (1-based)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or n < 1 or not 1 <= i <= n:
        raise UsageError(
            f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 1/4"
        )
    return i, n


def shard_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """(RANK + 1, WORLD_SIZE) under torchrun (or any launcher that sets them), else None.

    A value that makes no sense is refused rather than ignored: each process would then take
    every file (or a wrong share), and several processes would write the same outputs.
    """
    env = os.environ if environ is None else environ
    world_text, rank_text = env.get("WORLD_SIZE"), env.get("RANK")
    if world_text is None and rank_text is None:
        return None
    world = _env_int("WORLD_SIZE", world_text, 1)
    rank = _env_int("RANK", rank_text, 0)
    if world < 1:
        raise UsageError(
            f"WORLD_SIZE={world_text} in the environment: it must be at least 1",
            hint="unset WORLD_SIZE and RANK, or set them as torchrun does",
        )
    if world > 1 and rank_text is None:
        raise UsageError(
            f"WORLD_SIZE={world_text} but RANK is not set: every process would take the same share",
            hint="set RANK (0 to WORLD_SIZE-1) for each process, or use --shard I/N",
        )
    if not 0 <= rank < world:
        raise UsageError(
            f"RANK={rank_text} is outside 0-{world - 1} (WORLD_SIZE={world_text or 'unset'})",
            hint="set RANK from 0 to WORLD_SIZE-1, or use --shard I/N",
        )
    return (rank + 1, world) if world > 1 else None


def _env_int(name: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(
            f"{name}={text!r} in the environment is not a whole number",
            hint="unset it, or use --shard I/N to split the files",
        ) from None


def take_shard(jobs: Sequence[Job], shard: tuple[int, int] | None) -> list[Job]:
    """Every n-th job of the sorted list, starting at the i-th: disjoint, covering, stable."""
    if shard is None:
        return list(jobs)
    i, n = shard
    return list(jobs[i - 1 :: n])


# --------------------------------------------------------------------------------------------
# Ratio
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioRule:
    """A fixed ratio; a target exposure level divided by each file's ISO x seconds; or a target
    brightness each file is brought to (``target_level``, within ``limits``)."""

    fixed: float | None = None
    target_exposure: float | None = None
    source: str = "--ratio"  #: what set it, for messages
    target_level: float | None = None  #: :func:`rawdenoise.exposure.level_ratio`
    limits: tuple[float, float] | None = None  #: the model's ratio range (target_level)

    @property
    def needs_pixels(self) -> bool:
        """Whether :meth:`ratio_for` needs the decoded frame (``packed``)."""
        return self.target_level is not None

    def ratio_for(
        self, path: Path, meta: OutputMetadata, packed: np.ndarray | None = None
    ) -> float:
        if self.target_level is not None:
            from rawdenoise.exposure import level_ratio

            if packed is None:
                raise ValueError("a ratio by level needs the frame's pixels")
            return level_ratio(packed, self.target_level, self.limits)
        if self.target_exposure is None:
            return float(self.fixed if self.fixed is not None else 1.0)
        missing = [
            n for n, v in (("ISO", meta.iso), ("exposure time", meta.exposure_time)) if not v
        ]
        if missing:
            raise MissingExifError(
                f"{path.name}: EXIF has no {' or '.join(missing)}, needed for {self.source}",
                hint="give the gain with --ratio N",
            )
        assert meta.iso is not None and meta.exposure_time is not None
        return self.target_exposure / (float(meta.iso) * float(meta.exposure_time))

    def describe(self) -> str:
        if self.target_level is not None:
            return f"auto: each photo's brightest areas to {self.target_level:g} of white"
        if self.target_exposure is None:
            return f"ratio {self.fixed:g}"
        return f"target exposure {self.target_exposure:g} ({self.source})"


def ratio_rule(
    ratio: str | None,
    target_exposure: float | None,
    model_target: float | None,
    model_level: float | None = None,
    model_range: tuple[float, float] | None = None,
) -> RatioRule:
    """``--ratio N|auto`` and ``--target-exposure E`` -> a :class:`RatioRule` (default: 1).

    ``auto`` uses the model's target exposure (a camera's, recorded by ``finetune``) if it
    has one, else its ``auto_level`` (generic pretrained models): the ratio that brings each
    photo's brightest areas to that level, within the model's ratio range."""
    if target_exposure is not None:
        if ratio is not None:
            raise UsageError("give either --ratio or --target-exposure, not both")
        if not target_exposure > 0:
            raise UsageError(f"--target-exposure must be positive, got {target_exposure:g}")
        return RatioRule(target_exposure=float(target_exposure), source="--target-exposure")
    if ratio is None:
        return RatioRule(fixed=1.0)
    if ratio.strip().lower() == "auto":
        if model_target is not None:
            return RatioRule(
                target_exposure=float(model_target), source="the model's target exposure"
            )
        if model_level is not None:
            limits = (max(1.0, model_range[0]), model_range[1]) if model_range else None
            return RatioRule(
                target_level=float(model_level), limits=limits, source="the model's auto level"
            )
        raise UsageError(
            "--ratio auto needs a model that records its target exposure (or an auto level), "
            "and this one records neither",
            hint="give --ratio N or --target-exposure E (ISO x seconds of a good exposure)",
        )
    try:
        value = float(ratio)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UsageError(f"invalid --ratio {ratio!r}", hint="a positive number or 'auto'")
    return RatioRule(fixed=value)


def ratio_range_warning(
    ratio: float, ratio_range: tuple[float, float] | None, rule: RatioRule, name: str = ""
) -> str | None:
    """Why ``ratio`` is a poor choice for a model trained on ``ratio_range``, or ``None``.

    A per-file ratio (``--ratio auto``, ``--target-exposure``) is ISO x seconds against a
    target: it cannot tell a daylight frame (short exposure, plenty of light) from a dark one,
    so a normally exposed photo gets a huge ratio. The message says to use ``--ratio 1``.
    """
    if ratio_range is None:
        return None
    lo, hi = ratio_range
    if lo <= ratio * (1 + 1e-9) and ratio <= hi * (1 + 1e-9):
        return None
    where = f"{name}: " if name else ""
    text = f"{where}ratio {ratio:.4g} is outside the model's range {lo:g}-{hi:g}"
    if rule.target_exposure is None:
        return f"{text}; results may be poor"
    text += f" ({rule.source} / ISO x seconds)"
    if ratio > hi:
        text += (
            "; ISO x seconds cannot tell a daylight or normally exposed frame from a dark one: "
            "for a normally exposed photo use --ratio 1"
        )
    return text


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


@dataclass
class FileResult:
    """What happened to one input (``status``: done, skipped, failed, planned)."""

    source: Path
    output: Path | None
    status: str
    megapixels: float = 0.0
    seconds: float = 0.0
    ratio: float | None = None
    tiles: int = 0
    error: str | None = None
    hint: str | None = None
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.source),
            "output": str(self.output) if self.output else None,
            "status": self.status,
            "megapixels": round(self.megapixels, 3),
            "seconds": round(self.seconds, 3),
            "ratio": self.ratio,
            "tiles": self.tiles,
            "error": self.error,
        }


@dataclass(frozen=True)
class RunSettings:
    """How every file of a run is denoised and written."""

    multiple_of: int
    fmt: str = "png"
    bit_depth: int = 16
    quality: int = 95  #: JPEG quality (jpeg only)
    tile: int | None = None
    overlap: int | None = None
    device: Any = "cpu"
    precision: str = "fp32"
    overwrite: bool = False
    ensemble: int = 1  #: flipped/transposed copies averaged (rawdenoise.ensemble)
    #: the network's ArchitectureSpec: an unusable output then names the plugin providing it
    architecture: Any = None


def batch_exit_code(results: Sequence[FileResult]) -> int:
    """A batch's exit code: 0, or its failures' code (1 wins; 4 or 5 when every failure has
    that code: a broken plugin, a full disk; otherwise 3).

    A kept existing output counts as a failure with code 5 (a file in the way), unless
    ``--skip-existing`` gave it code 0.
    """
    codes = {r.exit_code for r in results if r.status != "done" and r.exit_code}
    if not codes:
        return 0
    if 1 in codes:
        return 1
    return codes.pop() if len(codes) == 1 and codes <= {4, 5} else 3


def network_input(frame: Any, ratio: float) -> np.ndarray:
    """The normalized, ratio-scaled packed frame with LED's upper clip at 1 (float32)."""
    return scale_input(frame.normalized(), ratio)


def scale_input(x: np.ndarray, ratio: float) -> np.ndarray:
    """``min(x * ratio, 1)`` in place on a normalized packed frame (LED: an upper clip only)."""
    import numpy as np

    x *= np.float32(ratio)
    np.minimum(x, np.float32(1.0), out=x)
    return x


def run_network(
    network: Any,
    x: np.ndarray,
    settings: RunSettings,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The network's output for :func:`network_input`'s array (tiled, clipped at 1 above and
    at :data:`~rawdenoise.inference.BELOW_BLACK` below: a near-black area keeps its mean)."""
    from rawdenoise.inference import BELOW_BLACK, denoise

    return denoise(
        network,
        x,
        multiple_of=settings.multiple_of,
        tile=settings.tile,
        overlap=settings.overlap,
        device=settings.device,
        precision=settings.precision,
        progress=progress,
        ensemble=settings.ensemble,
        architecture=settings.architecture,
        low=BELOW_BLACK,
    )


def denoise_mosaic(
    network: Any,
    frame: Any,
    ratio: float,
    settings: RunSettings,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The denoised uint16 mosaic of ``frame`` (same shape, CFA and levels)."""
    x = network_input(frame, ratio)
    y = run_network(network, x, settings, progress)
    del x
    return to_mosaic(frame, y)


def to_mosaic(frame: Any, y: np.ndarray) -> np.ndarray:
    """The network's output back in DN with the frame's levels, as a mosaic of its shape."""
    from rawdenoise.rawio import denormalize

    return frame.from_normalized_layout(denormalize(y, frame.black_level, frame.white_level))


@dataclass
class Prepared:
    """A file read and made ready for the network (:func:`read_job`)."""

    job: Job
    frame: Any  #: rawdenoise.rawio.RawFrame
    meta: Any  #: rawdenoise.render.OutputMetadata
    ratio: float
    x: np.ndarray | None  #: the network's input; dropped once the network has run
    started: float  #: perf_counter() when reading began
    tiles: int = 0


def read_job(job: Job, rule: RatioRule) -> Prepared:
    """Decode ``job.source``, read its metadata and ratio, make the network's input."""
    from rawdenoise.rawio import read_raw
    from rawdenoise.render import read_metadata

    start = time.perf_counter()
    frame = read_raw(job.source)
    meta = read_metadata(job.source, frame)
    x = frame.normalized()
    ratio = rule.ratio_for(job.source, meta, x)
    return Prepared(job, frame, meta, ratio, scale_input(x, ratio), start)


class WriteAbandoned(Exception):
    """A write given up because the run was interrupted (its temporary file is removed)."""


def write_job(
    prepared: Prepared,
    y: np.ndarray,
    settings: RunSettings,
    abandoned: Callable[[], bool] | None = None,
) -> FileResult:
    """Write the network's output ``y`` for ``prepared`` as the job's output (atomically).

    ``abandoned()`` true (a writer thread's run was interrupted meanwhile): stop before the
    rendering and before publishing, leaving nothing (:class:`WriteAbandoned`).
    """
    from rawdenoise.atomic import atomic_path
    from rawdenoise.render import (
        exif_blob,
        render_rgb,
        write_denoised_dng,
        write_jpeg,
        write_png,
        write_tiff,
    )

    job, frame, meta = prepared.job, prepared.frame, prepared.meta
    assert job.output is not None
    mosaic = to_mosaic(frame, y)
    del y

    def check() -> None:
        if abandoned is not None and abandoned():
            raise WriteAbandoned(f"{job.source.name}: interrupted, not written")

    with atomic_path(job.output, overwrite=settings.overwrite) as tmp:
        check()
        if settings.fmt == "dng":
            write_denoised_dng(tmp, frame, mosaic, meta=meta)
        else:
            rgb = render_rgb(job.source, mosaic, bit_depth=settings.bit_depth)
            del mosaic
            check()
            if settings.fmt == "png":
                write_png(tmp, rgb, exif=exif_blob(meta))
            elif settings.fmt == "jpeg":
                write_jpeg(tmp, rgb, exif=exif_blob(meta), quality=settings.quality)
            else:
                write_tiff(tmp, rgb, meta=meta)
        check()  # the last moment before the whole file is published
    h, w = frame.shape
    return FileResult(
        job.source,
        job.output,
        "done",
        megapixels=h * w / 1e6,
        seconds=time.perf_counter() - prepared.started,
        ratio=prepared.ratio,
        tiles=prepared.tiles,
    )


def process_file(
    job: Job,
    network: Any,
    rule: RatioRule,
    settings: RunSettings,
    progress: Callable[[int, int], None] | None = None,
) -> FileResult:
    """Denoise ``job.source`` into ``job.output`` (atomic), one step after the other.

    Raises on a bad file. :mod:`rawdenoise.batch` runs the same steps for many files,
    overlapping one file's reading and another's writing with the network.
    """
    prepared = read_job(job, rule)

    def on_tiles(done: int, total: int) -> None:
        prepared.tiles = total
        if progress is not None:
            progress(done, total)

    assert prepared.x is not None
    y = run_network(network, prepared.x, settings, on_tiles)
    prepared.x = None
    return write_job(prepared, y, settings)
