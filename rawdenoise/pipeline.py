"""One file of the ``process`` job: the ratio rule, then decode -> normalize -> network ->
write.

One file goes: decode -> per-channel black/white normalization -> x ratio -> LED's upper clip
at 1 -> tiled network (:func:`rawdenoise.inference.denoise`, output clipped at 1, values below
black kept) -> back to DN with the same levels -> unpacked (odd sizes included) ->
rendered/written atomically. Normalization and gain are per image, never per tile. Finding the
inputs and naming the outputs is :mod:`rawdenoise.inputs`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import MissingExifError, UsageError
from rawdenoise.inputs import Job

if TYPE_CHECKING:
    import numpy as np

    from rawdenoise.render import OutputMetadata

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
    return RatioRule(fixed=fixed_ratio(ratio))


def fixed_ratio(ratio: object) -> float:
    """A fixed ratio as a float: positive and finite, or ``--ratio``'s usage error."""
    try:
        value = float(ratio)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise UsageError(f"invalid --ratio {ratio!r}", hint="a positive number or 'auto'")
    return value


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
    #: move the output back to the input's local level (rawdenoise.level_lock)
    level_lock: bool = True
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
    at :data:`~rawdenoise.inference.BELOW_BLACK` below: a near-black area keeps its mean), at
    the input's local level unless ``settings.level_lock`` is off (:mod:`rawdenoise.level_lock`)."""
    from rawdenoise.inference import BELOW_BLACK, denoise

    out = denoise(
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
    if settings.level_lock:
        from rawdenoise.level_lock import lock_level

        lock_level(x, out, low=BELOW_BLACK)
    return out


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
    from rawdenoise.bayer import denormalize

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
    job, frame, meta = prepared.job, prepared.frame, prepared.meta
    assert job.output is not None

    def check() -> None:
        if abandoned is not None and abandoned():
            raise WriteAbandoned(f"{job.source.name}: interrupted, not written")

    # the mosaic gets no name here: write_mosaic drops it once the RGB image is rendered
    write_mosaic(job.output, frame, to_mosaic(frame, y), meta, settings, check)
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


def write_mosaic(
    path: Path,
    frame: Any,
    mosaic: np.ndarray,
    meta: OutputMetadata,
    settings: RunSettings,
    check: Callable[[], None] | None = None,
) -> None:
    """Write the denoised ``mosaic`` of ``frame`` to ``path`` (atomically) as
    ``settings.fmt``: a rendered PNG/TIFF/JPEG with the source's EXIF, or a CFA DNG.

    ``check()`` is called between the slow steps and may raise to give the write up (nothing
    is published then).
    """
    from rawdenoise.atomic import atomic_path
    from rawdenoise.denoised_dng import write_denoised_dng
    from rawdenoise.exif_write import exif_blob
    from rawdenoise.render import render_rgb, write_jpeg, write_png, write_tiff

    check = check or (lambda: None)
    with atomic_path(path, overwrite=settings.overwrite) as tmp:
        check()
        if settings.fmt == "dng":
            write_denoised_dng(tmp, frame, mosaic, meta=meta)
        else:
            rgb = render_rgb(frame.path, mosaic, bit_depth=settings.bit_depth)
            del mosaic
            check()
            if settings.fmt == "png":
                write_png(tmp, rgb, exif=exif_blob(meta))
            elif settings.fmt == "jpeg":
                write_jpeg(tmp, rgb, exif=exif_blob(meta), quality=settings.quality)
            else:
                write_tiff(tmp, rgb, meta=meta)
        check()  # the last moment before the whole file is published


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
    from rawdenoise.ratio_blend import network_at

    y = run_network(network_at(network, prepared.ratio), prepared.x, settings, on_tiles)
    prepared.x = None
    return write_job(prepared, y, settings)
