"""Fine-tuning speed per preset and held-out quality before/after (run by hand, not by pytest).

    python tests/benchmarks/finetune.py [--data ../shared/data] [--threads N] [--json out.json]
        [--speed-iterations 12] [--paper-full] [--base MODEL]

1. Base model: ``--base``, else the bundled ``default`` if ``rawdenoise/models/default.safetensors``
   exists, else a ``pretrain`` run of ``--pretrain-iterations`` (300) on the training frames
   (UNet, 16 channels, 128 px crops, batch 4); the report says which.
2. Pairs synthesized from the published Sony A7S2 profile (``sony-a7s2``) with
   ``rawdenoise.training.synthetic``: fine-tuning pairs from crops of training frames at ratios
   100 and 250, each at ISO 400 and ISO 6400 (LED's low/high-ISO pair per ratio); held-out
   pairs from a frame never trained on (GoPro HERO7) at ratios 100 and 250, ISO 3200.
   Without ``--data`` frames, generated scenes stand in (said in the report).
3. Speed: iterations per second of each preset (its crop and batch, on this machine) over a
   short run, and the projected time of the full preset.
4. Quality: held-out PSNR/SSIM (LED protocol) of the noisy input, the base model, the base
   after ``--preset quick``, and - the baseline for quick's learning rates (LED's) - the same
   quick run with 10x larger ones (1e-3, 1e-4); ``--paper-full`` also runs the full paper
   preset (hours on a CPU, minutes on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

TRAIN_FRAMES = ("gopro_hero6_iso100_GOPR0024.dng", "gopro_fusion_front_iso100_GPFR7066.dng")
HELD_OUT = "gopro_hero7_iso252_GOPR9231.dng"
BLACK, WHITE = 512, 16383
PROFILE = "sony-a7s2"


def write_clean_crop(source: Path | None, out: Path, side: int, seed: int) -> Path:
    """A ``side`` x ``side`` mosaic crop of ``source`` (or a generated scene) as a 14-bit DNG."""
    from rawdenoise.dng import write_dng
    from rawdenoise.rawio import read_raw

    if source is not None:
        frame = read_raw(source)
        h, w = frame.shape
        top, left = (h - side) // 2 & ~1, (w - side) // 2 & ~1
        mosaic = frame.mosaic[top : top + side, left : left + side].astype(np.float64)
        x = (mosaic - frame.black_level.mean()) / (
            frame.white_level.mean() - frame.black_level.mean()
        )
        cfa = frame.cfa
    else:
        from _training_data import scene_mosaic

        x = (scene_mosaic(seed, side, side).astype(np.float64) - BLACK) / (WHITE - BLACK)
        cfa = "RGGB"
    dn = np.rint(BLACK + np.clip(x, 0, 1) * (WHITE - BLACK)).astype(np.uint16)
    return write_dng(
        out, dn, cfa=cfa, black_level=BLACK, white_level=WHITE, make="Synthetic",
        model="A7S2", iso=100, exposure_time=Fraction(1), capture_time="2026:01:01 12:00:00",
    )  # fmt: skip


def make_pairs(folder: Path, clean: list[Path], plan: list[tuple[int, float]], name: str) -> Path:
    """Noisy frames of each clean frame for every (ratio, ISO) of ``plan``; the pair list."""
    from rawdenoise.training.synthetic import write_noisy_dng

    lines = []
    for i, c in enumerate(clean):
        for ratio, iso in plan:
            noisy = folder / f"{c.stem}_x{ratio}_iso{iso:g}.dng"
            write_noisy_dng(
                c, noisy, profile=PROFILE, noisy_iso=iso, ratio=ratio, seed=97 * i + ratio
            )
            lines.append(f"{noisy.name} {c.name}")
    out = folder / name
    out.write_text("\n".join(lines) + "\n")
    return out


def score(pairs: Path, model: str, threads: int | None) -> dict[str, float]:
    from rawdenoise.pairing import load_pairs
    from rawdenoise.training.device import cpu_threads
    from rawdenoise.training.evaluate import evaluate_pairs, summarize
    from rawdenoise.weights import load_model

    m = load_model(model)
    with cpu_threads(threads):
        scores = evaluate_pairs(load_pairs(pairs), m, multiple_of=m.multiple_of)
    return summarize(scores)


def run_finetune(pairs: Path, base: str, name: str, threads: int | None, **settings) -> dict:
    from rawdenoise.training.finetune import FinetuneConfig, finetune, resolve_settings

    preset = settings.pop("preset")
    resolved = resolve_settings(preset, {}, settings)
    t = time.perf_counter()
    r = finetune(
        FinetuneConfig(pairs=pairs, model=base, name=name, preset=preset, overwrite=True,
                       threads=threads, **resolved)
    )  # fmt: skip
    return {
        "iterations": list(r.iterations),
        "crop": r.crop,
        "batch": resolved["batch"],
        "lr": list(resolved["lr"]),
        "seconds": time.perf_counter() - t,
        "it_per_s": r.iterations_per_second,
        "model": str(r.path),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--base", help="base model (default: bundled default, else a short pretrain)")
    ap.add_argument("--pretrain-iterations", type=int, default=300)
    ap.add_argument("--speed-iterations", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--paper-full", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from rawdenoise.model_names import PACKAGED_DEFAULT
    from rawdenoise.training.finetune import PRESETS

    work = Path(tempfile.mkdtemp(prefix="rawdenoise-ftbench-"))
    os.environ["RAWDENOISE_HOME"] = str(work / "home")
    real = all((args.data / f).is_file() for f in (*TRAIN_FRAMES, HELD_OUT))
    src = (lambda f: args.data / f) if real else (lambda f: None)
    data_note = f"real frames from {args.data}" if real else "generated scenes (no --data)"
    threads = args.threads
    machine = (
        f"{platform.machine()} {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads() if threads is None else threads} threads"
    )

    # fine-tuning pairs (crops big enough for the paper preset's 1024 packed px), held-out pairs
    train_dir, held_dir = work / "train", work / "held"
    train_dir.mkdir(), held_dir.mkdir()
    clean_train = [write_clean_crop(src(f), train_dir / f"train{i}.dng", 2048, i)
                   for i, f in enumerate(TRAIN_FRAMES)]  # fmt: skip
    pairs = make_pairs(train_dir, clean_train, [(100, 400), (100, 6400), (250, 400), (250, 6400)],
                       "pairs.txt")  # fmt: skip
    clean_held = [write_clean_crop(src(HELD_OUT), held_dir / "held.dng", 1024, 99)]
    held = make_pairs(held_dir, clean_held, [(100, 3200), (250, 3200)], "held.txt")

    if args.base:
        base, base_note = args.base, f"--base {args.base}"
    elif PACKAGED_DEFAULT.is_file():
        base, base_note = "default", "the bundled default model"
    else:
        from rawdenoise.training.pretrain import PretrainConfig, pretrain

        t = time.perf_counter()
        r = pretrain(PretrainConfig(
            inputs=clean_train, name="bench-base", options={"channels": 16},
            iterations=args.pretrain_iterations, batch=4, crop=128, lr=1e-3, warmup=20,
            checkpoint_every=0, threads=threads, device="cpu",
        ))  # fmt: skip
        base = str(r.path)
        base_note = (
            f"no bundled default: a pretrain run of {args.pretrain_iterations} iterations "
            f"(UNet 16 ch, 128 px, batch 4; {time.perf_counter() - t:.0f} s)"
        )
    print(f"machine: {machine}\ndata: {data_note}\nbase model: {base_note}", flush=True)

    report: dict = {"machine": machine, "data": data_note, "base": base_note, "speed": {}}
    for preset, p in PRESETS.items():
        a = max(args.speed_iterations * 2 // 3, 1)
        b = max(args.speed_iterations - a, 1)
        r = run_finetune(pairs, base, f"speed-{preset}", threads, preset=preset,
                         iterations=(a, b), device="cpu")  # fmt: skip
        full = sum(p["iterations"])
        r["full_iterations"] = full
        r["projected_full_minutes"] = full / r["it_per_s"] / 60
        report["speed"][preset] = r
        print(f"speed {preset}: crop {r['crop']} batch {r['batch']}: {r['it_per_s']:.3f} it/s "
              f"-> full preset ({full} iterations) ~ {r['projected_full_minutes']:.1f} min",
              flush=True)  # fmt: skip

    quality = {"noisy input": None, "base": score(held, base, threads)}
    quality["noisy input"] = {
        "psnr": quality["base"]["noisy_psnr"],
        "ssim": quality["base"]["noisy_ssim"],
    }
    runs = {
        "quick": dict(preset="quick", device="cpu"),
        "quick steps, 10x lr": dict(
            preset="quick", lr=tuple(10 * x for x in PRESETS["quick"]["lr"]), device="cpu"
        ),
    }
    if args.paper_full:
        runs["paper"] = dict(preset="paper", device="auto")
    for label, settings in runs.items():
        r = run_finetune(pairs, base, "q-" + label.replace(" ", "-").replace(",", ""), threads,
                         **settings)  # fmt: skip
        quality[label] = {**score(held, r["model"], threads), "run": r}
        print(f"finetune {label}: {sum(r['iterations'])} iterations in {r['seconds']:.0f} s",
              flush=True)  # fmt: skip
    report["quality"] = quality

    print(f"\nheld-out ({HELD_OUT if real else 'generated scene'}, A7S2 noise ISO 3200, "
          "ratios 100 and 250), LED protocol:")  # fmt: skip
    print(f"  {'':<24} {'PSNR dB':>8} {'SSIM':>7} {'vs base':>8}")
    base_psnr = quality["base"]["psnr"]
    for label, q in quality.items():
        print(f"  {label:<24} {q['psnr']:8.2f} {q['ssim']:7.4f} {q['psnr'] - base_psnr:+8.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
