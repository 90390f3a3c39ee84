"""The public Python API: read a RAW file, load a model, denoise, write the result.

Everything here is also reachable as ``rawdenoise.<name>`` (imported on first use, so that
``import rawdenoise`` stays free of torch and numpy)::

    import rawdenoise

    result = rawdenoise.denoise_file("IMG_0001.ARW", model="default", ratio=100)
    rawdenoise.write_output(result, "IMG_0001.png")

The batch job of ``rawdenoise process`` is :func:`rawdenoise.process` with a
:class:`~rawdenoise.jobs.process_options.ProcessOptions`. Errors are the
:class:`~rawdenoise.errors.RawDenoiseError` subclasses the command line reports, with the same
messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import UsageError
from rawdenoise.formats import EXTENSIONS, FORMAT_ALIASES
from rawdenoise.jobs.process_options import DEFAULT_QUALITY

if TYPE_CHECKING:
    import numpy as np

    from rawdenoise.rawio import RawFrame
    from rawdenoise.render import OutputMetadata
    from rawdenoise.weights import LoadedModel


@dataclass
class Denoised:
    """A denoised RAW frame: ``mosaic`` is uint16 with the source's shape, CFA and levels."""

    mosaic: np.ndarray
    frame: RawFrame  #: the decoded source (CFA pattern, black/white levels, camera)
    metadata: OutputMetadata  #: ISO, exposure, lens, capture time: written into outputs
    ratio: float  #: the digital gain applied before the network


def read_raw(path: str | Path) -> RawFrame:
    """Decode a Bayer RAW file (or DNG): its visible mosaic, CFA and per-channel levels."""
    from rawdenoise import rawio

    return rawio.read_raw(path)


