"""Speed and memory of ``rawdenoise process`` against the pure compute of its network (by hand).

    .venv/bin/python tests/benchmarks/process_speed.py [--raw FILE] [--megapixels 24]
        [--model default] [--precisions fp32,bf16] [--folder 8] [--formats dng,png]
        [--no-level-lock]

One frame of ``--megapixels`` (default 24 MP: the held-out HERO7 frame's real mosaic, mirrored
at its edges to 6000x4000-like size, written as a DNG) and a folder of ``--folder`` such
files. Every figure comes from a fresh subprocess, in one run, on one machine:

- *pure compute*: the network alone on 512x512 packed tiles in the channels-last layout, no
  overlap, no I/O, scaled to the frame's area (the median of 6 tiles after a warm-up);
- *one file*: the real command, ``rawdenoise process FILE -f dng`` (and ``-f png`` etc.),
  wall time from start to exit (Python and torch start-up, decoding, tiles with their overlap,
  writing) and its peak RSS;
- *folder*: ``rawdenoise process FOLDER``: wall time per file (decoding the next file and
  writing the previous one overlap with the network);
- *render*: rendering (rawpy, the file's white balance and colour) and encoding one file alone,
  per format (the part of a PNG/TIFF/JPEG output that a DNG does not have);
- *level lock*: :func:`rawdenoise.level_lock.lock_level` on the frame alone (part of every
  ``process`` run unless ``--no-level-lock``; ``--no-level-lock`` here runs the command without).

The ratios to the pure compute are the figures; targets (issue "Run the network at the
machine's speed"): one file <= pure + 2 s; a folder <= 1.3x pure per file in fp32 and <= pure
+ 1 s in bf16; with rendering, one file <= pure + render; peak RSS < 1.2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SHARED = Path(os.environ.get("RAWDENOISE_SHARED_DATA", HERE.parents[3] / "shared" / "data"))
DEFAULT_RAW = SHARED / "gopro_hero7_iso252_GOPR9231.dng"
PURE_TILE = 512


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """This process's resident memory now (VmRSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def enlarged_frame(raw: Path, megapixels: float, folder: Path, shift: int = 0) -> Path:
    """A DNG of about ``megapixels`` made of the real mosaic, mirrored at its edges.

    Mirroring (``np.pad(mode="reflect")``) keeps the CFA phase, the levels are the source's: a
    real-content frame of the size a figure is quoted for (e.g. 24 MP). ``shift`` (even) rolls
    the content so that the files of a folder differ.
    """
    from rawdenoise.bayer import cfa_from_pattern
    from rawdenoise.dng import write_dng
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import read_raw

    frame = read_raw(raw)
    h, w = frame.shape
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    th, tw = int(h * scale) // 2 * 2, int(w * scale) // 2 * 2
    mosaic = np.pad(frame.mosaic, ((0, max(th - h, 0)), (0, max(tw - w, 0))), mode="reflect")
    mosaic = np.roll(mosaic[:th, :tw], shift // 2 * 2, axis=1)
    pattern = frame.pattern
    blacks = [float(frame.black_level[int(pattern[r, c])]) for r in range(2) for c in range(2)]
    exif = read_exif(raw)
    path = folder / f"{raw.stem}_{megapixels:g}mp_{shift}.dng"
    write_dng(
        path, mosaic, cfa=cfa_from_pattern(pattern), black_level=blacks,
        white_level=float(frame.white_level.max()), make=frame.make, model=frame.model,
        iso=exif.iso, exposure_time=exif.exposure_time,
    )  # fmt: skip
    return path


def child_pure(model: str, precision: str, raw: Path) -> dict:
    """Seconds of the network alone for the frame's area in 512 px channels-last tiles, with
    the heap setting ``process`` uses (:mod:`rawdenoise.heap`)."""
    from rawdenoise import heap

    heap.keep_freed_memory()
    import torch

    from rawdenoise.rawio import read_raw
    from rawdenoise.weights import load_model

    frame = read_raw(raw)
    area = frame.shape[0] * frame.shape[1] / 4  # packed pixels
    net = load_model(model).network.eval()
    x = torch.from_numpy(np.minimum(frame.normalized(), 1.0)[None, :, :PURE_TILE, :PURE_TILE])
    x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for _ in range(8):
            start = time.perf_counter()
            if precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    net(x)
            else:
                net(x)
            times.append(time.perf_counter() - start)
    per_tile = float(np.median(times[2:]))
    return {"seconds": per_tile * area / PURE_TILE**2, "per_tile": per_tile}


def child_render(raw: Path, fmt: str, out: Path) -> dict:
    """Seconds to render and encode one file (its own mosaic) in ``fmt``."""
    from rawdenoise.exif_write import exif_blob
    from rawdenoise.rawio import read_raw
    from rawdenoise.render import read_metadata, render_rgb, write_jpeg, write_png, write_tiff

    frame = read_raw(raw)
    meta = read_metadata(raw, frame)
    start = time.perf_counter()
    rgb = render_rgb(raw, frame.mosaic, bit_depth=8 if fmt == "jpeg" else 16)
    rendered = time.perf_counter()
    target = out / f"render.{fmt}"
    if fmt == "png":
        write_png(target, rgb, exif=exif_blob(meta))
    elif fmt == "jpeg":
        write_jpeg(target, rgb, exif=exif_blob(meta), quality=95)
    else:
        write_tiff(target, rgb, meta=meta)
    end = time.perf_counter()
    return {"render": rendered - start, "encode": end - rendered, "seconds": end - start}


def child_lock(raw: Path) -> dict:
    """Seconds of the level lock on the frame (median of 3), with torch's default threads."""
    from rawdenoise.level_lock import lock_level
    from rawdenoise.pipeline import network_input
    from rawdenoise.rawio import read_raw

    x = network_input(read_raw(raw), 1.0)
    times = []
    for _ in range(3):
        out = x * np.float32(0.9)
        start = time.perf_counter()
        lock_level(x, out, low=-0.03)
        times.append(time.perf_counter() - start)
    return {"seconds": float(np.median(times))}


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE), "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_process(
    paths: list[Path], out: Path, fmt: str, precision: str, model: str, *extra: str
) -> dict:
    """Wall time and peak RSS of the real command (a fresh process, start-up included)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "rawdenoise", "process", *map(str, paths), "-f", fmt,
           "--precision", precision, "--model", model, "--out", str(out), "-q", *extra]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"process failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def machine() -> str:
    import torch

    from rawdenoise.devices import cpu_has_native_bf16

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{model}, {os.cpu_count()} cores (native bf16: {cpu_has_native_bf16()}), torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads, load "
            f"{os.getloadavg()[0]:.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    ap.add_argument("--megapixels", type=float, default=24)
    ap.add_argument("--model", default="default")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--folder", type=int, default=8, help="files in the folder run (0: none)")
    ap.add_argument("--formats", default="dng,png", help="output formats of the one-file runs")
    ap.add_argument("--folder-formats", default="dng,png")
    ap.add_argument("--render-formats", default="png,tiff,jpeg")
    ap.add_argument("--no-level-lock", action="store_true", help="process --no-level-lock")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "pure":
            print(json.dumps(child_pure(rest[0], rest[1], Path(rest[2]))))
        elif kind == "lock":
            print(json.dumps(child_lock(Path(rest[0]))))
        else:
            print(json.dumps(child_render(Path(rest[0]), rest[1], Path(rest[2]))))
        return
    if not args.raw.is_file():
        raise SystemExit(f"no RAW file at {args.raw} (set RAWDENOISE_SHARED_DATA or --raw)")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "folder"
        folder.mkdir()
        one = enlarged_frame(args.raw, args.megapixels, work)
        for k in range(1, args.folder):  # the folder: the frame and rolled copies of it
            enlarged_frame(args.raw, args.megapixels, folder, 200 * k)
        if args.folder:
            shutil.copy(one, folder / one.name)
        mp = args.megapixels
        lock_args = ("--no-level-lock",) if args.no_level_lock else ()
        lock = "off" if args.no_level_lock else "on"
        print(f"frame: {one.name} ({mp:g} MP), model {args.model}, level lock {lock}")
        seconds = run_child("lock", str(one))["seconds"]
        print(f"  level lock alone: {seconds:.2f} s")
        render = {}
        for fmt in args.render_formats.split(","):
            render[fmt] = run_child("render", str(one), fmt, str(work))
            r = render[fmt]
            print(f"  render + encode {fmt:<4} alone: {r['seconds']:5.2f} s (render "
                  f"{r['render']:.2f} s, encode {r['encode']:.2f} s)")  # fmt: skip
        for precision in args.precisions.split(","):
            pure = run_child("pure", args.model, precision, str(one))["seconds"]
            print(f"{precision}: pure compute {pure:.2f} s per file (512 px tiles, channels last)")
            for fmt in args.formats.split(","):
                r = run_process([one], work / "out1", fmt, precision, args.model, *lock_args)
                extra = render.get(fmt, {"seconds": 0.0})["seconds"]
                print(f"  one file  -f {fmt:<4} {r['seconds']:6.2f} s = pure + "
                      f"{r['seconds'] - pure:5.2f} s" + (f" (render alone {extra:.2f} s)"
                      if fmt != "dng" else "") + f", {r['seconds'] / pure:.2f}x pure, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB")  # fmt: skip
            if not args.folder:
                continue
            for fmt in args.folder_formats.split(","):
                r = run_process([folder], work / "outN", fmt, precision, args.model, *lock_args)
                per = r["seconds"] / args.folder
                print(f"  folder of {args.folder} -f {fmt:<4} {per:6.2f} s per file = pure + "
                      f"{per - pure:5.2f} s, {per / pure:.2f}x pure, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
