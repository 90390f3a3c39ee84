"""Accuracy of ``rawdenoise calibrate`` on synthetic full-size shoots (run by hand).

    .venv/bin/python tests/benchmarks/calibration_accuracy.py [--cameras sony-a7s2 nikon-d850]
        [--isos 100 400 1600 6400] [--quick] [--keep DIR]

For each published profile (method.md §5.3) it writes dark and flat DNG files at the camera's
full sensor size from known per-ISO parameters (the profile's log-linear fits; shot noise,
Tukey-lambda read noise, row noise, colour bias, real rounding to DN; flats with vignetting,
1% PRNU and one level near saturation), runs ``rawdenoise calibrate --json`` on them and
prints recovered against true values per parameter and ISO, with the errors against the
acceptance limits (K 3%, read 5%, row 10%, lambda 0.05, slopes 0.05).

Baseline measured in the same run on the same files: ELD's published method (method.md §6):
K from the spatial variance of single flat frames, row sigma from the raw row-mean variance
and read sigma from the probability plot without the quantization correction.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Visible raw sizes (width x height) of the cameras' full-resolution files.
SENSOR_SIZES = {
    "sony-a7s2": (4256, 2848),
    "nikon-d850": (8256, 5504),
    "sony-a7m4": (7040, 4688),
}
LIMITS = {"K": 0.03, "tl_sigma": 0.05, "row_sigma": 0.10, "tl_lambda": 0.05, "slope": 0.05}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )


def eld_baseline(dark_dir: Path, flat_dir: Path, iso: float) -> dict[str, float]:
    """ELD's estimates: spatial-variance K, uncorrected row and read sigma."""
    from rawdenoise.calibration import stats
    from rawdenoise.calibration.frames import FrameLoader
    from rawdenoise.calibration.per_iso import _centre_crop, _spread_tiles
    from rawdenoise.calibration.results import DARK_CROP, FLAT_TILES, TILE

    loader = FrameLoader()
    darks = [
        _centre_crop(loader.load(p), DARK_CROP) for p in sorted(dark_dir.glob(f"*iso{iso:g}_*"))
    ]
    span = loader.span.astype(np.float64)
    low = -loader.black.astype(np.float64)
    points = stats.TransferPoints()
    for path in sorted(flat_dir.glob(f"*iso{iso:g}_*_00.dng")):  # one frame per level
        frame = _spread_tiles(loader.load(path), TILE, FLAT_TILES)
        points.extend(stats.photon_transfer_points(frame, None, low=low, high=span, tile=TILE))
    ks = [
        stats.fit_photon_transfer(points.means[c], points.variances[c], tile_pixels=TILE**2).slope
        for c in range(4)
    ]
    row_vars, reads = [], []
    for d in darks:
        x = d.astype(np.float64) - d.mean(axis=(1, 2), keepdims=True)
        rows = np.stack([x[0:2], x[2:4]]).mean(axis=(1, 3))
        row_vars.append(rows.var(ddof=1))
        resid = x - x.mean(axis=2, keepdims=True)
        reads.append(stats.Ppcc(resid.ravel()[:: max(1, resid.size // 100_000)]))
    lam = [p.best_lambda() for p in reads]
    return {
        "K": float(np.mean(ks)),
        "row_sigma": math.sqrt(float(np.mean(row_vars))),
        "tl_sigma": float(np.mean([p.scale(a)[0] for p, a in zip(reads, lam, strict=True)])),
        "tl_lambda": float(np.mean(lam)),
    }


def run_camera(profile, isos, size, work: Path, args) -> dict:
    from rawdenoise.calibration.synthetic import true_parameters, write_calibration_set
    from rawdenoise.cli import main

    width, height = size
    truth = true_parameters(profile, isos)
    t0 = time.perf_counter()
    dark_dir, flat_dir = write_calibration_set(
        work,
        truth,
        height=height,
        width=width,
        dark_frames=args.dark_frames,
        flat_levels=tuple(args.flat_levels),
        flat_frames=2,
        make=profile.make,
        model=profile.model,
        seed=7,
    )
    t_write = time.perf_counter() - t0
    out = work / "profile.json"
    json_path = work / "result.json"
    t0 = time.perf_counter()
    saved = sys.stdout
    with json_path.open("w") as fh:
        sys.stdout = fh
        try:
            code = main(
                [
                    "-q",
                    "calibrate",
                    "--dark",
                    str(dark_dir),
                    "--flat",
                    str(flat_dir),
                    "--out",
                    str(out),
                    "--json",
                    "--overwrite",
                ]
            )
        finally:
            sys.stdout = saved
    t_cal = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"calibrate failed with exit code {code}")
    result = json.loads(json_path.read_text())
    t0 = time.perf_counter()
    baseline = {t.iso: eld_baseline(dark_dir, flat_dir, t.iso) for t in truth}
    t_base = time.perf_counter() - t0
    frames = len(list(dark_dir.iterdir())) + len(list(flat_dir.iterdir()))
    return {
        "truth": truth,
        "result": result,
        "baseline": baseline,
        "times": (t_write, t_cal, t_base),
        "frames": frames,
    }


def report(profile, size, run: dict) -> list[float]:
    truth, result, baseline = run["truth"], run["result"], run["baseline"]
    t_write, t_cal, t_base = run["times"]
    print(
        f"\n== {profile.id} ({profile.make} {profile.model}), {size[0]}x{size[1]}, "
        f"{run['frames']} frames: synthesis+write {t_write:.1f} s, calibrate {t_cal:.1f} s "
        f"({t_cal / run['frames']:.2f} s/frame), ELD baseline {t_base:.1f} s"
    )
    header = (
        f"{'ISO':>6} {'param':>10} {'true':>10} {'ours':>10} {'error':>9} "
        f"{'ELD-style':>10} {'error':>9}"
    )
    print(header)
    print("-" * len(header))
    worst = {k: 0.0 for k in LIMITS}
    for t, got in zip(truth, result["per_iso"], strict=True):
        base = baseline[t.iso]
        for key, true_value in (
            ("K", t.k),
            ("tl_sigma", t.read_sigma),
            ("row_sigma", t.row_sigma),
            ("tl_lambda", t.tl_lambda),
        ):
            ours = got[key]
            if key == "tl_lambda":
                err, berr = ours - true_value, base[key] - true_value
                fmt = "{:+9.3f}"
            else:
                err, berr = ours / true_value - 1, base[key] / true_value - 1
                fmt = "{:+8.1%}"
            worst[key] = max(worst[key], abs(err))
            print(
                f"{t.iso:>6g} {key:>10} {true_value:>10.4g} {ours:>10.4g} {fmt.format(err):>9} "
                f"{base[key]:>10.4g} {fmt.format(berr):>9}"
            )
    fits = result["fits"]
    for key, fit in (("tukey", profile.noise.tukey), ("row", profile.noise.row)):
        err = fits[key]["slope"] - fit.slope
        worst["slope"] = max(worst["slope"], abs(err))
        print(
            f"{'fit':>6} {key + ' slope':>10} {fit.slope:>10.4f} {fits[key]['slope']:>10.4f} "
            f"{err:>+9.4f}"
        )
    print(
        "worst |error| vs limit: "
        + ", ".join(
            f"{k} {v:.3g}/{LIMITS[k]:g}{'' if v <= LIMITS[k] else ' FAIL'}"
            for k, v in worst.items()
        )
    )
    for w in result["warnings"]:
        print(f"  warning: {w}")
    return list(worst.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", nargs="+", default=list(SENSOR_SIZES))
    parser.add_argument("--isos", nargs="+", type=float, default=[100, 400, 1600, 6400])
    parser.add_argument("--dark-frames", type=int, default=2)
    parser.add_argument("--flat-levels", nargs="+", type=float, default=[0.15, 0.5, 0.95])
    parser.add_argument("--quick", action="store_true", help="1024x768 frames instead")
    parser.add_argument("--keep", type=Path, help="keep the synthetic shoots in this folder")
    args = parser.parse_args()

    os.environ.setdefault("RAWDENOISE_HOME", tempfile.mkdtemp(prefix="rawdenoise-bench-"))
    from rawdenoise.default_plugins.camera_profiles import PROFILES

    profiles = {p.id: p for p in PROFILES}
    print(f"machine: {machine()}")
    print(
        f"ISOs {', '.join(f'{i:g}' for i in args.isos)}; per ISO {args.dark_frames} dark "
        f"frames and flat pairs at {', '.join(f'{v:g}' for v in args.flat_levels)} of white"
    )
    for cam in args.cameras:
        profile = profiles[cam]
        size = (1024, 768) if args.quick else SENSOR_SIZES[cam]
        work = (args.keep / cam) if args.keep else Path(tempfile.mkdtemp(prefix=f"calib-{cam}-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            report(profile, size, run_camera(profile, args.isos, size, work, args))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
