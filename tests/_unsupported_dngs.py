"""Tiny DNGs of sensors rawdenoise refuses (linear RGB, Fuji X-Trans), written with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the 6x6 X-Trans CFA of a Fujifilm X-T3 (0 red, 1 green, 2 blue)
XTRANS = (1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
          1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1)  # fmt: skip
#: ISO 100 and 1/100 s, so that a command reading EXIF gets as far as the sensor check
EXPOSURE_TAGS = [(34855, "H", 1, 100, True), (33434, "2I", 1, (1, 100), True)]


def _dng_tags(make: str, model: str, unique: str) -> list[tuple]:
    """DNGVersion, Make, Model and UniqueCameraModel."""
    return [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (50708, "s", 0, unique, True),
    ]


def write_linear_dng(path: Path) -> Path:
    """A demosaiced (LinearRaw) DNG."""
    import tifffile

    tifffile.imwrite(
        path,
        np.zeros((64, 64, 3), np.uint16),
        photometric=34892,
        extratags=[*_dng_tags("Test", "Linear", "Test Linear"), *EXPOSURE_TAGS],
    )
    return path


def write_xtrans_dng(path: Path) -> Path:
    """A CFA DNG with a 6x6 X-Trans pattern."""
    import tifffile

    tifffile.imwrite(
        path,
        np.full((36, 36), 100, np.uint16),
        photometric=32803,
        extratags=[
            *_dng_tags("FUJIFILM", "X-T3", "Fujifilm X-T3"),
            (33421, "H", 2, (6, 6), True),
            (33422, "B", 36, XTRANS, True),
            (50717, "H", 1, 4095, True),
            *EXPOSURE_TAGS,
        ],
    )
    return path
