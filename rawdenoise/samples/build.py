"""Rebuild the bundled samples from the GoPro HERO6 ISO 100 DNG (see the package docstring).

    python -m rawdenoise.samples.build SOURCE.dng [--out DIR] [--seed N] [--overwrite]

The two DNGs go to ``--out`` (default: the current folder), never into the installed package;
to replace the bundled ones in a checkout, pass ``--out rawdenoise/samples --overwrite``.
Errors are one ``rawdenoise: error: ...`` line with rawdenoise's exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from rawdenoise.samples import BRIGHT, DARK

CROP = (512, 768)
BLACK, WHITE = 512, 16383
RATIO = 100
K, READ_SIGMA, ROW_SIGMA = 6.12032, 7.1163535, 0.7218788  # A7S2 ISO 6400 (method.md §9.3)


def build(source: Path, out_dir: Path, seed: int = 2023, *, overwrite: bool = False) -> list[Path]:
    """Write ``bright_iso100.dng`` and ``dark_iso6400.dng`` into ``out_dir``; their paths."""
    from rawdenoise.atomic import atomic_paths
    from rawdenoise.dng import write_dng
    from rawdenoise.rawio import read_raw

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
    rng = np.random.default_rng(seed)
    signal_e = x * (WHITE - BLACK) / RATIO / K
    dark = rng.poisson(signal_e) * K
    dark += rng.normal(0, READ_SIGMA, size=dark.shape)
    dark += rng.normal(0, ROW_SIGMA, size=(dark.shape[0], 1))
    dark = np.clip(np.rint(BLACK + dark), 0, WHITE)
    targets = [Path(out_dir) / BRIGHT.name, Path(out_dir) / DARK.name]
    with atomic_paths(targets, overwrite=overwrite) as (bright_tmp, dark_tmp):
        bright = np.rint(clean).astype(np.uint16)
        write_dng(bright_tmp, bright, iso=100, exposure_time=Fraction(10), **common)
        write_dng(
            dark_tmp, dark.astype(np.uint16), iso=6400, exposure_time=Fraction(1, 640), **common
        )
    return targets


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rawdenoise.samples.build",
        description="Rebuild rawdenoise's two sample DNGs from the GoPro HERO6 ISO 100 frame "
        "(gopro_hero6_iso100_GOPR0024.dng of github.com/gopro/gpr, converted to DNG).",
    )
    parser.add_argument("source", type=Path, metavar="SOURCE", help="the GoPro HERO6 ISO 100 DNG")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder to write to (default: this one)",
    )
    parser.add_argument(
        "--seed", type=int, default=2023, metavar="N", help="noise seed (default 2023)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing samples")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rawdenoise.errors import RawDenoiseError

    args = _parser().parse_args(argv)
    try:
        written = build(args.source, args.out, args.seed, overwrite=args.overwrite)
    except RawDenoiseError as exc:
        sys.stderr.write(f"rawdenoise: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        return int(exc.exit_code)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
