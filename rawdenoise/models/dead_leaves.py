"""Procedural clean training frames: dead-leaves images with independent colours, as DNGs.

    python -m rawdenoise.models.dead_leaves OUT [--count 72] [--size 1024] [--seed 2026]
        [--data ../shared/data]

A dead-leaves image (Matheron's model, used for texture and denoising benchmarks by Cao,
Guichard et al.) stacks opaque discs front to back, radii drawn from p(r) ~ 1/r^3 (the same
statistics at every scale, as in natural images), until the frame is covered. Each disc gets
its own colour in linear camera RGB: a level drawn log-uniformly over [``LEVELS``] and red and
blue each up to ``CHROMA`` times above or below green, independently. So its colour edges are
as sharp as its brightness edges and red or blue may change where green does not, which the
photographs (JPEG: demosaiced, lens colour corrected, chroma smoothed) rarely show. (Against
the ratio-100 shift of ``faithful``'s card, red and blue drawn towards green, they measured
little: the card's last section.) Disc edges are anti-aliased (a pixel's coverage by a disc
is a one-pixel ramp across its edge); the image is sampled on an RGGB mosaic at full
resolution (each colour plane at its own Bayer position) and written with
:func:`write_unprocessed_dng` (one of the GoPro frames' colour matrix, for rendering), a frame
``pretrain`` reads like any RAW file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rawdenoise.models.photo_frames import COLOUR_FROM
from rawdenoise.training.unprocess import read_camera_colour, rggb_mosaic, write_unprocessed_dng

#: Range of the discs' green level (linear, of white), drawn log-uniformly.
LEVELS = (0.002, 0.9)
#: Red and blue are each up to this factor above or below green (log-uniform, independent).
CHROMA = 6.0
#: Disc radii in mosaic pixels: from the smallest a Bayer block resolves to a third of a frame.
R_MIN = 1.5
#: Stop adding discs once less than this share of the frame is left uncovered; those few
#: scattered pixels keep what the discs' edges gave them, scaled up to full coverage.
UNCOVERED = 1e-4
#: The smallest frame side worth writing (a few Bayer blocks of the largest discs).
MIN_SIZE = 16
#: Discs placed between two checks of the uncovered share (a check reads the whole frame).
CHECK_EVERY = 2000


def radius(rng: np.random.Generator, r_min: float, r_max: float) -> float:
    """A radius from p(r) ~ r^-3 on [r_min, r_max] (inverse of the distribution function)."""
    u = rng.random()
    a, b = r_min**-2, r_max**-2
    return float((a - u * (a - b)) ** -0.5)


def colour(rng: np.random.Generator) -> np.ndarray:
    """One disc's linear camera RGB (R, G, B), clipped to white."""
    lo, hi = np.log(LEVELS[0]), np.log(LEVELS[1])
    green = np.exp(rng.uniform(lo, hi))
    red, blue = green * np.exp(rng.uniform(-1.0, 1.0, size=2) * np.log(CHROMA))
    return np.minimum(np.array([red, green, blue]), 1.0)


def dead_leaves(size: int, rng: np.random.Generator, *, r_min: float = R_MIN) -> np.ndarray:
    """A (size, size, 3) dead-leaves image in linear camera RGB, [0, 1]."""
    r_max = size / 3
    image = np.zeros((size, size, 3))
    cover = np.zeros((size, size))  # how much of each pixel the discs so far cover
    placed = 0
    while placed % CHECK_EVERY or (cover < 0.999).mean() > UNCOVERED:
        placed += 1
        r = radius(rng, r_min, r_max)
        cy, cx = rng.uniform(-r, size + r, size=2)
        y0, y1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), size)
        x0, x1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), size)
        if y0 >= y1 or x0 >= x1:
            continue
        ys = np.arange(y0, y1)[:, None] + 0.5
        xs = np.arange(x0, x1)[None, :] + 0.5
        dist = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
        alpha = np.clip(r - dist + 0.5, 0.0, 1.0)  # the disc's coverage of each pixel
        window = cover[y0:y1, x0:x1]
        add = alpha * (1.0 - window)  # front to back: only what earlier discs left open
        if not add.any():
            continue
        image[y0:y1, x0:x1] += add[..., None] * colour(rng)
        window += add
    open_ = cover < 0.999
    if open_.any():  # the last specks: complete them with the colour they already have
        image[open_] /= np.maximum(cover[open_], 1e-3)[:, None]
    return np.clip(image, 0.0, 1.0)


def build(
    out: Path,
    data: Path,
    *,
    count: int,
    size: int,
    seed: int,
    report: Callable[[str], None] = lambda _line: None,
) -> list[Path]:
    """Write ``count`` dead-leaves DNGs of ``size`` x ``size`` px into ``out`` (existing files
    of the same name are kept: a second run completes an interrupted one); ``report`` gets a
    line per frame."""
    camera = read_camera_colour(data / COLOUR_FROM[0])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        target = out / f"dead_leaves_{seed}_{i:03d}.dng"
        if not target.exists():
            rng = np.random.default_rng([seed, i])  # each frame its own stream: stable
            rgb = dead_leaves(size - size % 2, rng)
            source = f"dead leaves {seed}/{i}"
            write_unprocessed_dng(target, rggb_mosaic(rgb), camera, source=source)
            report(f"[{i + 1}/{count}] wrote {target}")
        else:
            report(f"[{i + 1}/{count}] kept {target}")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=72)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args(argv)
    if args.count < 1 or args.size < MIN_SIZE:
        ap.error(f"--count must be at least 1 and --size at least {MIN_SIZE} px")
    colour_file = args.data / COLOUR_FROM[0]
    if not colour_file.is_file():
        ap.error(f"{colour_file} not found (--data: the folder of ../shared/data's RAW samples)")
    written = build(args.out, args.data, count=args.count, size=args.size, seed=args.seed,
                    report=print)  # fmt: skip
    print(f"{len(written)} frames in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
