"""DNG writing (tifffile): a CFA DNG that LibRaw and raw editors open."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rawdenoise.bayer import pattern_from_cfa
from rawdenoise.errors import InputError

#: CFA colour codes in the DNG/TIFF-EP CFAPattern tag.
_CFA_CODES = {"R": 0, "G": 1, "B": 2}


def _rational(value: float | Fraction, denominator: int = 1_000_000) -> tuple[int, int]:
    frac = Fraction(value if isinstance(value, Fraction) else float(value)).limit_denominator(
        denominator
    )
    return frac.numerator, frac.denominator


def _srational_list(values: Iterable[float], scale: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend((round(float(v) * scale), scale))
    return tuple(out)


def write_dng(
    path: str | Path,
    mosaic: np.ndarray,
    *,
    cfa: str = "RGGB",
    black_level: Sequence[float] | float = 0,
    white_level: float = 65535,
    make: str = "rawdenoise",
    model: str = "synthetic",
    iso: float | None = None,
    exposure_time: float | Fraction | None = None,
    capture_time: str | None = None,
    color_matrix: np.ndarray | None = None,
    as_shot_neutral: Sequence[float] | None = None,
    orientation: int = 1,
    software: str = "rawdenoise",
    extra_tags: Sequence[tuple[int, str, int, Any]] = (),
) -> Path:
    """Write a single-IFD uncompressed CFA DNG (DNG 1.4) of a uint16 mosaic.

    ``black_level`` is one value or four in the 2x2 CFA repeat order (row-major). ``iso``,
    ``exposure_time`` and ``capture_time`` (``"YYYY:MM:DD HH:MM:SS"``) go into IFD0 as TIFF/EP
    tags, which exifread reads as ``Image ISOSpeedRatings`` etc. ``extra_tags`` are tifffile
    ``(code, dtype, count, value)`` tuples; one with the code of a tag written here replaces it
    (e.g. a source's CalibrationIlluminant1 or UniqueCameraModel). The caller handles atomicity.
    """
    import tifffile

    mosaic = np.ascontiguousarray(mosaic, dtype=np.uint16)
    cfa = cfa.upper()
    pattern_from_cfa(cfa)  # validates
    cfa_codes = tuple(_CFA_CODES[c] for c in cfa)
    blacks = [float(black_level)] if np.isscalar(black_level) else [float(b) for b in black_level]
    if len(blacks) not in (1, 4):
        raise InputError("black_level needs 1 or 4 values")
    if color_matrix is None:
        color_matrix = np.eye(3)
    neutral = as_shot_neutral if as_shot_neutral is not None else (1.0, 1.0, 1.0)
    tags: list[tuple[int, str, int, Any, bool]] = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (271, "s", 0, make or "unknown", True),  # Make
        (272, "s", 0, model or "unknown", True),  # Model
        (274, "H", 1, int(orientation), True),  # Orientation
        (50708, "s", 0, f"{make} {model}".strip() or "unknown", True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, cfa_codes, True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50713, "H", 2, (2, 2) if len(blacks) == 4 else (1, 1), True),  # BlackLevelRepeatDim
        (50714, "2I", len(blacks), _rational_list(blacks), True),  # BlackLevel
        (50717, "I", 1, int(round(white_level)), True),  # WhiteLevel
        (50721, "2i", 9, _srational_list(np.asarray(color_matrix).reshape(-1)), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, _rational_list(neutral), True),  # AsShotNeutral
    ]
    if iso is not None:
        value = int(round(iso))
        tags.append((34855, "H", 1, min(value, 65535), True))  # ISOSpeedRatings (a SHORT)
        if value > 65535:  # EXIF 2.3: the real value in RecommendedExposureIndex
            tags.append((34864, "H", 1, 2, True))  # SensitivityType: REI
            tags.append((34866, "I", 1, value, True))  # RecommendedExposureIndex
    if exposure_time is not None:
        tags.append((33434, "2I", 1, _rational(exposure_time), True))  # ExposureTime
    if capture_time:
        tags.append((36867, "s", 0, capture_time, True))  # DateTimeOriginal
    overrides = {code: (code, dt, n, v, True) for code, dt, n, v in extra_tags}
    tags = [overrides.pop(t[0], t) for t in tags] + list(overrides.values())
    tifffile.imwrite(
        str(path),
        mosaic,
        photometric=32803,  # CFA
        compression=None,
        metadata=None,
        subfiletype=0,
        software=software,
        extratags=tags,
    )
    return Path(path)


def _rational_list(values: Iterable[float]) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend(_rational(v, 10000))
    return tuple(out)
