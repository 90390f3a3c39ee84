"""Learned vs parametric dark noise on the simulated sensor (run by hand, not by pytest).

    python tests/benchmarks/learned_noise.py [--noise-iterations 1000] [--iterations 1600]
        [--data ../shared/data] [--plots DIR] [--threads 1] [--seeds 0,1,2]

1. The simulated sensor (:mod:`rawdenoise.noise.simsensor`) gives 8 dark frames per ISO (800,
   1600, 3200, 6400); the learned generator is trained on them and the parametric model
   (Tukey-lambda read, row noise, colour bias per ISO) fitted to the same frames.
2. Both are judged on held-out dark frames of the sensor at those ISOs and at ISO 2400 (never
   seen: interpolated): histogram KL, std of row and column means, log power spectrum
   distance (lower is closer; ``real`` is another draw of the sensor itself, the floor).
   ``--plots DIR`` writes the per-ISO figures ``calibrate --learn-noise`` writes, in
   ``DIR/seedN``.
3. Two identical small U-Nets are trained the same way (same clean crops, ratios, ISOs, shot
   noise with the same K, seeds) on pairs whose dark noise is the learned model's or the
   parametric model's, and evaluated on pairs whose dark noise is the sensor's own (fresh
   frames), at the five ISOs. PSNR of the noisy input and of both outputs. A third U-Net,
   trained on another unit of the same simulated sensor (its statistics exactly, its own
   column pattern and hot pixels; the glow in the same corner), is the ceiling: what a
   perfect noise model could give.
4. The same evaluation with one part of the sensor's noise left out in turn (the glow, the
   banding, the column pattern, the hot pixels, all but the read noise): which part costs
   each denoiser what.

Clean crops: the GoPro frames of ``--data`` when present, else generated content.

``--seeds 0,1,2`` repeats steps 1-4 once per seed (the noise model's training and the
denoisers' crops and initial weights) and prints the mean difference. At 400 denoiser
iterations one seed's learned - parametric difference moved by about 0.15 dB from seed to
seed (2-core Xeon, one thread: -0.16 dB with seed 0, +0.14 dB with seed 1), and the ceiling
was only 0.16 dB above the parametric noise: hence 1,600 by default (about 4 minutes per
denoiser with 2 threads; seed 0: learned 33.10, parametric 32.93, sensor 33.66 dB).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
TRAIN_ISOS = (800.0, 1600.0, 3200.0, 6400.0)
HELD_ISO = 2400.0
FRAMES = (
    "gopro_hero6_iso100_GOPR0024.dng",
    "gopro_fusion_front_iso100_GPFR7066.dng",
    "gopro_fusion_back_iso100_GPBK7066.dng",
)
SCALE = 16383.0 - 512.0


def k_of(iso: float) -> float:
    """System gain of the simulated sensor (DN per electron): proportional to ISO."""
    return 0.5 * iso / 800.0


def clean_frames(data: Path) -> tuple[list[np.ndarray], str]:
    from rawdenoise.training.frames import load_clean_frames

    paths = [data / f for f in FRAMES if (data / f).exists()]
    if paths:
        cache = Path(tempfile.mkdtemp(prefix="learned_noise_bm_"))
        frames = load_clean_frames(paths, cache=cache)
        return [np.asarray(f.data) for f in frames], f"{len(paths)} GoPro frames of {data}"
    rng = np.random.default_rng(0)
    out = []
    for _ in range(3):
        yy, xx = np.mgrid[0:512, 0:512] / 512.0
        img = 0.3 + 0.2 * np.sin(8 * xx + rng.random()) * np.cos(5 * yy)
        for _ in range(40):  # rectangles of random colour: edges
            y0, x0 = rng.integers(0, 480, 2)
            h, w = rng.integers(8, 120, 2)
            img = img.copy()
            img[y0 : y0 + h, x0 : x0 + w] = rng.random()
        colour = rng.uniform(0.5, 1.0, 4)[:, None, None]
        out.append(np.clip(img[None] * colour, 0, 1).astype(np.float32))
    return out, "3 generated 1024x1024 frames (no --data frames found)"


def crops(frames, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        f = frames[int(rng.integers(len(frames)))]
        y = int(rng.integers(0, f.shape[1] - size + 1))
        x = int(rng.integers(0, f.shape[2] - size + 1))
        out.append(f[:, y : y + size, x : x + size])
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def noisy_input(
    clean: torch.Tensor, dark_dn: torch.Tensor, isos, ratios, gen: torch.Generator
) -> torch.Tensor:
    """Shot noise with K(ISO) plus the dark noise, the ADC's rounding, then times the ratio."""
    from rawdenoise.noise import shot_noise

    ratio = torch.tensor(ratios, dtype=torch.float32).reshape(-1, 1, 1, 1)
    k = torch.tensor([k_of(i) for i in isos], dtype=torch.float32)
    signal = clean * SCALE / ratio
    dn = torch.round(signal + shot_noise(signal, k, generator=gen) + dark_dn)
    return (dn / SCALE * ratio).clamp_max(1.0)


