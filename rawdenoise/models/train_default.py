"""Reproduce the bundled ``default`` model: its recipe, and packing it into the package.

    python -m rawdenoise.models.train_default train --data ../shared/data --sources SRC [--resume]
    python -m rawdenoise.models.train_default pack [MODEL_OR_CHECKPOINT]

``train`` runs ``rawdenoise pretrain`` five times with the recipe below (:data:`PHASES`):
twice on the clean low-ISO GoPro frames of ``../shared/data`` (the HERO7 frame is held out
for ``tests/benchmarks/quality.py``), then, with the log-L1 loss, adding two frames of fine
texture, sRGB photographs "unprocessed" into RGGB mosaics (:func:`build_unprocessed`; ``SRC``
is the folder where the two packages named in :data:`SHEET`'s comment were unpacked): once
at 16 channels, then grown to 24 channels for a long run at a high learning rate, paused,
and annealed from its checkpoint. ``pack`` casts a finished model, or an interrupted run's
checkpoint, to float16 and writes it to ``rawdenoise/models/default.safetensors`` with its
metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Clean frames the default model is trained on (files of ../shared/data, see its MANIFEST).
TRAIN_FRAMES = (
    "gopro_hero6_iso100_GOPR0024.dng",
    "gopro_fusion_front_iso100_GPFR7066.dng",
    "gopro_fusion_back_iso100_GPBK7066.dng",
)
#: Held out for the quality benchmark.
HELD_OUT_FRAMES = ("gopro_hero7_iso252_GOPR9231.dng",)
#: The camera whose colour matrix and white balance the unprocessed frames take.
UNPROCESS_AS = "gopro_hero6_iso100_GOPR0024.dng"

#: sRGB photographs with fine texture, "unprocessed" into RGGB frames (Brooks et al. 2019),
#: from two registry packages: (package, path inside it, licence). Unpack both into one folder:
#: ``apt-get download libjxl-testdata && dpkg-deb -x libjxl-testdata_*.deb SRC`` (Debian
#: bookworm, 0.0~git20230110.d6168ff-1) and ``pip download scikit-image==0.26.0 --no-deps
#: --only-binary :all: && unzip scikit_image-*.whl 'skimage/data/*' -d SRC``.
FLOWER = (
    "libjxl-testdata",
    "usr/share/libjxl-testdata/jxl/flower/flower.png",
    "BSD-3-Clause, the JPEG XL Project Authors",
)
SHEET = (
    *[("libjxl-testdata", f"usr/share/libjxl-testdata/external/wesaturate/500px/{n}",
       "CC0 (wesaturate.com)")
      for n in ("cvo9xd_keong_macan_srgb8.png", "tmshre_riaphotographs_srgb8.png",
                "u76c0g_bliznaca_srgb8.png")],
    *[("scikit-image", f"skimage/data/{n}", lic)
      for n, lic in (("astronaut.png", "public domain (NASA)"),
                     ("coffee.png", "CC0 (Rachel Michetti)"),
                     ("chelsea.png", "CC0 (Stefan van der Walt)"),
                     ("rocket.jpg", "public domain (SpaceX)"),
                     ("brick.png", "CC0 (cc0textures.com)"),
                     ("grass.png", "CC0 (DeviantArt linolafett)"),
                     ("gravel.png", "CC0 (cc0textures.com)"))],
)  # fmt: skip
#: Their frames, written by :func:`build_unprocessed` (``train``: under the cache folder).
UNPROCESSED_FRAMES = ("unprocessed_flower.dng", "unprocessed_sheet.dng")

#: The recipe: ``rawdenoise pretrain`` runs, each continuing from the one before (the second
#: with a fresh, lower cosine cycle: the first had flattened out at its final learning rate).
PHASES: tuple[dict, ...] = (
    {
        "name": "default-recipe",
        "arch": "unet",
        "options": {"channels": 16},
        "iterations": 6000,
        "lr": 2e-4,
        "min_lr": 1e-5,
        "warmup": 100,
    },
    {"name": "default-recipe-2", "init": "default-recipe", "iterations": 5400, "lr": 1e-4,
     "min_lr": 5e-6, "warmup": 50},
    # the network blurred bright fine texture: add the unprocessed texture frames (each of the
    # five frames drawn equally often) and count every crop's error in dB (log-L1)
    {"name": "default-recipe-3", "init": "default-recipe-2", "iterations": 4000, "lr": 1e-4,
     "min_lr": 5e-6, "warmup": 50, "unprocessed": True, "sample_by": "frame",
     "loss": "log-l1"},
    # the 16-channel network had levelled off: grow it to 24 channels (Net2WiderNet, same
    # output to start from) and train at a high learning rate on a long cosine... (it started
    # from the float16 file phase 3 was shipped as, and was paused at iteration 15400)
    {"name": "default-recipe-4", "init": "default-recipe-3", "init_float16": True,
     "options": {"channels": 24}, "iterations": 30000, "lr": 2e-4, "min_lr": 5e-6,
     "warmup": 200, "unprocessed": True, "sample_by": "frame", "loss": "log-l1",
     "stop_at": 15400},
    # ...then anneal from its checkpoint: a short cosine from where its learning rate was
    {"name": "default-recipe-5", "init_checkpoint": "default-recipe-4", "iterations": 3000,
     "lr": 9.94e-5, "min_lr": 5e-6, "warmup": 50, "seed": 2027, "unprocessed": True,
     "sample_by": "frame", "loss": "log-l1"},
)  # fmt: skip
#: Settings all phases share.
COMMON = {
    "virtual_cameras": 5,
    "ratio_range": (100, 300),
    "batch": 8,
    "crop": 128,
    "schedule": "cosine",
    "seed": 2026,
    "checkpoint_every": 200,
    # the shipped file was trained with LED's flips of the packed array, before rawdenoise
    # kept the Bayer block's arrangement (``--augment bayer``, the default now)
    "augment": "packed",
}
NAME = PHASES[-1]["name"]
PACKAGED = Path(__file__).resolve().parent / "default.safetensors"


def build_unprocessed(sources: Path, data: Path, out: Path, overwrite: bool = False) -> list[Path]:
    """Write :data:`UNPROCESSED_FRAMES` into ``out`` from the unpacked packages in ``sources``."""
    import imageio.v3 as iio
    import numpy as np

    from rawdenoise.training.unprocess import (
        contact_sheet,
        read_camera_colour,
        unprocess,
        write_unprocessed_dng,
    )

    colour = read_camera_colour(data / UNPROCESS_AS)
    missing = [p for _, p, _ in (FLOWER, *SHEET) if not (sources / p).is_file()]
    if missing:
        raise SystemExit(f"missing under {sources}: {', '.join(missing)} (see SHEET's comment)")
    targets = [out / name for name in UNPROCESSED_FRAMES]

    def flower() -> np.ndarray:
        return unprocess(iio.imread(sources / FLOWER[1]), colour)

    def sheet() -> np.ndarray:
        small = [unprocess(iio.imread(sources / p), colour) for _, p, _ in SHEET]
        # tallest first, 1140 px wide: the tightest shelf packing of these 10 images (88% full)
        return contact_sheet(sorted(small, key=lambda m: -m.shape[0]), 1140)

    for target, make, what in zip(
        targets, (flower, sheet), ("flower.png", f"{len(SHEET)} images"), strict=True
    ):
        if target.exists() and not overwrite:
            print(f"{target}: exists, kept")
        else:
            write_unprocessed_dng(target, make(), colour, source=what, overwrite=overwrite)
            print(f"wrote {target}")
    return targets


def float16_path(name: str) -> Path:
    """Where ``train`` packs phase ``name``'s model as float16, for ``init_float16``."""
    from rawdenoise.dirs import cache_dir

    return cache_dir() / "recipe" / f"{name}-float16.safetensors"


