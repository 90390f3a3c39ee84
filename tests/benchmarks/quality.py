"""Denoising quality on held-out real frames with synthetic Sony A7S2 noise (run by hand).

For each ratio (default 100 and 250) and each fixed crop of the held-out frames, noise is
drawn from the published Sony A7S2 calibration (``sony-a7s2`` profile, ELD/LED parameters:
shot, Tukey-lambda read, row, quantization and colour-bias noise, K log-uniform over the
profile's range) at LED's 14-bit scale, and these are scored by LED's protocol (raw domain,
illumination-corrected PSNR, SSIM, 2 px border):

- the noisy input itself;
- BM3D with a variance-stabilizing transform, twice - needs ``pip install bm3d``
  (non-commercial licence: benchmark only), skipped with a note when absent:

  * *blind*: K and the signal-independent noise level estimated from the noisy crop itself
    (:func:`_bm3d_vst.estimate_poisson_gaussian`), black level from the file: the same
    information the default model has, so this is the classical baseline it must beat;
  * *oracle*: told each crop's true K, noise level and colour bias (what a per-ISO
    calibration of the very camera gives): an upper reference, to compare with the
    fine-tuned model rather than the blind default;
- the model (default: the bundled ``default``), as ``process`` writes it: with the level lock
  (:mod:`rawdenoise.level_lock`; ``--no-level-lock``: the network alone);
- the model after ``finetune --preset quick`` on two pairs synthesized from the same profile
  on *training* frames (never the held-out ones), as LED's capture plan (and ``rawdenoise
  ratio``) asks: one at each ratio, at two very different ISOs (400 and 3200, K from the
  profile's K = 9.563e-4 x ISO);
- with ``--ensemble 2,8``: each model also with that self-ensemble (``process --ensemble``).

    python tests/benchmarks/quality.py [--model default] [--data ../shared/data] [--content hero7]
        [--crops 4] [--crop 256] [--ratios 100,250] [--no-finetune] [--no-bm3d]
        [--ensemble 2,8] [--per-crop] [--precision fp32] [--no-level-lock] [--json out.json]

Held-out frames: the GoPro HERO7 ISO 252 DNG (the default model is trained on the HERO6 and
FUSION frames only). Figures depend on the seed only, not on the machine; timings do.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawdenoise.bayer import binned_2x2, pattern_from_cfa, unpack_bayer
from rawdenoise.dng import write_dng
from rawdenoise.noise import NoisyPairGenerator, synthesize_dn
from rawdenoise.pipeline import RunSettings, run_network
from rawdenoise.rawio import read_raw
from rawdenoise.registry import get_camera_profile
from rawdenoise.training.metrics import raw_metrics
from rawdenoise.weights import load_model

HELD_OUT = ("gopro_hero7_iso252_GOPR9231.dng",)
TRAIN_FRAMES = ("gopro_hero6_iso100_GOPR0024.dng", "gopro_fusion_front_iso100_GPFR7066.dng")
BLACK, WHITE = 512.0, 16383.0  # LED's 14-bit reference scale (SID Sony A7S2)
SCALE = WHITE - BLACK
BLIND, ORACLE = "BM3D+VST (blind)", "BM3D+VST (oracle)"


#: ``--content arw-binned``: the Sony A7R III concert frame binned 2x2 in its Bayer geometry
#: (:func:`rawdenoise.bayer.binned_2x2`; a cleaner frame of real content unlike the GoPro
#: frames: stage light, near-black areas)
ARW = "sony_ilce7rm3_iso3200_DSC2164.ARW"


def crops_of(
    path: Path, count: int, side: int, seed: int, *, bin2: bool = False
) -> list[np.ndarray]:
    """``count`` packed (4, side, side) crops at fixed positions, normalized to [0, 1]."""
    frame = read_raw(path)
    packed = np.clip(frame.normalized(), 0, 1)
    if bin2:
        packed = binned_2x2(packed)
    _, h, w = packed.shape
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        top = int(rng.integers(0, h - side)) & ~1
        left = int(rng.integers(0, w - side)) & ~1
        out.append(packed[:, top : top + side, left : left + side].copy())
    return out


#: (ratio, ISO) of the fine-tuning pairs: LED's "ISO <= 500 and ISO >= 3200"
FINETUNE_PAIRS = ((100.0, 400), (250.0, 3200))
A7S2_K_PER_ISO = 9.563e-4  # the published profile's K = 9.563e-4 x ISO (LRD's table)


def noisy_version(clean: np.ndarray, ratio: float, seed: int, k: float | None = None):
    """(noisy input x ratio clipped at 1, K, sigma of the signal-independent part, bias).

    K is drawn log-uniformly over the profile's range unless given.
    """
    gen = NoisyPairGenerator.from_profile(get_camera_profile("sony-a7s2"), k=k)
    g = torch.Generator().manual_seed(seed)
    c = torch.from_numpy(clean)[None]
    params = gen.sample_params(1, c.shape[2], c.shape[3], generator=g)
    dark_dn = c * SCALE / ratio
    noisy_dn = synthesize_dn(dark_dn, params, "ptrqc", generator=g)
    noisy = (noisy_dn / SCALE * ratio).clamp_max(1.0)[0].numpy()
    # the oracle noise level for BM3D: the signal-independent part on a zero signal
    zero = torch.zeros_like(c)
    independent = synthesize_dn(zero, params, "trq", generator=torch.Generator().manual_seed(1))
    sigma = float(independent.std())
    bias = params.color_bias[0].numpy() if params.color_bias is not None else np.zeros(4)
    return noisy, float(params.k[0]), sigma, bias


def run_bm3d(
    noisy: np.ndarray, ratio: float, k: float, sigma: float, bias: np.ndarray
) -> np.ndarray:
    """Oracle BM3D+VST: the true ``k``, ``sigma`` and colour ``bias`` (DN) of the crop."""
    from _bm3d_vst import bm3d_vst_denoise

    dn = noisy.astype(np.float64) / ratio * SCALE - bias.reshape(4, 1, 1)
    out = bm3d_vst_denoise(dn, k, sigma)
    return np.clip(out / SCALE * ratio, 0, 1).astype(np.float32)


def run_bm3d_blind(noisy: np.ndarray, ratio: float) -> np.ndarray:
    """Blind BM3D+VST: noise parameters estimated from the noisy crop, no bias correction."""
    from _bm3d_vst import estimate_poisson_gaussian

    dn = noisy.astype(np.float64) / ratio * SCALE
    k, sigma = estimate_poisson_gaussian(dn)
    return run_bm3d(noisy, ratio, k, sigma, np.zeros(4))


#: ``--precision``: the network's precision in every model run (process --precision)
PRECISION = {"value": "fp32"}
#: ``--no-level-lock`` turns it off: the network's output as it is (process --no-level-lock)
LEVEL_LOCK = {"value": True}


def run_model(network, multiple_of: int, noisy: np.ndarray, ensemble: int = 1) -> np.ndarray:
    """The model's output as ``process`` writes it (:func:`rawdenoise.pipeline.run_network`:
    level lock included unless turned off), then clipped to [0, 1] for the score."""
    settings = RunSettings(
        multiple_of=multiple_of, device="cpu", precision=PRECISION["value"], ensemble=ensemble,
        level_lock=LEVEL_LOCK["value"],
    )  # fmt: skip
    return np.clip(run_network(network, noisy, settings), 0, 1)


def synth_pairs(folder: Path, data: Path, seed: int) -> Path:
    """The :data:`FINETUNE_PAIRS` from training frames with A7S2 noise, as DNGs + list."""
    lines = []
    for i, ((ratio, iso), name) in enumerate(zip(FINETUNE_PAIRS, TRAIN_FRAMES, strict=True)):
        frame = read_raw(data / name)
        packed = np.clip(frame.normalized(), 0, 1)
        _, h, w = packed.shape
        side = min(1024, h, w)
        top, left = (h - side) // 2 & ~1, (w - side) // 2 & ~1
        clean = packed[:, top : top + side, left : left + side]
        noisy, *_ = noisy_version(clean, ratio, seed + 100 + i, k=A7S2_K_PER_ISO * iso)
        pattern = pattern_from_cfa("RGGB")
        clean_dn = np.rint(BLACK + clean * SCALE).astype(np.uint16)
        noisy_dn = np.clip(np.rint(BLACK + noisy / ratio * SCALE), 0, WHITE).astype(np.uint16)
        common = {
            "cfa": "RGGB",
            "black_level": BLACK,
            "white_level": WHITE,
            "make": "SONY",
            "model": "ILCE-7SM2",
        }
        clean_path = folder / f"clean_{i}.dng"
        noisy_path = folder / f"noisy_{i}.dng"
        write_dng(
            clean_path,
            unpack_bayer(clean_dn, pattern),
            iso=100,
            exposure_time=Fraction(10),
            **common,
        )
        write_dng(
            noisy_path,
            unpack_bayer(noisy_dn, pattern),
            iso=iso,  # ratio = (ISO x t) of the clean / (ISO x t) of the noisy frame
            exposure_time=Fraction(1000, iso) / Fraction(ratio).limit_denominator(1000),
            **common,
        )
        lines.append(f"{noisy_path.name} {clean_path.name}")
    pair_list = folder / "pairs.txt"
    pair_list.write_text("\n".join(lines) + "\n")
    return pair_list


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data"
    )
    ap.add_argument(
        "--content",
        choices=("hero7", "arw-binned"),
        default="hero7",
        help="held-out content: the HERO7 frame, or the A7R III ARW binned 2x2 (as a Bayer frame)",
    )
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--ratios", default="100,250")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-finetune", action="store_true")
    ap.add_argument("--no-bm3d", action="store_true", help="skip the (slow) BM3D baselines")
    ap.add_argument(
        "--per-crop",
        action="store_true",
        help="also print each crop's mean level, K and PSNR per method (which crops lose)",
    )
    ap.add_argument(
        "--ensemble",
        default="",
        help="also score the models with these self-ensemble sizes, e.g. 2,8 (process --ensemble)",
    )
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or auto (as process)")
    ap.add_argument(
        "--no-level-lock", action="store_true", help="the network's output without the level lock"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    PRECISION["value"] = args.precision
    LEVEL_LOCK["value"] = not args.no_level_lock
    ratios = [float(r) for r in args.ratios.split(",")]
    ensembles = [int(n) for n in args.ensemble.split(",") if n.strip() and int(n) != 1]

    have_bm3d = not args.no_bm3d
    try:
        import bm3d  # noqa: F401
    except ImportError:
        have_bm3d = False
        print("note: bm3d not installed (pip install bm3d): the BM3D baselines are skipped")

    loaded = load_model(args.model)
    models = {"model": loaded}
    if not args.no_finetune:
        from rawdenoise.cli import main as cli

        home = Path(tempfile.mkdtemp(prefix="rawdenoise-quality-"))
        os.environ.setdefault("RAWDENOISE_HOME", str(home / "home"))
        pair_list = synth_pairs(home, args.data, args.seed)
        t = time.perf_counter()
        argv = [
            "-q",
            "finetune",
            str(pair_list),
            "--model",
            args.model,
            "--name",
            "quality-ft",
            "--preset",
            "quick",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--overwrite",
        ]
        if cli(argv):
            raise SystemExit("finetune failed")
        print(f"finetune --preset quick: {time.perf_counter() - t:.0f} s")
        models["finetuned"] = load_model("quality-ft")

    sources = [(ARW, True)] if args.content == "arw-binned" else [(n, False) for n in HELD_OUT]
    crops = [
        c
        for name, bin2 in sources
        for c in crops_of(args.data / name, args.crops, args.crop, args.seed, bin2=bin2)
    ]
    table: dict[str, dict[str, list[tuple[float, float]]]] = {}
    gains: dict[str, list[float]] = {}
    for ratio in ratios:
        rows = table.setdefault(f"x{ratio:g}", {})
        for i, clean in enumerate(crops):
            noisy, k, sigma, bias = noisy_version(clean, ratio, args.seed * 1000 + i)
            gains.setdefault(f"x{ratio:g}", []).append(k)
            rows.setdefault("noisy input", []).append(raw_metrics(noisy, clean))
            if have_bm3d:
                rows.setdefault(BLIND, []).append(raw_metrics(run_bm3d_blind(noisy, ratio), clean))
                rows.setdefault(ORACLE, []).append(
                    raw_metrics(run_bm3d(noisy, ratio, k, sigma, bias), clean)
                )
            for label, m in models.items():
                for n in [1, *ensembles]:
                    out = run_model(m.network_for(ratio), m.spec.multiple_of, noisy, n)
                    key = label if n == 1 else f"{label}, ensemble {n}"
                    rows.setdefault(key, []).append(raw_metrics(out, clean))

    print(
        f"\nheld-out: {', '.join(n + (' binned 2x2' if b else '') for n, b in sources)}, "
        f"{len(crops)} crops of {args.crop} packed px, "
        f"Sony A7S2 noise; machine: {platform.machine()} {os.cpu_count()} cores, "
        f"torch {torch.__version__}"
    )
    summary = {}
    for ratio_label, rows in table.items():
        print(f"\nratio {ratio_label}:   PSNR (dB)   SSIM")
        for label, values in rows.items():
            p = float(np.mean([v[0] for v in values]))
            s = float(np.mean([v[1] for v in values]))
            summary.setdefault(ratio_label, {})[label] = {"psnr": p, "ssim": s}
            print(f"  {label:<26} {p:8.2f}   {s:.4f}")
        for baseline in (BLIND, ORACLE):
            if baseline not in rows:
                continue
            base = summary[ratio_label][baseline]["psnr"]
            for label in (lab for lab in rows if lab not in (BLIND, ORACLE, "noisy input")):
                gain = summary[ratio_label][label]["psnr"] - base
                print(f"  {label} vs {baseline}: {gain:+.2f} dB")
    if args.per_crop:
        print_per_crop(table, crops, gains)
    if args.json:
        for ratio_label, rows in table.items():
            summary[ratio_label]["per_crop"] = {
                label: [{"psnr": v[0], "ssim": v[1]} for v in values]
                for label, values in rows.items()
            }
        args.json.write_text(json.dumps(summary, indent=2))


def print_per_crop(
    table: dict[str, dict[str, list[tuple[float, float]]]],
    crops: list[np.ndarray],
    gains: dict[str, list[float]],
) -> None:
    """Each crop's PSNR per method: the means above hide which content a method fails on."""
    for ratio_label, rows in table.items():
        labels = list(rows)
        print(f"\nratio {ratio_label}, PSNR (dB) per crop:")
        print("  crop  mean level  K (DN/e-)  " + "  ".join(f"{lab:>18}" for lab in labels))
        for i, clean in enumerate(crops):
            cells = "  ".join(f"{rows[lab][i][0]:18.2f}" for lab in labels)
            print(f"  {i:4d}  {float(clean.mean()):10.3f}  {gains[ratio_label][i]:9.3f}  {cells}")


if __name__ == "__main__":
    main()
