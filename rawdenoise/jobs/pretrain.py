"""The job behind ``rawdenoise pretrain``: options -> a
:class:`~rawdenoise.training.pretrain.PretrainConfig` -> training under a run lock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError


@dataclass(frozen=True)
class PretrainOptions:
    """One field per option of ``rawdenoise pretrain`` (same defaults). ``option`` holds
    ``KEY=VALUE`` strings, ``ratio_range`` is ``LOW,HIGH``; the other fields are the
    :class:`~rawdenoise.training.pretrain.PretrainConfig` fields of the same name."""

    clean: tuple[Path, ...]
    name: str
    arch: str = "unet"
    option: tuple[str, ...] = ()
    camera: str | None = None
    dark_frames: Path | None = None
    noise: str = "parametric"
    virtual_cameras: int = 5
    ratio_range: str = "100,300"
    iterations: int = 20000
    batch: int = 8
    crop: int = 256
    lr: float = 2e-4
    min_lr: float = 1e-5
    schedule: str = "cosine"
    warmup: int = 0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    checkpoint_every: int = 1000
    stop_at: int | None = None
    holdout: int = 0
    noise_type: str = "ptrqc"
    init: str | None = None
    sample_by: str = "pixel"
    loss: str = "l1"
    augment: str = "bayer"
    ratio_sampling: str = "uniform"
    augment_colour: bool = False
    augment_ca: bool = False
    precision: str = "fp32"
    overwrite: bool = False


def pretrain_config(options: PretrainOptions) -> Any:
    """The training configuration of these options (raises a UsageError for a bad value)."""
    from rawdenoise.training.options import parse_options, parse_pair
    from rawdenoise.training.pretrain_config import PretrainConfig

    lo, hi = parse_pair(options.ratio_range, "--ratio-range", int)
    same = {f.name for f in dataclasses.fields(PretrainConfig)} & {
        f.name for f in dataclasses.fields(PretrainOptions)
    }
    return PretrainConfig(
        **{key: getattr(options, key) for key in same - {"ratio_range"}},
        inputs=list(options.clean),
        options=parse_options(list(options.option)),
        ratio_range=(lo, hi),
    )


def pretrain(
    options: PretrainOptions,
    *,
    progress: Any = None,
    info: Callable[[str], None] = lambda _m: None,
    warn: Callable[[str], None] = lambda _m: None,
) -> Any:
    """Train a base model as ``rawdenoise pretrain`` does; returns the training's result
    (``left_out``: clean files that could not be decoded, see :func:`left_out_error`)."""
    from rawdenoise import heap
    from rawdenoise.interrupts import preload

    heap.keep_freed_memory()  # each step's activations reuse the last one's pages
    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.training.checkpoint import run_lock
    from rawdenoise.training.pretrain import pretrain as run_pretrain

    cfg = pretrain_config(options)
    with run_lock("pretrain", options.name):  # a second run of this name at once is refused
        return run_pretrain(cfg, progress=progress, info=info, warn=warn)


def left_out_error(result: Any) -> InputError | None:
    """A batch goes on past a bad file, then says so in its exit code (3)."""
    if not result.left_out:
        return None
    n = len(result.left_out)
    return InputError(
        f"{n} of the clean RAW files could not be decoded and {'is' if n == 1 else 'are'} not "
        "in the training data (reasons above)",
        hint="fix or remove them, then train again (--overwrite) to use them",
    )