def judge(sensor, model, params, plots: Path | None) -> dict:
    from rawdenoise.calibration.learn import judge as judge_isos
    from rawdenoise.noise import noise_stats as ns

    held = {iso: sensor.dark_dn(iso, 4, seed=99) for iso in (*TRAIN_ISOS, HELD_ISO)}
    judgements = judge_isos(model, params, held, {}, seed=5)
    print(f"\n{'ISO':>6} {'statistic':>10} {'sensor':>9} {'learned':>9} {'parametric':>10}")
    out = {}
    for j in judgements:
        floor = ns.compare(j.real, sensor.dark_dn(j.iso, 4, seed=100)).distances()
        a, b = j.learned_stats.distances(), j.parametric_stats.distances()
        tag = " (held out)" if j.iso == HELD_ISO else ""
        for key in a:
            print(f"{j.iso:>6g} {key:>10} {floor[key]:>9.4f} {a[key]:>9.4f} {b[key]:>10.4f}{tag}")
        closer = sum(j.wins().values())
        print(f"{'':>6} learned closer on {closer} of 4; learned KL {a['kl']:.4f}")
        out[j.iso] = (a, b, closer)
    if plots is not None:
        from rawdenoise.calibration.learn_plots import learn_figure

        plots.mkdir(parents=True, exist_ok=True)
        for j in judgements:
            fig = learn_figure(j, "simulated sensor")
            fig.savefig(plots / f"learned_noise_iso{j.iso:g}.png", dpi=80)
    return out


def train_denoiser(noise_fn, frames, args) -> torch.nn.Module:
    from rawdenoise.registry import create_network

    torch.manual_seed(args.seed)
    net = create_network("unet", {"channels": args.channels})
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    lo, hi = math.log(TRAIN_ISOS[0]), math.log(TRAIN_ISOS[-1])
    for it in range(args.iterations):
        clean = crops(frames, args.batch, args.crop, rng)
        isos = [math.exp(rng.uniform(lo, hi)) for _ in range(args.batch)]
        ratios = [float(rng.uniform(100, 300)) for _ in range(args.batch)]
        dark = noise_fn(isos, args.crop, int(rng.integers(1 << 30)))
        noisy = noisy_input(clean, dark, isos, ratios, gen)
        loss = (net(noisy) - clean).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * it / args.iterations))
        opt.step()
    return net.eval()