def float16_copy(name: str) -> Path:
    """Phase ``name``'s model packed as float16 (as a bundled model is shipped), packed on
    first use; its file."""
    from rawdenoise.weights import model_path

    path = float16_path(name)
    if not path.exists():
        pack(model_path(name), path)
    return path


def phase_checkpoint(name: str) -> Path:
    """Where the pretrain run of phase ``name`` keeps its checkpoint."""
    from rawdenoise.training.checkpoint import checkpoint_path

    return checkpoint_path("pretrain", name)


def start_args(r: dict, options: list[str]) -> list[str]:
    """Where phase ``r`` starts, as ``pretrain`` arguments (:func:`recipe_command` says how)."""
    if "init_checkpoint" in r:
        return ["--init", str(phase_checkpoint(r["init_checkpoint"])), *options]
    if "init" in r:
        init = str(float16_path(r["init"])) if r.get("init_float16") else r["init"]
        return ["--init", init, *options]
    return ["--arch", r["arch"], *options]


def recipe_command(data: Path, phase: dict, unprocessed: Path = Path("unprocessed")) -> list[str]:
    """The ``rawdenoise pretrain`` command line of one phase.

    A phase starts from random weights (``arch``, ``options``), from an earlier phase's model
    (``init``; ``options`` then grow it; with ``init_float16`` from that model packed as
    float16, as it was shipped) or from an earlier phase's checkpoint (``init_checkpoint``:
    that phase paused at its ``stop_at`` iteration).
    """
    r = {**COMMON, **phase}
    frames = [str(data / f) for f in TRAIN_FRAMES]
    if r.get("unprocessed"):
        frames += [str(unprocessed / f) for f in UNPROCESSED_FRAMES]
    start = start_args(r, [f"-O{k}={v}" for k, v in r.get("options", {}).items()])
    return [
        "rawdenoise", "pretrain", *frames, "--name", r["name"],
        *start,
        "--virtual-cameras", str(r["virtual_cameras"]),
        "--ratio-range", f"{r['ratio_range'][0]},{r['ratio_range'][1]}",
        "--iterations", str(r["iterations"]), "--batch", str(r["batch"]),
        "--crop", str(r["crop"]), "--lr", str(r["lr"]), "--min-lr", str(r["min_lr"]),
        "--schedule", r["schedule"], "--warmup", str(r["warmup"]), "--seed", str(r["seed"]),
        "--checkpoint-every", str(r["checkpoint_every"]), "--augment", r["augment"],
        *(["--sample-by", r["sample_by"]] if "sample_by" in r else []),
        *(["--loss", r["loss"]] if "loss" in r else []),
        *(["--stop-at", str(r["stop_at"])] if "stop_at" in r else []),
    ]  # fmt: skip


