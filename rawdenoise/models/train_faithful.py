"""Reproduce the bundled ``faithful`` model: its recipe, and packing it into the package.

    python -m rawdenoise.models.train_faithful show
    python -m rawdenoise.models.train_faithful train FRAMES [--resume] [--device auto]
    python -m rawdenoise.models.train_faithful pack [MODEL_OR_CHECKPOINT]

``FRAMES`` is one folder of clean training DNGs: the three low-ISO GoPro frames of
``../shared/data`` (the HERO7 frame and the Sony ARW stay out: they are the benchmarks'
held-out content) and the 143 photographs of ``TRAINING_PHOTOS.tsv`` made into RGGB mosaics
(:mod:`rawdenoise.models.training_photos` gathers them from their packages,
:mod:`rawdenoise.models.photo_frames` unprocesses them). ``train`` runs ``rawdenoise
pretrain`` once per phase of :data:`PHASES`, each continuing from the one before, as the
model was trained (bf16, 2-core CPUs, about 8.5 h), then averages two phases' weights
(:data:`SOUP`) into the model :data:`SOUP_NAME`, continues that at high ratios
(:data:`HIGH_PHASES`, 2.4 h more) and blends the two by ratio (:data:`BLEND`) into the model
:data:`BLEND_NAME`; ``pack`` casts that (or a model or checkpoint it is given) to float16 and
writes ``rawdenoise/models/faithful.safetensors``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rawdenoise.models import train_default

#: The recipe as it was run: each phase continues from the one before (a fresh cosine cycle
#: each); the third was stopped at iteration 5,000 and the fourth started from its checkpoint.
PHASES: tuple[dict, ...] = (
    # from scratch: a UNet with a global residual, ratios drawn log-uniformly
    {"name": "faithful-1", "arch": "unet", "options": {"channels": 24, "residual": True},
     "iterations": 13000, "lr": 3e-4, "min_lr": 1e-5, "warmup": 200, "seed": 2026,
     "ratio_sampling": "log", "loss": "log-l1"},
    # half the crops at ratios 1-17, half above (a normally exposed photo is ratio 1)
    {"name": "faithful-2", "init": "faithful-1", "iterations": 11000, "lr": 2e-4,
     "min_lr": 1e-5, "seed": 2027, "loss": "log-l1"},
    {"name": "faithful-3", "init": "faithful-2", "iterations": 40000, "lr": 1.5e-4,
     "min_lr": 5e-6, "seed": 2028, "loss": "log-l1", "stop_at": 5000},
    # the level term: L1 trains towards the median, darker than the mean at a few electrons
    {"name": "faithful-4", "init_checkpoint": "faithful-3", "iterations": 1500, "lr": 1e-4,
     "min_lr": 1e-5, "warmup": 50, "seed": 2029, "loss": "log-l1-level"},
    {"name": "faithful-5", "init": "faithful-4", "iterations": 7000, "lr": 1e-4,
     "min_lr": 5e-6, "seed": 2031, "loss": "log-l1-level"},
    {"name": "faithful-6", "init": "faithful-5", "iterations": 9000, "lr": 6e-5,
     "min_lr": 3e-6, "seed": 2032, "loss": "log-l1-level"},
    # the grid term: the dot grid the up-sampling leaves on flat areas
    {"name": "faithful-7", "init": "faithful-6", "iterations": 10000, "lr": 4e-5,
     "min_lr": 2e-6, "seed": 2036, "loss": "log-l1-level-grid"},
    {"name": "faithful-8", "init": "faithful-7", "iterations": 12000, "lr": 2e-5,
     "min_lr": 1e-6, "seed": 2037, "loss": "log-l1-level-grid"},
    # the noisiest crops: the log losses give a crop at x250 from a high ISO a twentieth of a
    # low-noise crop's gradient, and the network left much of its noise in. Phase 9 started
    # from phase 8 as it was shipped (float16); phases 9 and 12 ran on one thread.
    {"name": "faithful-9", "init": "faithful-8", "init_float16": True, "iterations": 3000,
     "lr": 5e-5, "min_lr": 2e-6, "seed": 2041, "loss": "l1"},
    {"name": "faithful-10", "init": "faithful-9", "iterations": 10000, "lr": 8e-5,
     "min_lr": 2e-6, "seed": 2042, "loss": "l1-level-grid"},
    # the linear losses left a grid on low-noise content: the log, then the soft log
    {"name": "faithful-11", "init": "faithful-10", "iterations": 2000, "lr": 2e-5,
     "min_lr": 1e-6, "seed": 2043, "loss": "log-l1-level-grid"},
    {"name": "faithful-12", "init": "faithful-11", "iterations": 5000, "lr": 3e-5,
     "min_lr": 1e-6, "seed": 2045, "loss": "soft-log-l1-level-grid"},
)  # fmt: skip
#: The last step: phase 8 (as shipped, float16) and phase 12 averaged weight by weight, 0.3
#: and 0.7. Both descend from the same weights, so their average is a network too ("model
#: soups", Wortsman et al. 2022); measured, it adds less grid on the real ARW (0.45% of the
#: level) than either (0.48%, 0.60%) and keeps most of phase 12's gain on the noisiest crops
#: (its network alone moves the greens of dim areas apart, which the level lock puts back).
SOUP = ("faithful-8", "faithful-12", 0.7)
SOUP_NAME = "faithful-soup"
#: Then the soup (float16, as it was shipped before) continued at ratios 100-300 only, with
#: the plain L1 loss: the soup left noise in at x250 (colour mottle; behind blind BM3D by up
#: to 0.5 dB), which these phases remove; they forget low ratios (a grid on the ARW at ratio
#: 1, blur at x4-x30), which the blend below leaves to the soup. bf16, 2-core AMD EPYC, one
#: thread for the first two: 2.4 h in all.
HIGH_PHASES: tuple[dict, ...] = (
    {"name": "faithful-hi-1", "init": SOUP_NAME, "init_float16": True, "iterations": 7500,
     "lr": 5e-5, "min_lr": 2e-6, "seed": 2051, "loss": "l1", "ratio_range": (100, 300),
     "ratio_sampling": "log"},
    {"name": "faithful-hi-2", "init": "faithful-hi-1", "iterations": 5000, "lr": 3e-5,
     "min_lr": 2e-6, "seed": 2052, "loss": "l1", "ratio_range": (100, 300),
     "ratio_sampling": "log"},
    {"name": "faithful-hi-3", "init": "faithful-hi-2", "iterations": 4000, "lr": 2e-5,
     "min_lr": 1e-6, "seed": 2053, "loss": "l1", "ratio_range": (100, 300),
     "ratio_sampling": "log"},
)  # fmt: skip
#: The model: the soup (float16) up to ratio 50, the last high phase from ratio 60, their
#: weights interpolated by log ratio between (:mod:`rawdenoise.ratio_blend`). Measured on the
#: five quality draws, the last high phase scores below the soup up to about x50 (by 1-2 dB at
#: x4, 0.1-0.4 at x30), level with it at x50-60 and above it from x60 (+0.07 to +0.14 at x100,
#: +0.3 to +0.5 at x250); weights interpolated halfway score 0.05-0.15 dB below both, so the
#: band where they mix is kept narrow.
BLEND = (SOUP_NAME, "faithful-hi-3", 50.0, 60.0)
BLEND_NAME = "faithful-blend"
#: Settings all phases share.
COMMON = {
    "virtual_cameras": 5,
    "ratio_range": (1, 300),
    "ratio_sampling": "mixed",
    "batch": 8,
    "crop": 128,
    "warmup": 100,
    "checkpoint_every": 500,
    "noise_type": "ptrq",  # zero-mean: a network taught to subtract a bias shifts the level
    "sample_by": "frame",
    "precision": "bf16",
}
NAME = BLEND_NAME
PACKAGED = Path(__file__).resolve().parent / "faithful.safetensors"


def recipe_command(frames: Path, phase: dict) -> list[str]:
    """The ``rawdenoise pretrain`` command line of one phase (see :mod:`train_default`'s
    ``recipe_command`` for how a phase starts)."""
    r = {**COMMON, **phase}
    options = [f"-O{k}={str(v).lower() if isinstance(v, bool) else v}"
               for k, v in r.get("options", {}).items()]  # fmt: skip
    start = train_default.start_args(r, options)
    return [
        "rawdenoise", "pretrain", str(frames), "--name", r["name"], *start,
        "--virtual-cameras", str(r["virtual_cameras"]),
        "--ratio-range", f"{r['ratio_range'][0]},{r['ratio_range'][1]}",
        "--ratio-sampling", r["ratio_sampling"], "--augment-colour",
        "--noise-type", r["noise_type"], "--sample-by", r["sample_by"], "--loss", r["loss"],
        "--iterations", str(r["iterations"]), "--batch", str(r["batch"]),
        "--crop", str(r["crop"]), "--lr", str(r["lr"]), "--min-lr", str(r["min_lr"]),
        "--warmup", str(r["warmup"]), "--seed", str(r["seed"]),
        "--checkpoint-every", str(r["checkpoint_every"]), "--precision", r["precision"],
        *(["--stop-at", str(r["stop_at"])] if "stop_at" in r else []),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="run the recipe")
    t.add_argument("frames", type=Path, help="the folder of clean training DNGs")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--device", default="auto")
    train_default.add_pack_parser(sub, "faithful", NAME, PACKAGED)
    sub.add_parser("show", help="print the recipe as rawdenoise commands")
    args = ap.parse_args(argv)
    if args.what == "show":
        for phase in PHASES:
            print(" ".join(recipe_command(Path("FRAMES"), phase)))
        print(f"then: {_soup_step()}")
        for phase in HIGH_PHASES:
            print(" ".join(recipe_command(Path("FRAMES"), phase)))
        print(f"then: {_blend_step()}")
    elif args.what == "train":
        if not args.frames.is_dir():
            ap.error(f"{args.frames} is not a folder of training frames")
        for phases in (PHASES, HIGH_PHASES):
            train_default.run_phases(
                phases, lambda phase: recipe_command(args.frames, phase), args.resume, args.device
            )
            if phases is PHASES:
                soup()
        print(f"packed {_pack(blend(), PACKAGED)}")
    else:
        train_default.run_pack(ap, args.source or NAME, lambda source: _pack(source, args.out))


def soup() -> Path:
    """Average the phases :data:`SOUP` names into the model :data:`SOUP_NAME`; its file."""
    from rawdenoise.weights import model_path

    first, second, weight = SOUP
    start = train_default.float16_copy(first)  # phase 8 as it was shipped
    return average_weights(start, model_path(second), weight, model_path(SOUP_NAME))


def average_weights(first: Path, second: Path, weight: float, out: Path) -> Path:
    """Write ``(1 - weight) * first + weight * second``, tensor by tensor, as a float32 model
    file with ``second``'s metadata. Both must hold the same tensors (the same architecture
    and camera branches), as two runs from the same weights do."""
    import torch
    from safetensors.torch import load_file, save

    from rawdenoise.atomic import write_bytes_atomic
    from rawdenoise.errors import UsageError
    from rawdenoise.model_file import read_header

    a, b = load_file(str(first)), load_file(str(second))
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise UsageError(f"{first.name} and {second.name} do not hold the same tensors")
    state = {k: torch.lerp(a[k].float(), b[k].float(), weight).contiguous() for k in b}
    metadata, _ = read_header(second)
    write_bytes_atomic(out, save(state, metadata=metadata), overwrite=True)
    return out


def blend(overwrite: bool = True) -> Path:
    """Blend the models :data:`BLEND` names by ratio into the model :data:`BLEND_NAME`."""
    from rawdenoise.ratio_blend_file import write_blend
    from rawdenoise.weights import model_path

    low, high, low_ratio, high_ratio = BLEND
    start = train_default.float16_copy(low)  # the soup as it was shipped
    return write_blend(start, model_path(high), low_ratio, high_ratio, model_path(BLEND_NAME),
                       name=BLEND_NAME, overwrite=overwrite)  # fmt: skip


def _soup_step() -> str:
    first, second, weight = SOUP
    return f"{1 - weight:g} x {first} (float16) + {weight:g} x {second}, weight by weight"


def _blend_step() -> str:
    low, high, low_ratio, high_ratio = BLEND
    return (
        f"blended by ratio: {low} (float16) up to ratio {low_ratio:g}, {high} from "
        f"{high_ratio:g}, interpolated by log ratio between"
    )


def _pack(source: Path, out: Path) -> Path:
    return train_default.pack(
        source, out, name="faithful", phases=PHASES + HIGH_PHASES,
        then=f"averaged after {PHASES[-1]['name']}: {_soup_step()}; {_blend_step()}",
    )  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