def one_seed(args, sensor, train, params, frames) -> dict[str, float]:
    """Learn the noise, train both denoisers and score them, with ``args.seed``."""
    from rawdenoise.noise.learn_train import LearnConfig, train_learned_noise
    from rawdenoise.noise.parametric_dark import interpolate, sample_parametric

    t0 = time.perf_counter()
    model = train_learned_noise(
        train, LearnConfig(iterations=args.noise_iterations, seed=args.seed)
    )
    print(f"learned noise: {args.noise_iterations} iterations in {time.perf_counter() - t0:.0f} s")
    judge(sensor, model, params, None if args.plots is None else args.plots / f"seed{args.seed}")

    def learned(isos, size, seed):
        g = torch.Generator().manual_seed(seed)
        return model.sample_dn(isos, size, size, generator=g)

    def parametric(isos, size, seed):
        return torch.from_numpy(
            np.concatenate(
                [sample_parametric(interpolate(params, i), 1, size, size, seed=seed + j)
                 for j, i in enumerate(isos)]
            )
        ).float()  # fmt: skip

    other_unit = replace(sensor, seed=sensor.seed + 1)  # the same statistics, other patterns

    def sensor_own(isos, size, seed):
        return torch.from_numpy(
            np.concatenate([other_unit.noise_dn(i, 1, seed=seed + j) for j, i in enumerate(isos)])
        ).float()

    nets = {}
    for name, fn in (("learned", learned), ("parametric", parametric), ("sensor", sensor_own)):
        t0 = time.perf_counter()
        nets[name] = train_denoiser(fn, frames, args)
        print(f"denoiser on {name} noise: {args.iterations} iterations, "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip

    mean = evaluate(nets, sensor, frames, args.crop, show=True)
    print(f"learned - parametric: {mean['learned'] - mean['parametric']:+.2f} dB")
    print(
        "\nmean PSNR on the sensor with one part of its noise left out (which part costs "
        "each denoiser what):"
    )
    print(f"{'left out':>14} " + " ".join(f"{c:>10}" for c in ("noisy", *nets)))
    for part, fields in PARTS.items():
        less = evaluate(nets, replace(sensor, **fields), frames, args.crop, show=False)
        print(f"{part:>14} " + " ".join(f"{less[c]:>10.2f}" for c in ("noisy", *nets)))
    return mean


#: the simulated sensor's noise parts, each left out in turn by the last table
PARTS = {
    "nothing": {},
    "glow": {"glow": 0.0},
    "banding": {"banding_sigma": 0.0},
    "columns": {"column_sigma": 0.0},
    "hot pixels": {"hot_fraction": 0.0},
    "all but read": {"glow": 0.0, "banding_sigma": 0.0, "column_sigma": 0.0, "hot_fraction": 0.0},
}


def evaluate(nets, sensor, frames, size: int, *, show: bool) -> dict[str, float]:
    """Mean PSNR of each denoiser (and of the noisy input) on pairs whose dark noise is
    ``sensor``'s own, 8 crops at each of five ISOs (the same crops, ratios and draws for every
    call); ``show`` prints the per-ISO table."""
    from rawdenoise.training.metrics import psnr as psnr_fn

    rng = np.random.default_rng(12345)
    gen = torch.Generator().manual_seed(12345)
    columns = ("noisy", *nets)
    if show:
        head = " ".join(f"{c:>10}" for c in columns)
        print(f"\n{'ISO':>6} {head}   (PSNR dB, sensor noise)")
    totals: dict[str, list[float]] = {c: [] for c in columns}
    for iso in (800.0, 1600.0, HELD_ISO, 3200.0, 6400.0):
        clean = crops(frames, 8, size, rng)
        ratios = [float(rng.uniform(100, 300)) for _ in range(8)]
        dark = torch.from_numpy(sensor.noise_dn(iso, 8, seed=777)).float()
        noisy = noisy_input(clean, dark, [iso] * 8, ratios, gen)
        with torch.no_grad():
            outs = {name: net(noisy).clamp(0, 1) for name, net in nets.items()}
        row = {"noisy": noisy.clamp(0, 1)} | outs
        scores = {}
        for name, x in row.items():
            scores[name] = float(np.mean([psnr_fn(x[i], clean[i]) for i in range(8)]))
            totals[name].append(scores[name])
        if show:
            print(f"{iso:>6g} " + " ".join(f"{scores[c]:>10.2f}" for c in columns))
    mean = {k: float(np.mean(v)) for k, v in totals.items()}
    if show:
        print(f"{'mean':>6} " + " ".join(f"{mean[c]:>10.2f}" for c in columns))
    return mean


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--noise-iterations", type=int, default=1000)
    p.add_argument("--iterations", type=int, default=1600, help="denoiser iterations")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seeds", default="0", help="comma-separated seeds; the mean over them too")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--plots", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from rawdenoise.noise.parametric_dark import fit_dark_params
    from rawdenoise.noise.simsensor import SimulatedSensor

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {platform.processor()}")
    sensor = SimulatedSensor(height=args.crop, width=args.crop)
    train = {iso: sensor.dark_dn(iso, 8, seed=1) for iso in TRAIN_ISOS}
    params = [fit_dark_params(iso, list(x)) for iso, x in train.items()]
    frames, what = clean_frames(args.data)
    print(f"clean content: {what}")
    results = []
    for seed in [int(v) for v in str(args.seeds).split(",")]:
        args.seed = seed
        print(f"\n=== seed {seed} ===")
        results.append(one_seed(args, sensor, train, params, frames))
    if len(results) > 1:
        diffs = [r["learned"] - r["parametric"] for r in results]
        learned = np.mean([r["learned"] for r in results])
        parametric = np.mean([r["parametric"] for r in results])
        print(f"\nover {len(results)} seeds: learned {learned:.2f}, "
              f"parametric {parametric:.2f} dB; "
              f"learned - parametric {np.mean(diffs):+.2f} dB (per seed: "
              f"{', '.join(f'{d:+.2f}' for d in diffs)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
