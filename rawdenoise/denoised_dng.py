"""The denoised CFA DNG of ``process --format dng``: the mosaic, CFA, levels, colour matrix,
as-shot neutral, orientation and EXIF (:func:`rawdenoise.dng.write_dng`); for DNG sources the
colour calibration (matrices, illuminants, forward matrices, baseline exposure, crops, opcode
lists, profiles) is copied from the source IFD. ``NoiseProfile`` is dropped: it no longer
describes the data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rawdenoise.exif_write import _rat

if TYPE_CHECKING:
    from rawdenoise.rawio import RawFrame
    from rawdenoise.render import OutputMetadata

#: DNG tags copied from a DNG source (colour calibration, crops, profiles, opcode lists).
DNG_COPIED_TAGS = (
    50709,  # LocalizedCameraModel
    50718,  # DefaultScale
    50719,  # DefaultCropOrigin
    50720,  # DefaultCropSize
    50722,  # ColorMatrix2
    50723,  # CameraCalibration1
    50724,  # CameraCalibration2
    50725,  # ReductionMatrix1
    50726,  # ReductionMatrix2
    50727,  # AnalogBalance
    50730,  # BaselineExposure
    50731,  # BaselineNoise
    50732,  # BaselineSharpness
    50733,  # BayerGreenSplit
    50734,  # LinearResponseLimit
    50735,  # CameraSerialNumber
    50736,  # LensInfo
    50738,  # AntiAliasStrength
    50739,  # ShadowScale
    50779,  # CalibrationIlluminant2
    50780,  # BestQualityScale
    50827,  # OriginalRawFileName
    50879,  # ColorimetricReference
    50931,  # CameraCalibrationSignature
    50932,  # ProfileCalibrationSignature
    50936,  # ProfileName
    50937,  # ProfileHueSatMapDims
    50938,  # ProfileHueSatMapData1
    50939,  # ProfileHueSatMapData2
    50940,  # ProfileToneCurve
    50941,  # ProfileEmbedPolicy
    50942,  # ProfileCopyright
    50964,  # ForwardMatrix1
    50965,  # ForwardMatrix2
    50981,  # ProfileLookTableDims
    50982,  # ProfileLookTableData
    51008,  # OpcodeList1
    51009,  # OpcodeList2
    51022,  # OpcodeList3
    51107,  # ProfileHueSatMapEncoding
    51108,  # ProfileLookTableEncoding
    51109,  # BaselineExposureOffset
    51110,  # DefaultBlackRender
    51125,  # DefaultUserCrop
)
_COLOR_MATRIX1, _ILLUMINANT1, _AS_SHOT_NEUTRAL, _UNIQUE_MODEL = 50721, 50778, 50728, 50708


def _source_dng_tags(source: Path) -> dict[int, Any] | None:
    """The tags of a DNG source's raw IFD (tifffile ``TiffTag`` objects by code), else None."""
    import tifffile

    if source.suffix.lower() != ".dng":
        return None
    try:
        with tifffile.TiffFile(str(source)) as tif:
            ifd0 = {t.code: t for t in tif.pages[0].tags.values()}
            raw_ifd = ifd0
            candidates = []
            for page in tif.pages:
                candidates.append(page)
                candidates.extend(getattr(page, "pages", None) or [])  # SubIFDs
            for page in candidates:
                if getattr(page, "photometric", None) == 32803:  # the CFA image
                    raw_ifd = {t.code: t for t in page.tags.values()}
                    break
            # colour tags live in IFD0; the raw IFD's own tags override where both have them
            tags = {**ifd0, **raw_ifd}
            return {code: (t.dtype, t.count, t.value) for code, t in tags.items()}
    except Exception:  # not a TIFF-structured DNG after all: fall back to LibRaw's values
        return None


def _extra_tag(code: int, dtype: Any, count: int, value: Any) -> tuple[int, int, int, Any]:
    if isinstance(value, str):
        return (code, 2, 0, value)
    if hasattr(value, "value") and not isinstance(value, (bytes, tuple)):  # enums
        value = int(value)
    return (code, int(dtype), int(count), value)


def dng_levels(frame: RawFrame) -> tuple[list[float], float]:
    """(black level per CFA position, row-major 2x2; white level) for the DNG."""
    pattern = np.asarray(frame.pattern)
    blacks = [float(frame.black_level[int(pattern[r, c])]) for r in range(2) for c in range(2)]
    return blacks, float(np.max(frame.white_level))


def write_denoised_dng(
    path: Path,
    frame: RawFrame,
    mosaic: np.ndarray,
    *,
    meta: OutputMetadata,
) -> None:
    """A CFA DNG of ``mosaic`` that keeps the source's layout, levels, colour and EXIF."""

    from rawdenoise.bayer import cfa_from_pattern
    from rawdenoise.dng import write_dng

    source = _source_dng_tags(frame.path)
    blacks, white = dng_levels(frame)
    wb = np.asarray(frame.camera_wb, dtype=np.float64)
    neutral: Sequence[float] = (1.0 / wb[0], 1.0, 1.0 / wb[2]) if (wb > 0).all() else (1, 1, 1)
    color_matrix = frame.color_matrix
    orientation = meta.orientation
    illuminant1: int | None = None
    unique_model: str | None = None
    extra: list[tuple[int, Any, int, Any]] = []
    if meta.f_number is not None:
        extra.append((33437, "2I", 1, _rat(meta.f_number)))
    if meta.focal_length is not None:
        extra.append((37386, "2I", 1, _rat(meta.focal_length)))
    if source is not None:
        if _COLOR_MATRIX1 in source:
            _, count, value = source[_COLOR_MATRIX1]
            nums = np.asarray(value, dtype=np.float64).reshape(-1, 2)
            if count == 9:
                color_matrix = (nums[:, 0] / nums[:, 1]).reshape(3, 3)
        if _ILLUMINANT1 in source:
            illuminant1 = int(source[_ILLUMINANT1][2])
        if _AS_SHOT_NEUTRAL in source:
            nums = np.asarray(source[_AS_SHOT_NEUTRAL][2], dtype=np.float64).reshape(-1, 2)
            neutral = tuple(nums[:, 0] / nums[:, 1])
        if _UNIQUE_MODEL in source:
            unique_model = str(source[_UNIQUE_MODEL][2])
        if 274 in source:
            orientation = int(source[274][2])
        for code in DNG_COPIED_TAGS:
            if code in source:
                extra.append(_extra_tag(code, *source[code]))
    # keep the source's illuminant and camera name so its ColorMatrix1 and raw editors'
    # camera profiles still apply (write_dng's defaults are D65 and "make model")
    if illuminant1 is not None:
        extra.append((_ILLUMINANT1, "H", 1, illuminant1))
    if unique_model:
        extra.append((_UNIQUE_MODEL, "s", 0, unique_model))
    write_dng(
        path,
        mosaic,
        cfa=cfa_from_pattern(frame.pattern),
        black_level=blacks,
        white_level=white,
        make=meta.make or frame.make or "unknown",
        model=meta.model or frame.model or "unknown",
        iso=meta.iso,
        exposure_time=meta.exposure_time,
        capture_time=meta.capture_text,
        color_matrix=color_matrix,
        as_shot_neutral=neutral,
        orientation=orientation,
        software=meta.software,
        extra_tags=extra,
    )