def _paused_at(name: str) -> int | None:
    """The iteration phase ``name``'s checkpoint holds, if it has one."""
    from rawdenoise.training.checkpoint import load_checkpoint

    path = phase_checkpoint(name)
    return load_checkpoint(path).iteration if path.exists() else None


def train(data: Path, sources: Path, resume: bool, device: str) -> Path:
    """Run the phases in order; a phase whose model exists already is skipped."""
    from rawdenoise.dirs import cache_dir

    unprocessed = cache_dir() / "unprocessed"
    build_unprocessed(sources, data, unprocessed)
    return run_phases(
        PHASES, lambda phase: recipe_command(data, phase, unprocessed), resume, device
    )


def run_phases(
    phases: tuple[dict, ...], command: Callable[[dict], list[str]], resume: bool, device: str
) -> Path:
    """Run ``rawdenoise pretrain`` for each phase (``command`` gives its command line) in order,
    skipping a phase whose model (or, for one that pauses, checkpoint) exists already; the last
    phase's model file."""
    from rawdenoise.cli import main
    from rawdenoise.weights import model_path

    for phase in phases:
        name = phase["name"]
        if "stop_at" in phase:  # its result is the checkpoint where it pauses
            reached = _paused_at(name)
            if reached is not None and reached >= phase["stop_at"]:
                print(f"{name}: done already ({phase_checkpoint(name)})")
                continue
            again = reached is not None
        elif model_path(name).exists():
            print(f"{name}: done already ({model_path(name)})")
            continue
        else:
            again = resume
        if phase.get("init_float16"):
            float16_copy(phase["init"])
        argv = command(phase)[1:] + ["--device", device]
        code = main(argv + (["--resume"] if again else []))
        if code:
            raise SystemExit(code)
    return model_path(phases[-1]["name"])


