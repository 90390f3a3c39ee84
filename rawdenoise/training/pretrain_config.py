"""What a pretraining run is asked to do (:class:`PretrainConfig`), what it gives back
(:class:`PretrainResult`), and the checks of the configuration made before anything loads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawdenoise.errors import UsageError
from rawdenoise.training.checkpoint import checkpoint_path
from rawdenoise.training.datasets import (
    AUGMENT,
    RATIO_SAMPLING,
    SAMPLE_BY,
)
from rawdenoise.training.losses import LOSSES
from rawdenoise.training.precision import check_training_precision
from rawdenoise.training.schedule import SCHEDULES

#: Largest held-out crop side (packed px) used for validation.
HOLDOUT_CROP = 512


@dataclass
class PretrainConfig:
    inputs: Sequence[Path]
    name: str
    arch: str = "unet"
    options: dict[str, Any] = field(default_factory=dict)
    camera: str | None = None  #: a calibrated profile id instead of virtual cameras
    dark_frames: Path | None = None  #: a folder of dark frames instead of parametric noise
    noise: str = "parametric"  #: with ``camera``: "learned" uses the profile's learned noise
    virtual_cameras: int = 5
    ratio_range: tuple[int, int] = (100, 300)
    iterations: int = 20000
    batch: int = 8
    crop: int = 256
    lr: float = 2e-4
    min_lr: float = 1e-5
    schedule: str = "cosine"
    warmup: int = 0
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    checkpoint_every: int = 1000
    holdout: int = 0
    overwrite: bool = False
    noise_type: str = "ptrqc"
    stop_after: int | None = None  #: stop (with a checkpoint) after N iterations this session
    stop_at: int | None = None  #: pause (with a checkpoint) once iteration N is done (--stop-at)
    threads: int | None = None  #: torch CPU threads (None: torch's default)
    init: str | None = None  #: start from this model's weights (name or file) instead of random
    sample_by: str = "pixel"  #: "pixel" (area-weighted) or "frame" (each frame equally often)
    loss: str = "l1"  #: see :mod:`rawdenoise.training.losses`
    augment: str = "bayer"  #: see :data:`rawdenoise.training.datasets.AUGMENT`
    ratio_sampling: str = "uniform"  #: see :data:`rawdenoise.training.datasets.RATIO_SAMPLING`
    augment_colour: bool = False  #: random exposure / white balance per crop (ColourJitter)
    augment_ca: bool = False  #: random lateral chromatic aberration per crop (ChromaticShift)
    precision: str = "fp32"  #: see :mod:`rawdenoise.training.precision`


@dataclass
class PretrainResult:
    path: Path
    iterations: int
    seconds: float
    iterations_per_second: float
    main_process: bool  #: False on the other ranks of a torchrun job (they save nothing)
    loss: float
    holdout: dict[str, float] | None
    crop: int
    frames: int
    #: ``--stop-at``: the iteration it paused at; ``path`` is then the checkpoint, no model
    paused_at: int | None = None
    #: input files that could not be decoded and were left out (each was warned about)
    left_out: tuple[str, ...] = ()


def _validate(cfg: PretrainConfig) -> None:
    """Every setting checked before anything is loaded (NaN and infinity refused)."""
    from rawdenoise.training.options import check_finite

    lo, hi = cfg.ratio_range
    if not (math.isfinite(lo) and math.isfinite(hi) and 1 <= lo <= hi):
        raise UsageError(f"--ratio-range needs 1 <= low <= high, got {lo},{hi}")
    for what, value in (("iterations", cfg.iterations), ("batch", cfg.batch), ("crop", cfg.crop)):
        if value < 1:
            raise UsageError(f"--{what} must be at least 1")
    if check_finite(cfg.lr, "--lr") <= 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr:g}")
    if check_finite(cfg.min_lr, "--min-lr") < 0:
        raise UsageError(f"--min-lr must be >= 0, got {cfg.min_lr:g}")
    if cfg.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {cfg.warmup}")
    if cfg.virtual_cameras < 1:  # also checked by virtual_source, but only after --init loads
        raise UsageError("--virtual-cameras must be at least 1")
    _check_noise_type(cfg.noise_type)
    if cfg.schedule not in SCHEDULES:
        raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)}")
    if cfg.holdout < 0:
        raise UsageError("--holdout must be >= 0")
    if cfg.checkpoint_every < 0:
        raise UsageError("--checkpoint-every must be >= 0")
    if cfg.stop_at is not None and cfg.stop_at < 1:
        raise UsageError(f"--stop-at must be at least 1, got {cfg.stop_at}")
    if cfg.loss not in LOSSES:
        raise UsageError(f"--loss must be one of {', '.join(LOSSES)}")
    if cfg.sample_by not in SAMPLE_BY:
        raise UsageError(f"--sample-by must be one of {', '.join(SAMPLE_BY)}")
    if cfg.augment not in AUGMENT:
        raise UsageError(f"--augment must be one of {', '.join(AUGMENT)}")
    if cfg.ratio_sampling not in RATIO_SAMPLING:
        raise UsageError(f"--ratio-sampling must be one of {', '.join(RATIO_SAMPLING)}")
    cfg.precision = check_training_precision(cfg.precision)
    if cfg.noise not in ("parametric", "learned"):
        raise UsageError("--noise must be parametric or learned")
    if cfg.noise == "learned" and not cfg.camera:
        raise UsageError(
            "--noise learned needs --camera ID (a profile calibrated with --learn-noise)"
        )
    if cfg.noise == "learned" and cfg.dark_frames is not None:
        raise UsageError("--noise learned and --dark-frames are two different noise sources")
    if cfg.camera and cfg.dark_frames is None and cfg.virtual_cameras != 5:
        raise UsageError("--virtual-cameras does not apply with --camera")


def _check_noise_type(noise_type: str) -> None:
    from rawdenoise.noise.generator import NOISE_LETTERS_HELP, check_noise_type

    try:
        check_noise_type(noise_type)
    except ValueError as exc:
        message = str(exc)
        letters = f"; use {NOISE_LETTERS_HELP}"
        hint = f"use one or more of {NOISE_LETTERS_HELP}" if message.endswith(letters) else None
        raise UsageError(f"--noise-type: {message.removesuffix(letters)}", hint=hint) from exc


def output_path(name: str, overwrite: bool) -> Path:
    """The model file for ``name``; refused before training if it exists or is a bundled name."""
    from rawdenoise.errors import OutputExistsError
    from rawdenoise.model_names import check_model_name, check_not_bundled
    from rawdenoise.weights import model_path

    check_model_name(name)
    check_not_bundled(name, hint="train under another name")
    path = model_path(name)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"a model named {name!r} exists ({path})", path=path)
    # where the result and the checkpoints go must be writable before any training
    from rawdenoise.atomic import check_writable_folder

    check_writable_folder(path.parent)
    check_writable_folder(checkpoint_path("pretrain", name).parent)
    return path
