"""Speed of `pretrain`'s crop sampling (run by hand, not by pytest).

    python tests/benchmarks/pretrain_crops.py [--data ../shared/data] [--batch 8 32] [--crop 128]

``CleanCrops.batch`` runs on the CPU every training iteration, before the noise and the network
(on the GPU when there is one): on a GPU it is a large share of an iteration of the small
default UNet, on a CPU a small one. For each augmentation, the milliseconds per batch and the
ratio to the floor of the same work: copying the same windows out of the frames with no flips
(``np.copyto`` into one array), measured in the same run on the same frames. Frames: the clean
GoPro frames of ``--data`` (decoded and memory-mapped as ``pretrain`` does), else generated ones
(the report says which).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
FRAMES = (
    "gopro_hero6_iso100_GOPR0024.dng",
    "gopro_fusion_front_iso100_GPFR7066.dng",
    "gopro_fusion_back_iso100_GPBK7066.dng",
)


def load_frames(data: Path, cache: Path) -> tuple[list, str]:
    from rawdenoise.training.frames import PackedFrame, load_clean_frames

    paths = [data / f for f in FRAMES if (data / f).exists()]
    if paths:
        return load_clean_frames(paths, cache=cache), f"{len(paths)} GoPro frames of {data}"
    rng = np.random.default_rng(0)
    frames = [
        PackedFrame(Path(f"gen{i}"), rng.random((4, 1500, 2000), dtype=np.float32),
                    (0.0,) * 4, (1.0,) * 4, "generated")
        for i in range(3)
    ]  # fmt: skip
    return frames, "3 generated 1500x2000 packed frames (no --data frames found)"


def per_batch_ms(fn, repeats: int) -> float:
    fn(0)  # warm the page cache and the allocator
    start = time.perf_counter()
    for i in range(repeats):
        fn(i + 1)
    return (time.perf_counter() - start) / repeats * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from rawdenoise.training.datasets import CleanCrops, draw_crops

    with tempfile.TemporaryDirectory() as tmp:
        frames, source = load_frames(args.data, Path(tmp))
        print(
            f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
            f"python {platform.python_version()}, torch {torch.__version__}"
        )
        print(f"frames: {source}; crop {args.crop} packed px; {args.repeats} batches each\n")
        print(f"{'batch':>5}  {'augment':<8} {'ms/batch':>9} {'floor ms':>9} {'ratio':>6}")
        sizes = [f.size for f in frames]
        for batch in args.batch:

            def floor(i: int, batch: int = batch) -> None:
                g = torch.Generator().manual_seed(i)
                out = np.empty((batch, 4, args.crop, args.crop), dtype=np.float32)
                for k, d in enumerate(draw_crops(sizes, batch, args.crop, g, augment=False)):
                    src = frames[d.index].data
                    np.copyto(out[k], src[:, d.top : d.top + args.crop,
                                          d.left : d.left + args.crop])  # fmt: skip

            base = per_batch_ms(floor, args.repeats)
            for augment in ("packed", "bayer", "none"):
                crops = CleanCrops(frames, args.crop, (100, 300), augment=augment)
                ms = per_batch_ms(
                    lambda i, c=crops, b=batch: c.batch(b, torch.Generator().manual_seed(i)),
                    args.repeats,
                )
                print(f"{batch:>5}  {augment:<8} {ms:>9.2f} {base:>9.2f} {ms / base:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
