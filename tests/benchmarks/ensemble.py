"""Cost of the self-ensemble (``process --ensemble N``) on a real frame (run by hand).

    .venv/bin/python tests/benchmarks/ensemble.py [--raw FILE] [--crop 1024] [--sizes 1,2,4,8]

Each size runs in a fresh subprocess: the bundled ``default`` model through
:func:`rawdenoise.inference.denoise` with the automatic CPU tiles on a centred crop of the
frame (``--crop`` packed px, 0: the whole frame). Prints seconds, the ratio to size 1 measured
in the same run, the overhead beyond N network passes (mirroring, packing, averaging), the
peak memory the denoising adds to the process (RSS high-water mark, reset before it), and the
PSNR against the frame itself, the input being a dark version of it with synthetic Sony A7S2
ISO 6400 noise (``--ratio``; as ``quality.py`` makes them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from process_speed import DEFAULT_RAW, _peak_rss_mb, _rss_mb  # noqa: E402


def _reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux >= 4.0), so the peak is the denoising's, not the setup's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def child(raw: Path, crop: int, size: int, ratio: float) -> None:
    import numpy as np
    from quality import A7S2_K_PER_ISO, noisy_version

    from rawdenoise.inference import denoise
    from rawdenoise.rawio import read_raw
    from rawdenoise.training.metrics import raw_metrics
    from rawdenoise.weights import load_model

    clean = np.clip(read_raw(raw).normalized(), 0, 1)
    if crop:
        top, left = (clean.shape[1] - crop) // 2, (clean.shape[2] - crop) // 2
        clean = np.ascontiguousarray(clean[:, top : top + crop, left : left + crop])
    # the input quality.py scores: noisy x ratio, clipped at 1 (ISO 6400's gain, fixed seed)
    x, *_ = noisy_version(clean, ratio, seed=0, k=A7S2_K_PER_ISO * 6400)
    loaded = load_model("default")
    before = _rss_mb()
    _reset_peak_rss()
    start = time.perf_counter()
    y = denoise(
        loaded.network_for(ratio), x, multiple_of=loaded.multiple_of, device="cpu", ensemble=size
    )
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb() - before  # before scoring: SSIM on a whole frame takes GBs itself
    psnr, _ = raw_metrics(y, clean)
    result = {"size": size, "seconds": seconds, "psnr": psnr, "peak_extra_mb": peak}
    result["megapixels"] = 4 * clean.shape[1] * clean.shape[2] / 1e6
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    ap.add_argument("--crop", type=int, default=1024)
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--ratio", type=float, default=100.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.raw, args.crop, args.child, args.ratio)
        return
    if not args.raw.is_file():
        raise SystemExit(f"{args.raw} not found (set RAWDENOISE_SHARED_DATA or pass --raw)")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, str(HERE), "--child", str(size), "--raw", str(args.raw)]
        cmd += ["--crop", str(args.crop), "--ratio", str(args.ratio)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(s for s in out.splitlines() if s.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
    import torch

    print(
        f"{args.raw.name}, {results[0]['megapixels']:.1f} MP, ratio {args.ratio:g}; "
        f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}"
    )
    base = next((r for r in results if r["size"] == 1), results[0])
    print("  N   seconds  x size 1  overhead  peak RSS added MB  PSNR dB  vs size 1")
    for r in results:
        ratio = r["seconds"] / base["seconds"]
        overhead = ratio / (r["size"] / base["size"]) - 1
        print(
            f"  {r['size']}  {r['seconds']:8.1f}  {ratio:8.2f}  {overhead:+8.1%}  "
            f"{r['peak_extra_mb']:17.0f}  {r['psnr']:7.2f}  {r['psnr'] - base['psnr']:+.2f}"
        )


if __name__ == "__main__":
    main()
