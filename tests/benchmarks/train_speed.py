"""Training throughput: ``pretrain`` end to end against the pure compute of its network (by hand).

    .venv/bin/python tests/benchmarks/train_speed.py [--iterations 200] [--baseline TREE]
        [--precisions fp32,bf16] [--threads N] [--no-score] [--data ../shared/data]

For each precision, in a fresh subprocess each (so that the peak RSS is its own):

- *pure compute*: one training step of the network alone (forward, L1 loss, backward, Adam)
  on a fixed batch already in memory, as the tree's training loop runs it (its layout,
  autocast and optimizer): the bundled default's architecture (24-channel UNet inside RepNR with
  5 virtual-camera branches), batch 8 of 128 px crops, the median of 20 steps;
- *pretrain*: ``rawdenoise pretrain --init default`` for ``--iterations`` iterations on
  quality.py's training frames (crops, virtual-camera noise synthesis, the step), iterations
  per second of the whole loop.

The ratio step time / pure step time is the figure: 1.0 means the data pipeline costs nothing.
*data/step* is the time to make one batch (crops and noise, single-threaded, without the
network) over the pure step: what the loop adds to each step where it makes the batch in turn
(a CPU whose cores all run torch's threads), or hides in a worker thread (a GPU, or
``--threads`` below the core count).
``--baseline TREE`` runs the same in another checkout of rawdenoise (e.g. ``git worktree add
../base v0.x``; imported through PYTHONPATH) in the same run and prints the speed-ups. Unless
``--no-score``, each trained model is scored on quality.py's held-out draw (seed 7, 4 crops),
so that a faster run that learns less shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
SHARED = Path(os.environ.get("RAWDENOISE_SHARED_DATA", HERE.parents[3] / "shared" / "data"))


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_pure(precision: str, batch: int, crop: int, steps: int) -> dict:
    """The median time of one training step of the network alone (this process's tree), with
    the heap setting the tree's ``pretrain`` uses (:mod:`rawdenoise.heap`, where it has one)."""
    import time

    try:
        from rawdenoise import heap
    except ImportError:  # an older baseline tree
        pass
    else:
        heap.keep_freed_memory()
    import torch

    from rawdenoise.networks.repnr import RepNR
    from rawdenoise.registry import create_network, get_architecture
    from rawdenoise.training import loop
    from rawdenoise.training.precision import with_precision

    torch.manual_seed(0)
    spec = get_architecture("unet")
    repnr = RepNR(create_network(spec, spec.options({"channels": 24})), branches=5,
                  exclude=spec.repnr_exclude)  # fmt: skip
    repnr.set_stage("pretrain")
    params = repnr.trainable_parameters()
    net = with_precision(repnr, precision, torch.device("cpu"))
    make_adam = getattr(loop, "adam", None) or torch.optim.Adam  # trees before loop.adam
    optimizer = make_adam(params, lr=1e-4)
    noisy = torch.rand(batch, 4, crop, crop)
    target = torch.rand(batch, 4, crop, crop)
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = (net(noisy, branch=i % 5) - target).abs().mean()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    times = sorted(times[3:])
    return {
        "pure_step": times[len(times) // 2],
        "data": _data_seconds(batch, crop),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _data_seconds(batch: int, crop: int) -> float:
    """Median seconds to make one batch without the network: crops of the training frames
    and virtual-camera noise (what pretrain's worker thread makes ahead of each step)."""
    import time

    import torch

    from rawdenoise.training.datasets import CleanCrops
    from rawdenoise.training.noise_source import virtual_source

    try:
        from rawdenoise.training.frames import load_clean_frames
    except ImportError:  # a --baseline tree from before the module split
        from rawdenoise.training.datasets import load_clean_frames

    frames = load_clean_frames([SHARED / n for n in _train_frames()], cache=None)
    data = CleanCrops(frames, crop, (100, 300), multiple_of=16)
    source = virtual_source(5, 0)
    times = []
    for i in range(12):
        g = torch.Generator().manual_seed(i)
        start = time.perf_counter()
        clean, _scale, ratio = data.batch(batch, g)
        source(clean, ratio, i % 5, g)
        times.append(time.perf_counter() - start)
    return float(sorted(times[2:])[len(times[2:]) // 2])


def child_pretrain(precision: str, batch: int, crop: int, iterations: int, name: str) -> dict:
    from rawdenoise.training.pretrain import PretrainConfig, pretrain

    result = pretrain(
        PretrainConfig(
            inputs=[SHARED / n for n in _train_frames()],
            name=name,
            init="default",
            iterations=iterations,
            batch=batch,
            crop=crop,
            lr=5e-5,
            schedule="constant",
            loss="log-l1",
            augment="packed",
            sample_by="frame",
            seed=0,
            checkpoint_every=0,
            device="cpu",
            precision=precision,
            overwrite=True,
        )
    )
    return {"it_per_s": result.iterations_per_second, "peak_rss_mb": _peak_rss_mb()}


def _train_frames() -> tuple[str, ...]:
    """quality.py's TRAIN_FRAMES, read from its source: importing quality.py would import
    this tree's rawdenoise modules, which a --baseline tree may not have."""
    import ast

    tree = ast.parse((HERE.parent / "quality.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "TRAIN_FRAMES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("quality.py has no TRAIN_FRAMES")


def _run_child(tree: Path, home: Path, threads: int | None, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), RAWDENOISE_HOME=str(home))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, str(HERE), "--child", *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"child {args} in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _score(model_path: Path) -> dict[str, float]:
    import numpy as np

    sys.path.insert(0, str(HERE.parent))
    from quality import HELD_OUT, crops_of, noisy_version, run_model

    from rawdenoise.training.metrics import raw_metrics
    from rawdenoise.weights import load_model

    loaded = load_model(str(model_path))
    crops = [c for name in HELD_OUT for c in crops_of(SHARED / name, 4, 256, 7)]
    scores = {}
    for ratio in (100.0, 250.0):
        values = []
        for i, clean in enumerate(crops):
            noisy, *_ = noisy_version(clean, ratio, 7 * 1000 + i)
            net = loaded.network_for(ratio)
            values.append(raw_metrics(run_model(net, loaded.multiple_of, noisy), clean))
        scores[f"x{ratio:g}"] = float(np.mean([v[0] for v in values]))
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--baseline", type=Path, help="another rawdenoise checkout to compare with")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--no-score", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, precision, *rest = args.child
        if kind == "pure":
            result = child_pure(precision, args.batch, args.crop, 20)
        else:
            result = child_pretrain(precision, args.batch, args.crop, args.iterations, rest[0])
        print(json.dumps(result))
        return
    if not all((SHARED / n).is_file() for n in _train_frames()):
        raise SystemExit(f"training frames not found in {SHARED} (set RAWDENOISE_SHARED_DATA)")
    import torch

    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    home = Path(tempfile.mkdtemp(prefix="rawdenoise-train-speed-"))
    rows = {}
    for precision in args.precisions.split(","):
        for label, tree in trees:
            common = ["--batch", str(args.batch), "--crop", str(args.crop)]
            pure = _run_child(tree, home, args.threads, "pure", precision, *common)
            name = f"{label}-{precision}"
            e2e = _run_child(
                tree, home, args.threads, "pretrain", precision, name, *common,
                "--iterations", str(args.iterations),
            )  # fmt: skip
            rows[(label, precision)] = {
                "pure_it_s": 1 / pure["pure_step"],
                "data_share": pure["data"] / pure["pure_step"],
                "it_s": e2e["it_per_s"],
                "rss": e2e["peak_rss_mb"],
                "model": home / "data" / "models" / f"{name}.safetensors",
            }
    from rawdenoise.devices import cpu_has_native_bf16

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    print(f"{cpu}, {os.cpu_count()} cores (native bf16: {cpu_has_native_bf16()}), torch "
          f"{torch.__version__}, threads {args.threads or torch.get_num_threads()}")  # fmt: skip
    print(f"pretrain --init default (24-channel RepNR UNet, 5 virtual cameras), batch "
          f"{args.batch} x {args.crop} px, {args.iterations} iterations")  # fmt: skip
    header = f"{'tree':<9} {'precision':<9} {'pure it/s':>9} {'pretrain it/s':>13} " \
             f"{'step/pure':>9} {'data/step':>9} {'peak RSS':>9}"  # fmt: skip
    if not args.no_score:
        header += f" {'held-out x100 / x250 dB':>24}"
    print(header)
    for (label, precision), r in rows.items():
        line = (f"{label:<9} {precision:<9} {r['pure_it_s']:>9.2f} {r['it_s']:>13.2f} "
                f"{r['pure_it_s'] / r['it_s']:>9.2f} {r['data_share']:>9.0%} "
                f"{r['rss']:>7.0f} MB")  # fmt: skip
        if not args.no_score:
            s = _score(r["model"])
            line += f" {s['x100']:>12.2f} / {s['x250']:.2f}"
        print(line)
    if args.baseline:
        base_fp32 = rows.get(("baseline", "fp32"))
        for precision in args.precisions.split(","):
            new, old = rows[("this", precision)], rows[("baseline", precision)]
            text = f"speed-up {precision}: {new['it_s'] / old['it_s']:.2f}x the baseline's"
            if base_fp32 is not None and precision != "fp32":
                text += f", {new['it_s'] / base_fp32['it_s']:.2f}x the baseline's fp32"
            print(text)


if __name__ == "__main__":
    main()