def load_model(
    ref: str | Path = "default",
    *,
    arch: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """A model by name (``rawdenoise models list``) or file (``.safetensors``, LED ``.pth``),
    on the CPU in eval mode. ``arch``/``options``: for files that do not say (see
    ``rawdenoise process --arch``)."""
    from rawdenoise import weights

    return weights.load_model(ref, arch=arch, options=options)


def _loaded(model: Any) -> LoadedModel:
    from rawdenoise.weights import LoadedModel

    return model if isinstance(model, LoadedModel) else load_model(model)


def _settings(
    loaded: LoadedModel,
    *,
    tile: int | None,
    overlap: int | None,
    device: str,
    precision: str,
    ensemble: int,
    level_lock: bool = True,
    fmt: str = "png",
    bit_depth: int = 16,
    quality: int = DEFAULT_QUALITY,
    overwrite: bool = False,
) -> Any:
    from rawdenoise import devices, tiling
    from rawdenoise.ensemble import check_ensemble
    from rawdenoise.pipeline import RunSettings

    check_ensemble(ensemble)
    tiling.check_tiling(tile, overlap, loaded.spec.multiple_of)
    dev = devices.choose_device(device)
    devices.resolve_precision(precision, dev)
    if precision.strip().lower() == "auto":
        precision = devices.auto_precision(dev)
    return RunSettings(
        multiple_of=loaded.spec.multiple_of, fmt=fmt, bit_depth=bit_depth, quality=quality,
        tile=tile, overlap=overlap, device=dev, precision=precision, overwrite=overwrite,
        ensemble=ensemble, level_lock=level_lock, architecture=loaded.spec,
    )  # fmt: skip


def denoise_array(
    packed: np.ndarray,
    model: Any = "default",
    *,
    ratio: float = 1.0,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    ensemble: int = 1,
    level_lock: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Denoise a packed Bayer array: float32 (4, H/2, W/2), channels R, G1, B, G2, normalized
    to [0, 1] with the black and white levels. It is multiplied by ``ratio`` and clipped at 1
    (as LED does); the result has the same shape, clipped at 1 (values below black are kept,
    as ``process`` keeps them: a near-black area keeps its mean).

    ``model``: a name, a file or a :func:`load_model` result (load once for many arrays).
    ``progress(done, total)`` follows the tiles.
    """
    import numpy as np

    from rawdenoise.pipeline import fixed_ratio, run_network, scale_input

    x = np.array(packed, dtype=np.float32)  # a copy: scale_input works in place
    if x.ndim != 3 or x.shape[0] != 4:
        raise UsageError(f"expected a packed array of shape (4, H, W), got {tuple(x.shape)}")
    x = scale_input(x, fixed_ratio(ratio))
    loaded = _loaded(model)
    settings = _settings(loaded, tile=tile, overlap=overlap, device=device, precision=precision,
                         ensemble=ensemble, level_lock=level_lock)  # fmt: skip
    return run_network(loaded.network_for(ratio), x, settings, progress)


def denoise_file(
    path: str | Path,
    model: Any = "default",
    *,
    ratio: float | str | None = None,
    target_exposure: float | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    ensemble: int = 1,
    level_lock: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Denoised:
    """Denoise one RAW file at full resolution, as ``rawdenoise process`` does.

    ``ratio``: the digital gain (default 1), or ``"auto"`` (as ``process --ratio auto``: the
    model's target exposure / (ISO x seconds), or the photo's own brightness against the
    model's auto level); ``target_exposure``: a ratio of that exposure / (ISO x seconds) from
    the file's EXIF. The other arguments are ``process``'s options of the same names. Returns the
    denoised mosaic with the decoded frame and the metadata; :func:`write_output` writes it.
    """
    from rawdenoise.pipeline import denoise_mosaic, ratio_rule
    from rawdenoise.render import read_metadata

    loaded = _loaded(model)
    info = loaded.info
    rule = ratio_rule(
        None if ratio is None else str(ratio),
        target_exposure,
        info.target_exposure,
        info.auto_level,
        info.ratio_range,
    )
    settings = _settings(loaded, tile=tile, overlap=overlap, device=device, precision=precision,
                         ensemble=ensemble, level_lock=level_lock)  # fmt: skip
    frame = read_raw(path)
    meta = read_metadata(frame.path, frame)
    gain = rule.ratio_for(frame.path, meta, frame.normalized() if rule.needs_pixels else None)
    mosaic = denoise_mosaic(loaded.network_for(gain), frame, gain, settings, progress)
    return Denoised(mosaic, frame, meta, gain)


def write_output(
    result: Denoised,
    path: str | Path,
    *,
    fmt: str | None = None,
    bit_depth: int | None = None,
    quality: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a :func:`denoise_file` result to ``path``, atomically: a rendered ``png``,
    ``tiff`` or ``jpeg`` with the source's EXIF, or a ``dng`` of the denoised mosaic.

    ``fmt`` defaults to the file's extension; ``bit_depth`` and ``quality`` are checked as
    ``process --bit-depth/--quality`` are. An existing file is an
    :class:`~rawdenoise.errors.OutputExistsError` unless ``overwrite``.
    """
    from rawdenoise.jobs.process_options import ProcessOptions
    from rawdenoise.pipeline import RunSettings, write_mosaic

    path = Path(path)
    if fmt is None:
        ext = path.suffix.lower().lstrip(".")
        fmt = FORMAT_ALIASES.get(ext, ext)
        if fmt not in EXTENSIONS:
            raise UsageError(
                f"cannot tell the format from {path.name!r}", hint="give fmt='png', 'tiff', ..."
            )
    checked = ProcessOptions(fmt=fmt, bit_depth=bit_depth, quality=quality).validated()
    assert checked.bit_depth is not None and checked.quality is not None
    settings = RunSettings(
        multiple_of=1, fmt=checked.fmt, bit_depth=checked.bit_depth, quality=checked.quality,
        overwrite=overwrite,
    )  # fmt: skip
    write_mosaic(path, result.frame, result.mosaic, result.metadata, settings)
    return path


__all__ = ["Denoised", "denoise_array", "denoise_file", "load_model", "read_raw", "write_output"]
