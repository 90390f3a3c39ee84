"""Rebuild the bundled samples from the GoPro HERO6 ISO 100 DNG (see the package docstring)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from rawdenoise.rawio import read_raw, write_dng
from rawdenoise.samples import BRIGHT, DARK

CROP = (512, 768)
BLACK, WHITE = 512, 16383
RATIO = 100
K, READ_SIGMA, ROW_SIGMA = 6.12032, 7.1163535, 0.7218788  # A7S2 ISO 6400 (method.md §9.3)


def build(source: Path, seed: int = 2023) -> None:
    frame = read_raw(source)
    h, w = frame.shape
    top = (h // 2 - CROP[0] // 2) & ~1
    left = (w // 2 - CROP[1] // 2) & ~1
    mosaic = frame.mosaic[top : top + CROP[0], left : left + CROP[1]].astype(np.float64)
    black = float(frame.black_level.mean())
    white = float(frame.white_level.mean())
    x = np.clip((mosaic - black) / (white - black), 0, 1)
    clean = BLACK + x * (WHITE - BLACK)
    common = {
        "cfa": frame.cfa,
        "black_level": BLACK,
        "white_level": WHITE,
        "make": "rawdenoise",
        "model": "Sample",
        "capture_time": "2026:01:01 22:00:00",
        "as_shot_neutral": tuple(1.0 / frame.camera_wb[:3]),
    }
    write_dng(
        BRIGHT, np.rint(clean).astype(np.uint16), iso=100, exposure_time=Fraction(10), **common
    )
    rng = np.random.default_rng(seed)
    signal_e = x * (WHITE - BLACK) / RATIO / K
    dark = rng.poisson(signal_e) * K
    dark += rng.normal(0, READ_SIGMA, size=dark.shape)
    dark += rng.normal(0, ROW_SIGMA, size=(dark.shape[0], 1))
    dark = np.clip(np.rint(BLACK + dark), 0, WHITE)
    write_dng(DARK, dark.astype(np.uint16), iso=6400, exposure_time=Fraction(1, 640), **common)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
    print(f"wrote {BRIGHT} and {DARK}")
