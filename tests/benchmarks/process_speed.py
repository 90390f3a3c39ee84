"""Speed and memory of ``rawdenoise process`` on a real full-size RAW (run by hand).

    .venv/bin/python tests/benchmarks/process_speed.py [--raw FILE] [--model M] [--quick]

Every measurement runs in a fresh subprocess so that its peak RSS (VmHWM) is its own:

- ``whole``: the network alone on the whole packed frame in one pass (pure compute, fp32),
- ``tiled``: :func:`rawdenoise.inference.denoise` with the automatic CPU tiles (fp32, bf16),
- ``e2e``: :func:`rawdenoise.pipeline.process_file`: decode, normalize, tiled denoise, undo,
  render with rawpy and write the 16-bit PNG (fp32; bf16 unless ``--quick``),

plus the machine's measured matmul throughput (fp32 and bf16). Prints the figures and the
ratios against the whole-frame fp32 pass measured in the same run, and the PSNR of the tiled
output against the whole-frame output. Default network: the full UNet (32 channels) with
random weights (timing and memory do not depend on the weights); ``--model`` takes a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SHARED = Path(os.environ.get("RAWDENOISE_SHARED_DATA", HERE.parents[3] / "shared" / "data"))
DEFAULT_RAW = SHARED / "gopro_hero7_iso252_GOPR9231.dng"


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Timed:
    """Wraps a network and adds up the seconds spent in its forward passes."""

    def __init__(self, net) -> None:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner = inner
                self.seconds = 0.0
                self.calls = 0

            def forward(self, x):
                start = time.perf_counter()
                y = self.inner(x)
                self.seconds += time.perf_counter() - start
                self.calls += 1
                return y

        self.module = Wrapper(net)


def _network(model: str | None):
    import torch

    if model:
        from rawdenoise.weights import load_model

        loaded = load_model(model)
        return loaded.network, loaded.spec.multiple_of, loaded.spec.name
    from rawdenoise.registry import create_network, get_architecture

    torch.manual_seed(0)
    spec = get_architecture("unet")
    return create_network("unet", {"channels": 32}).eval(), spec.multiple_of, "unet(32), random"


def child(
    mode: str, raw: Path, model: str | None, precision: str, out: Path, crop: int | None
) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import torch

    from rawdenoise.inference import denoise
    from rawdenoise.rawio import read_raw

    net, multiple_of, name = _network(model)
    timed = _Timed(net).module.eval()
    result: dict = {"mode": mode, "precision": precision, "network": name}
    if mode == "e2e":
        from rawdenoise.pipeline import Job, RatioRule, RunSettings, process_file

        base_rss = _rss_mb()
        settings = RunSettings(multiple_of=multiple_of, precision=precision, device="cpu")
        start = time.perf_counter()
        target = out / f"e2e_{precision}.png"
        res = process_file(Job(raw, target), timed, RatioRule(fixed=1.0), settings)
        result.update(seconds=time.perf_counter() - start, tiles=res.tiles)
        result["megapixels"] = res.megapixels
    else:
        x = np.minimum(read_raw(raw).normalized(), 1.0)
        if crop:  # a centred crop of crop x crop packed px
            top, left = (x.shape[1] - crop) // 2, (x.shape[2] - crop) // 2
            x = np.ascontiguousarray(x[:, top : top + crop, left : left + crop])
        base_rss = _rss_mb()
        start = time.perf_counter()
        if mode == "whole":
            y = denoise(timed, x, multiple_of=multiple_of, tile=0, precision=precision)
        else:
            calls: list[int] = []
            y = denoise(
                timed,
                x,
                multiple_of=multiple_of,
                precision=precision,
                progress=lambda d, t: calls.append(t),
            )
            result["tiles"] = calls[-1]
        result["seconds"] = time.perf_counter() - start
        np.save(out / f"{mode}_{precision}{'_crop' if crop else ''}.npy", y)
        result["packed_shape"] = list(x.shape)
    result.update(
        network_seconds=timed.seconds,
        forward_calls=timed.calls,
        peak_rss_mb=_peak_rss_mb(),
        rss_before_mb=base_rss,
        threads=torch.get_num_threads(),
    )
    print("RESULT " + json.dumps(result), flush=True)


def matmul_gflops(dtype_name: str, n: int = 2048, repeat: int = 5) -> float:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - start) / 1e9


def machine() -> dict:
    import torch

    from rawdenoise.inference import cpu_flags, cpu_has_native_bf16

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "native_bf16": cpu_has_native_bf16(),
        "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def run_child(
    mode: str, args: argparse.Namespace, precision: str, out: Path, crop: int | None = None
) -> dict:
    cmd = [
        sys.executable,
        str(HERE),
        "--child",
        mode,
        "--raw",
        str(args.raw),
        "--precision",
        precision,
        "--tmp",
        str(out),
    ]
    if args.model:
        cmd += ["--model", args.model]
    if crop:
        cmd += ["--crop", str(crop)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{mode}/{precision} failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1][7:])
    print(
        f"  {mode:5s} {precision}{' crop' if crop else ''}: {result['seconds']:7.1f} s total, "
        f"network "
        f"{result['network_seconds']:7.1f} s in {result['forward_calls']} pass(es), "
        f"peak RSS {result['peak_rss_mb']:6.0f} MB",
        flush=True,
    )
    return result


def enlarged_frame(raw: Path, megapixels: float, folder: Path) -> Path:
    """A DNG of about ``megapixels`` made of the real mosaic, mirrored at its edges.

    Mirroring (``np.pad(mode="reflect")``) keeps the CFA phase, the levels are the source's: a
    real-content frame of the size a memory figure is quoted for (e.g. 24 MP).
    """
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import cfa_from_pattern, read_raw, write_dng

    frame = read_raw(raw)
    h, w = frame.shape
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    th, tw = int(h * scale) // 2 * 2, int(w * scale) // 2 * 2
    mosaic = np.pad(frame.mosaic, ((0, max(th - h, 0)), (0, max(tw - w, 0))), mode="reflect")
    mosaic = mosaic[:th, :tw]
    pattern = frame.pattern
    blacks = [float(frame.black_level[int(pattern[r, c])]) for r in range(2) for c in range(2)]
    exif = read_exif(raw)
    path = folder / f"{raw.stem}_{megapixels:g}mp.dng"
    write_dng(
        path,
        mosaic,
        cfa=cfa_from_pattern(pattern),
        black_level=blacks,
        white_level=float(frame.white_level.max()),
        make=frame.make,
        model=frame.model,
        iso=exif.iso,
        exposure_time=exif.exposure_time,
    )
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--model", help="a model name or file (default: random full UNet)")
    parser.add_argument(
        "--megapixels",
        type=float,
        help="enlarge the RAW to this size by mirroring its real mosaic (e.g. 24)",
    )
    parser.add_argument("--quick", action="store_true", help="skip the bf16 end-to-end run")
    parser.add_argument(
        "--bf16-crop",
        type=int,
        default=128,
        help="packed crop side for fp32-vs-bf16 where the CPU has no native bf16 (emulated bf16 "
        "is far too slow for a full frame)",
    )
    parser.add_argument("--crop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured
    if args.child:
        child(args.child, args.raw, args.model, args.precision, args.tmp, args.crop)
        return
    if not args.raw.is_file():
        raise SystemExit(f"no RAW file at {args.raw} (set RAWDENOISE_SHARED_DATA or --raw)")
    info = machine()
    print(f"machine: {json.dumps(info)}")
    print(f"raw: {args.raw.name}")
    gf32 = matmul_gflops("fp32")
    gbf16 = matmul_gflops("bf16", n=2048 if info["native_bf16"] else 512, repeat=2)
    print(
        f"matmul 2048^3: fp32 {gf32:.0f} GFLOP/s, bf16 {gbf16:.0f} GFLOP/s "
        f"(bf16/fp32 = {gbf16 / gf32:.2f}x)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if args.megapixels:
            args.raw = enlarged_frame(args.raw, args.megapixels, out)
            print(f"enlarged to {args.megapixels:g} MP by mirroring: {args.raw.name}")
        runs = {
            "whole": run_child("whole", args, "fp32", out),
            "tiled": run_child("tiled", args, "fp32", out),
            "e2e": run_child("e2e", args, "fp32", out),
        }
        native = info["native_bf16"]
        crop = None if native else args.bf16_crop
        if crop:
            print(f"  no native bf16 on this CPU: fp32 vs bf16 on a {crop}x{crop} packed crop")
            runs["tiled_crop"] = run_child("tiled", args, "fp32", out, crop)
        runs["tiled_bf16"] = run_child("tiled", args, "bf16", out, crop)
        if native and not args.quick:
            runs["e2e_bf16"] = run_child("e2e", args, "bf16", out)
        whole = np.load(out / "whole_fp32.npy")
        tiled = np.load(out / "tiled_fp32.npy")
        suffix = "_crop" if crop else ""
        quality = {
            "tiled_vs_whole_psnr_db": psnr(tiled, whole),
            "bf16_vs_fp32_psnr_db": psnr(
                np.load(out / f"tiled_bf16{suffix}.npy"), np.load(out / f"tiled_fp32{suffix}.npy")
            ),
        }
    base = runs["whole"]["network_seconds"]
    mp = runs["e2e"]["megapixels"]
    w, t, e = runs["whole"], runs["tiled"], runs["e2e"]
    print(f"\nframe: {mp:.1f} MP, packed {w['packed_shape']}, {t['tiles']} tiles (fp32)")
    print(
        f"network compute, whole frame fp32: {base:.1f} s ({mp / base:.2f} MP/s), "
        f"peak RSS {w['peak_rss_mb']:.0f} MB"
    )
    print(
        f"tiled fp32 / whole:      time {t['seconds'] / base:.2f}x, "
        f"peak RSS {t['peak_rss_mb']:.0f} MB ({t['peak_rss_mb'] / w['peak_rss_mb']:.2f}x)"
    )
    print(
        f"end-to-end fp32 / whole: time {e['seconds'] / base:.2f}x "
        f"({e['seconds']:.1f} s: network {e['network_seconds']:.1f} s + decode/render/PNG "
        f"{e['seconds'] - e['network_seconds']:.1f} s), peak RSS {e['peak_rss_mb']:.0f} MB"
    )
    print(f"end-to-end / its own network time: {e['seconds'] / e['network_seconds']:.2f}x")
    tb = runs["tiled_bf16"]
    tf = runs.get("tiled_crop", t)
    where = f"{args.bf16_crop}x{args.bf16_crop} crop" if "tiled_crop" in runs else "full frame"
    print(
        f"bf16 / fp32 (tiled, {where}): time {tb['seconds'] / tf['seconds']:.2f}x "
        f"(speed-up {tf['seconds'] / tb['seconds']:.2f}x), peak RSS "
        f"{tb['peak_rss_mb']:.0f} MB; native bf16 on this CPU: {info['native_bf16']}"
    )
    if "e2e_bf16" in runs:
        eb = runs["e2e_bf16"]
        print(f"end-to-end bf16: {eb['seconds']:.1f} s, peak RSS {eb['peak_rss_mb']:.0f} MB")
    print(
        f"PSNR tiled vs whole frame: {quality['tiled_vs_whole_psnr_db']:.1f} dB; "
        f"bf16 vs fp32: {quality['bf16_vs_fp32_psnr_db']:.1f} dB"
    )
    print(
        "JSON "
        + json.dumps(
            {
                "machine": info,
                "matmul_gflops": {"fp32": gf32, "bf16": gbf16},
                "runs": runs,
                "quality": quality,
            }
        )
    )


if __name__ == "__main__":
    main()
