"""Clean training frames for the default model from photographs in registry packages.

    python -m rawdenoise.models.photo_frames PHOTOS OUT --data ../shared/data

``PHOTOS`` is a folder of 8-bit sRGB photographs with a ``MANIFEST.tsv`` (one line per image:
file, package, version, path in the package, licence, size, what it shows), gathered from
Debian and PyPI packages (the model card lists them). Each photograph is halved in size (a 2x2
box average: JPEG blocking and the photograph's own noise shrink) and *unprocessed* into an
RGGB mosaic (:mod:`rawdenoise.training.unprocess`: inverse sRGB curve, one of the GoPro frames'
colour matrix and white balance, drawn per photograph), then written to ``OUT`` as a DNG that
``pretrain`` reads like any RAW frame. ``pretrain --augment-colour`` randomizes exposure and
white balance per crop on top.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: Cameras whose colour the photographs take (files of ../shared/data, training frames only).
COLOUR_FROM = (
    "gopro_hero6_iso100_GOPR0024.dng",
    "gopro_fusion_front_iso100_GPFR7066.dng",
    "gopro_fusion_back_iso100_GPBK7066.dng",
)
#: Smallest side (after halving) worth a frame: two 128 px training crops of the packed mosaic.
MIN_SIDE = 512


def read_manifest(photos: Path) -> list[list[str]]:
    """The MANIFEST.tsv lines (file, package, version, path, licence, size, note)."""
    rows = []
    for line in (photos / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and not line.startswith("#") and fields[0] != "file":
            rows.append(fields)
    return rows


def halve(rgb8: np.ndarray) -> np.ndarray:
    """A 2x2 box average of an 8-bit image (in the sRGB values; rounding back to uint8)."""
    img = rgb8[..., :3] if rgb8.ndim == 3 else np.repeat(rgb8[..., None], 3, axis=2)
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    small = img[:h, :w].astype(np.float32).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def build(photos: Path, out: Path, data: Path, *, seed: int = 2026) -> list[Path]:
    """Write one unprocessed DNG per usable photograph of ``photos`` into ``out``."""
    import imageio.v3 as iio

    from rawdenoise.training.unprocess import read_camera_colour, unprocess, write_unprocessed_dng

    colours = [read_camera_colour(data / name) for name in COLOUR_FROM]
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fields in read_manifest(photos):
        name = fields[0]
        colour = colours[int(rng.integers(len(colours)))]  # drawn for every line: stable
        target = out / f"photo_{Path(name).stem}.dng"
        if target.exists():
            written.append(target)
            continue
        rgb = iio.imread(photos / name)
        if rgb.dtype != np.uint8:
            continue
        small = halve(rgb)
        if min(small.shape[:2]) < MIN_SIDE // 2:
            continue
        mosaic = unprocess(small, colour)
        source = f"{fields[1]} {fields[2]}: {fields[3]} ({fields[4]})"
        write_unprocessed_dng(target, mosaic, colour, source=source)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("photos", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args(argv)
    written = build(args.photos, args.out, args.data)
    print(f"{len(written)} frames in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