def pack(
    source: Path,
    out: Path = PACKAGED,
    *,
    name: str = "default",
    phases: tuple[dict, ...] = (),
    then: str = "",
) -> Path:
    """Write ``source`` (model file or checkpoint) as float16 safetensors to ``out``, as the
    bundled model ``name`` with the recipe ``phases`` (default: this module's) and ``then``,
    a step after them, recorded in its metadata."""
    import torch
    from safetensors.torch import load_file, save

    from rawdenoise.atomic import write_bytes_atomic
    from rawdenoise.model_file import read_header
    from rawdenoise.weights import load_model, save_model

    tmp_full = out.with_suffix(".full.safetensors")
    if source.suffix == ".ckpt":  # an unfinished run: its camera branches, averaged
        loaded = load_model(str(source))
        save_model(tmp_full, loaded.repnr, loaded.info, overwrite=True)
        source = tmp_full
    metadata, _ = read_header(source)
    meta = json.loads(metadata["rawdenoise"])
    phases = phases or PHASES
    meta["name"] = name
    extra = meta.setdefault("extra", {})
    extra["stored_dtype"] = "float16"
    last = phases[-1]  # runs from before pretrain recorded these settings lack them
    extra.setdefault("loss", last.get("loss", "l1"))
    extra.setdefault("sample_by", last.get("sample_by", "pixel"))
    if "init" in extra:  # a file on the training machine: keep its name, not its path
        extra["init"] = Path(extra["init"]).stem
    extra["recipe"] = "; ".join(
        f"{p['name']}: {p['iterations']} iterations, lr {p['lr']:g} cosine to {p['min_lr']:g}"
        + (f", paused at {p['stop_at']}" if "stop_at" in p else "")
        + (f", from {p['init']}" if "init" in p else "")
        + (f", from {p['init_checkpoint']}'s checkpoint" if "init_checkpoint" in p else "")
        + (f", grown to {p['options']}" if "options" in p and "arch" not in p else "")
        + (", with the unprocessed texture frames" if p.get("unprocessed") else "")
        + (f", {p['loss']} loss" if "loss" in p else "")
        for p in phases
    ) + (f"; {then}" if then else "")
    metadata["rawdenoise"] = json.dumps(meta)
    state = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(source)).items()}
    write_bytes_atomic(out, save(state, metadata=metadata), overwrite=True)
    tmp_full.unlink(missing_ok=True)
    load_model(out)  # must load back
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="run the recipe")
    t.add_argument("--data", type=Path, default=Path("../shared/data"))
    t.add_argument(
        "--sources",
        type=Path,
        required=True,
        help="folder with libjxl-testdata and scikit-image unpacked (see SHEET)",
    )
    t.add_argument("--resume", action="store_true")
    t.add_argument("--device", default="auto")
    add_pack_parser(sub, "default", NAME, PACKAGED)
    sub.add_parser("show", help="print the recipe as a rawdenoise command")
    args = ap.parse_args(argv)
    if args.what == "show":
        for phase in PHASES:
            print(" ".join(recipe_command(Path("../shared/data"), phase, Path("UNPROCESSED"))))
    elif args.what == "train":
        model = train(args.data, args.sources, args.resume, args.device)
        print(f"trained {model}; pack it with: python -m rawdenoise.models.train_default pack")
        pack(model)
    else:
        run_pack(ap, args.source or NAME, lambda source: pack(source, args.out))


def add_pack_parser(sub: Any, bundled: str, last_phase: str, out: Path) -> None:
    """The ``pack`` subcommand of a bundled model's recipe."""
    p = sub.add_parser("pack", help=f"cast a model or checkpoint to float16 as bundled {bundled}")
    p.add_argument("source", nargs="?", help=f"a file or a model's name (default: {last_phase})")
    p.add_argument("--out", type=Path, default=out)


def run_pack(ap: argparse.ArgumentParser, given: str, pack_fn: Callable[[Path], Path]) -> None:
    """``pack``: resolve ``given`` (a file or a model's name; a usage error if neither) and
    pack it with ``pack_fn``."""
    source = pack_source(given)
    if source is None:
        ap.error(f"no model file, checkpoint or model named {given!r}")
    print(f"packed {pack_fn(source)}")


def pack_source(given: str) -> Path | None:
    """``given`` as a file if it is one, else as a model's name; None if neither exists."""
    from rawdenoise.errors import UsageError
    from rawdenoise.weights import model_path

    if Path(given).is_file():
        return Path(given)
    try:
        named = model_path(given)
    except UsageError:  # not a valid name (a path, say)
        return None
    return named if named.is_file() else None


if __name__ == "__main__":
    main(sys.argv[1:])
