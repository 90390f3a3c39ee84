"""Training in bf16 (``pretrain/finetune --precision bf16``) against fp32 (run by hand).

    .venv/bin/python tests/benchmarks/train_precision.py [--iterations 300] [--batch 8]
        [--crop 128] [--data ../shared/data] [--threads N]

The same ``pretrain`` run twice, once per precision: from the bundled ``default`` (``--init
default``, so the 24-channel UNet of the shipped model with its 5 virtual cameras) on the
training frames quality.py uses, log-L1, seed 0, constant learning rate 5e-5. Prints
iterations per second of each and their ratio (same machine, same run), then each result's
PSNR/SSIM on quality.py's held-out draw (seed 7, 4 crops, x100 and x250) beside the starting
model's, so that a speed-up that costs quality shows. A GPU is used where torch finds one.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from quality import HELD_OUT, TRAIN_FRAMES, crops_of, noisy_version, run_model  # noqa: E402

from rawdenoise.devices import cpu_has_native_bf16  # noqa: E402
from rawdenoise.training.metrics import raw_metrics  # noqa: E402
from rawdenoise.training.pretrain import PretrainConfig, pretrain  # noqa: E402
from rawdenoise.weights import load_model  # noqa: E402


def scores(model: str, data: Path) -> dict[str, tuple[float, float]]:
    loaded = load_model(model)
    crops = [c for name in HELD_OUT for c in crops_of(data / name, 4, 256, 7)]
    out = {}
    for ratio in (100.0, 250.0):
        values = []
        for i, clean in enumerate(crops):
            noisy, *_ = noisy_version(clean, ratio, 7 * 1000 + i)
            net = loaded.network_for(ratio)
            values.append(raw_metrics(run_model(net, loaded.multiple_of, noisy), clean))
        out[f"x{ratio:g}"] = (
            float(np.mean([v[0] for v in values])),
            float(np.mean([v[1] for v in values])),
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parents[3] / "shared" / "data")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    frames = [args.data / name for name in TRAIN_FRAMES]
    if not all(f.is_file() for f in frames):
        raise SystemExit(f"training frames not found in {args.data} (pass --data)")
    home = Path(tempfile.mkdtemp(prefix="rawdenoise-precision-"))
    os.environ["RAWDENOISE_HOME"] = str(home)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    speed = {}
    for precision in ("fp32", "bf16"):
        result = pretrain(
            PretrainConfig(
                inputs=frames,
                name=precision,
                init="default",
                iterations=args.iterations,
                batch=args.batch,
                crop=args.crop,
                lr=5e-5,
                schedule="constant",
                loss="log-l1",
                augment="packed",
                sample_by="frame",
                seed=0,
                checkpoint_every=0,
                device=device,
                threads=args.threads,
                precision=precision,
            )
        )
        speed[precision] = result.iterations_per_second
    print(
        f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, device "
        f"{device}" + (f" (native bf16: {cpu_has_native_bf16()})" if device == "cpu" else "")
    )
    print(
        f"pretrain --init default, {args.iterations} iterations of batch {args.batch} x "
        f"{args.crop} px: fp32 {speed['fp32']:.2f} it/s, bf16 {speed['bf16']:.2f} it/s "
        f"(bf16/fp32 speed {speed['bf16'] / speed['fp32']:.2f}x)"
    )
    print("held-out PSNR dB / SSIM (quality.py draw, seed 7, 4 crops):")
    for label, model in (("default (start)", "default"), ("fp32", "fp32"), ("bf16", "bf16")):
        s = scores(model, args.data)
        cells = "   ".join(f"{r} {p:.2f} / {q:.4f}" for r, (p, q) in s.items())
        print(f"  {label:<16} {cells}")


if __name__ == "__main__":
    main()
