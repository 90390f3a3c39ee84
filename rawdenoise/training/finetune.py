"""Fine-tuning a base model to one camera from a few pairs: LED's two stages (method.md §4).

1. The base model's RepNR wrapper (a plain base is wrapped first, its branch at identity) gets
   its target branch set to the mean of the camera branches (``generalize``) and zero-initial
   auxiliary convs.
2. Alignment: only the target branch's channel scale/shift trains (LED: 1000 iterations, Adam
   1e-4). 3. Out-of-model noise: only the auxiliary convs train (LED: 500 iterations, 1e-5).
   L1 loss on random crops of the pairs (crop, flips, transpose), input ``min(noisy*ratio, 1)``.
4. The wrapper is re-parameterized into a plain network (``deploy``) and saved with metadata.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rawdenoise import interrupts
from rawdenoise.errors import NetworkOutputError, UsageError
from rawdenoise.registry import network_fault
from rawdenoise.training import device as devices
from rawdenoise.training import loop
from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint
from rawdenoise.training.datasets import PairCrops, load_pair_data
from rawdenoise.training.losses import check_output_shape
from rawdenoise.training.precision import check_training_precision, precision_warning
from rawdenoise.training.presets import PRESETS, format_duration
from rawdenoise.training.progress import ProgressSink
from rawdenoise.training.seeding import seed_everything

SETTINGS = (
    "iterations", "lr", "crop", "batch", "seed", "device", "checkpoint_every", "precision",
)  # fmt: skip
#: keys a ``--config`` TOML file may hold
CONFIG_KEYS = ("model", "name", "root", "preset", *SETTINGS)


@dataclass
class FinetuneConfig:
    pairs: Path
    model: str
    name: str
    root: Path | None = None
    preset: str = "paper"
    iterations: tuple[int, int] = (1000, 500)
    lr: tuple[float, float] = (1e-4, 1e-5)
    crop: int = 1024
    batch: int = 1
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    checkpoint_every: int = 100
    overwrite: bool = False
    stop_after: int | None = None  #: stop (with a checkpoint) after N iterations this session
    stop_at: int | None = None  #: pause (with a checkpoint) once iteration N is done (--stop-at)
    threads: int | None = None  #: torch CPU threads (None: torch's default)
    precision: str = "fp32"  #: see :mod:`rawdenoise.training.precision`
    #: time one training step first and report the whole run's estimated duration
    estimate: bool = False
    #: why ``preset`` was chosen when the user named none (reported before training)
    preset_note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinetuneResult:
    path: Path
    iterations: tuple[int, int]
    seconds: float
    iterations_per_second: float
    main_process: bool  #: False on the other ranks of a torchrun job (they save nothing)
    loss: float
    crop: int
    pairs: int
    camera: str
    #: ``--stop-at``: the iteration it paused at; ``path`` is then the checkpoint, no model
    paused_at: int | None = None


def _as_pair(value: Any, what: str, kind: type) -> tuple[Any, Any]:
    from rawdenoise.training.options import parse_pair

    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise UsageError(f"{what} expects two values (alignment, aux), got {value!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise UsageError(f"{what} expects two numbers (alignment, aux), got {value!r}")
        value = ",".join(str(v) for v in value)
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{what} expects 'A,B' or a number, got {value!r}")
    return parse_pair(str(value), what, kind)


def resolve_settings(
    preset: str, config: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Preset values, overridden by the config file, overridden by the command line."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}", hint=f"use one of {', '.join(PRESETS)}")
    out: dict[str, Any] = {
        **PRESETS[preset],
        "seed": 0,
        "device": "auto",
        "checkpoint_every": 100,
        "precision": "fp32",
    }
    for layer in (config, given):
        out.update({k: v for k, v in layer.items() if k in SETTINGS and v is not None})
    out["iterations"] = _as_pair(out["iterations"], "--iterations", int)
    out["lr"] = _as_pair(out["lr"], "--lr", float)
    for key in ("crop", "batch", "seed", "checkpoint_every"):
        try:
            out[key] = int(out[key])
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{key} must be an integer, got {out[key]!r}") from exc
    out["device"] = str(out["device"])
    out["precision"] = str(out["precision"])  # checked with the rest in _validate
    return out


#: torch.manual_seed takes any 64-bit seed, signed or not
SEED_RANGE = (-(2**63), 2**64 - 1)
_STRING_KEYS = ("model", "name", "root", "preset", "device", "precision")
_INTEGER_KEYS = ("crop", "batch", "seed", "checkpoint_every")


def _validate(cfg: FinetuneConfig) -> None:
    _check_iterations(cfg.iterations, "--iterations")
    _check_lr(cfg.lr, "--lr")
    for key in _INTEGER_KEYS:
        _check_integer(key, getattr(cfg, key), "--" + key.replace("_", "-"))
    if cfg.stop_at is not None and cfg.stop_at < 1:
        raise UsageError(f"--stop-at must be at least 1, got {cfg.stop_at}")
    cfg.precision = check_training_precision(cfg.precision)


def _check_iterations(value: tuple[int, int], what: str) -> None:
    a, b = value
    if a < 0 or b < 0 or a + b < 1:
        raise UsageError(f"{what} needs two counts >= 0, not both 0 (alignment,aux)")


def _check_lr(value: tuple[float, float], what: str) -> None:
    if not all(math.isfinite(v) and v > 0 for v in value):
        raise UsageError(f"{what} needs two positive, finite learning rates (alignment,aux)")


def _check_integer(key: str, value: int, what: str) -> None:
    """``crop``/``batch`` >= 1, ``checkpoint_every`` >= 0, a 64-bit ``seed``."""
    if key in ("crop", "batch") and value < 1:
        raise UsageError(f"{what} must be at least 1, got {value}")
    if key == "checkpoint_every" and value < 0:
        raise UsageError(f"{what} must be >= 0, got {value}")
    if key == "seed" and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise UsageError(f"{what} must be a 64-bit integer, got {value}")


def check_config(values: Mapping[str, Any], path: Path) -> None:
    """Refuse a ``--config`` value of the wrong type or out of range, naming the key and file.

    Strings must be non-empty strings, ``crop``/``batch``/``seed``/``checkpoint_every`` TOML
    integers (``seed = 1.5`` is not truncated), ``iterations``/``lr`` an ``"A,B"`` string, a
    number or a two-item array of finite numbers (whole ones for ``iterations``).
    """
    for key, value in values.items():
        try:
            _check_config_value(key, value)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc.message}", hint=exc.hint) from None


def _check_config_value(key: str, value: Any) -> None:
    if key in _STRING_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise UsageError(
                f"{key} must be a non-empty string, got {value!r}", hint=f'write {key} = "..."'
            )
    elif key in _INTEGER_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{key} must be an integer, got {value!r}")
        _check_integer(key, value, key)
    elif key == "iterations":
        _check_iterations(_as_pair(value, key, int), key)
    elif key == "lr":
        _check_lr(_as_pair(value, key, float), key)


def prepare_repnr(loaded: Any) -> tuple[Any, str]:
    """The RepNR wrapper to fine-tune, and what was done to get it."""
    from rawdenoise.networks.repnr import RepNR

    if loaded.repnr is not None:
        repnr = loaded.repnr
        if repnr.has_aux:
            note = "continuing a fine-tuned RepNR model (target branch kept)"
        else:
            repnr.generalize()
            note = f"RepNR base with {repnr.branches} camera branches, target = their mean"
    else:
        repnr = RepNR(loaded.network, branches=1, exclude=loaded.spec.repnr_exclude)
        repnr.generalize()
        note = "plain base model wrapped in RepNR (alignment at identity)"
    repnr.add_aux()
    return repnr, note


def finetune(
    cfg: FinetuneConfig,
    *,
    progress: ProgressSink | None = None,
    info: Callable[[str], None] = lambda _m: None,
    warn: Callable[[str], None] = lambda _m: None,
) -> FinetuneResult:
    """Adapt ``cfg.model`` to the camera of ``cfg.pairs`` and save it as ``cfg.name``."""
    with devices.cpu_threads(cfg.threads):
        return _finetune(cfg, progress=progress, info=info, warn=warn)


def _finetune(
    cfg: FinetuneConfig,
    *,
    progress: ProgressSink | None,
    info: Callable[[str], None],
    warn: Callable[[str], None],
) -> FinetuneResult:
    from rawdenoise.pairing import load_pairs
    from rawdenoise.specs import ModelInfo
    from rawdenoise.training.pretrain_config import output_path
    from rawdenoise.weights import load_model, save_model

    _validate(cfg)
    out_path = output_path(cfg.name, cfg.overwrite)
    ckpt = checkpoint_path("finetune", cfg.name)
    refuse_stale_checkpoint(
        ckpt, "fine-tune", cfg.name, resume=cfg.resume, start_over=cfg.overwrite
    )
    pairs = load_pairs(cfg.pairs, cfg.root)  # one InputError before anything is trained
    loaded = load_model(cfg.model)
    blended = loaded.blend is not None
    if blended:  # a ratio blend: the weights at the pairs' (geometric) mean ratio
        loaded = loaded.at_ratio(math.exp(sum(math.log(p.ratio) for p in pairs) / len(pairs)))
    spec = loaded.spec
    ctx, device = devices.setup(cfg.device)
    try:
        slow = precision_warning(cfg.precision, device)
        if slow and ctx.is_main:
            warn(slow)
        if not ctx.is_main:  # one voice: rank 0 reports for all processes
            info = _quiet
        data = PairCrops(load_pair_data(pairs), cfg.crop, multiple_of=spec.multiple_of)
        if data.crop < cfg.crop:
            info(f"crop clamped to {data.crop} packed pixels (the smallest frame)")
        seed_everything(cfg.seed)
        repnr, note = prepare_repnr(loaded)
        repnr = repnr.to(device).train()

        align_iters, aux_iters = cfg.iterations
        stages = [
            loop.Stage(
                "align",
                align_iters,
                cfg.lr[0],
                enter=lambda: (repnr.set_stage("align"), repnr.trainable_parameters())[1],
            ),
            loop.Stage(
                "aux",
                aux_iters,
                cfg.lr[1],
                enter=lambda: (repnr.set_stage("aux"), repnr.trainable_parameters())[1],
            ),
        ]
        stages = [s for s in stages if s.iterations > 0]

        def step(net: torch.nn.Module, iteration: int, rng) -> torch.Tensor:
            inputs, targets = data.batch(cfg.batch, rng.local)
            out = net(inputs.to(device), branch=-1)
            target = targets.to(device)
            check_output_shape(out, target)
            return F.l1_loss(out, target)

        camera = pairs[0].camera
        ratios = sorted({round(p.ratio, 4) for p in pairs})
        ratio_text = ", ".join(f"{r:g}" for r in ratios)
        fingerprint = {
            "command": "finetune",
            "model": str(loaded.path),
            "pairs": [f"{p.noisy.name} {p.clean.name} {p.ratio:.6g}" for p in pairs],
            "iterations": list(cfg.iterations),
            "lr": list(cfg.lr),
            "crop": data.crop,
            "batch": cfg.batch,
            "seed": cfg.seed,
            "world_size": ctx.world_size,
        }
        if ctx.is_main:
            info(
                f"fine-tuning {loaded.path.name} ({spec.name}) to {camera or 'this camera'} on "
                f"{len(pairs)} pair(s), ratios {ratio_text}: "
                f"{align_iters} alignment + {aux_iters} aux iterations, batch {cfg.batch} x "
                f"{data.crop}px crops, preset {cfg.preset}, on {device}"
                + (f" x {ctx.world_size} processes" if ctx.enabled else "")
            )
            info(note)
            if blended:
                info(loaded.notes[-1])
            if cfg.preset_note:
                info(f"preset {cfg.preset}: {cfg.preset_note}")
            if cfg.estimate:
                per_step = seconds_per_iteration(repnr, data, cfg.batch, device)
                total = align_iters + aux_iters
                info(
                    f"estimated time: about {format_duration(per_step * total)} for {total} "
                    f"iterations ({per_step:.2f} s per iteration, timed on {device})"
                )
        lcfg = loop.LoopConfig(
            seed=cfg.seed,
            device=device,
            dist=ctx,
            checkpoint=ckpt,
            checkpoint_every=cfg.checkpoint_every,
            resume=cfg.resume,
            fingerprint=fingerprint,
            progress=progress,
            description="finetune",
            stop_after=cfg.stop_after,
            stop_at=cfg.stop_at,
            # a checkpoint loads as a model (--model): the fine-tuned network so far
            extra={"arch": spec.name, "options": dict(loaded.info.options)},
            precision=cfg.precision,
        )
        try:
            result = loop.run(repnr, stages, step, lcfg)
        except NetworkOutputError as exc:
            raise network_fault(spec, exc) from None
        if result.paused_at is not None:  # the checkpoint is the result, no model
            return FinetuneResult(
                path=ckpt,
                iterations=cfg.iterations,
                seconds=result.seconds,
                iterations_per_second=result.iterations_per_second,
                main_process=ctx.is_main,
                loss=result.smoothed_loss,
                crop=data.crop,
                pairs=len(pairs),
                camera=camera,
                paused_at=result.paused_at,
            )

        deployed = repnr.deploy(-1).cpu().eval()
        clean_levels = [p.clean_level for p in pairs]
        model_info = ModelInfo(
            architecture=spec.name,
            options=dict(loaded.info.options),
            name=cfg.name,
            camera=camera,
            ratio_range=(min(ratios), max(ratios)),
            target_exposure=float(statistics.median(clean_levels)),
            trained_on=(
                f"{loaded.info.trained_on or loaded.path.name}; fine-tuned on {len(pairs)} "
                f"pair(s) of {camera or 'one camera'} (ratios {ratio_text})"
            ),
            base_model=cfg.model if not Path(cfg.model).exists() else Path(cfg.model).name,
            extra={
                "command": "finetune",
                "base_model_path": str(loaded.path),
                "base_model_kind": loaded.info.kind,
                "pairs": [
                    {
                        "noisy": p.noisy.name,
                        "clean": p.clean.name,
                        "ratio": p.ratio,
                        "noisy_iso": p.noisy_iso,
                        "clean_iso": p.clean_iso,
                    }
                    for p in pairs
                ],
                "iterations": list(cfg.iterations),
                "lr": list(cfg.lr),
                "crop": data.crop,
                "batch": cfg.batch,
                "seed": cfg.seed,
                "preset": cfg.preset,
                "precision": cfg.precision,
                "final_loss": result.smoothed_loss,
                **cfg.extra,
            },
        )
        if ctx.is_main:
            # the model and the checkpoint's removal go together: a Ctrl-C waits for both
            with interrupts.deferred():
                save_model(out_path, deployed, model_info, overwrite=cfg.overwrite)
                loop.remove_checkpoint(lcfg)
        devices.barrier(ctx)
    finally:
        devices.teardown(ctx)
    return FinetuneResult(
        path=out_path,
        iterations=cfg.iterations,
        seconds=result.seconds,
        iterations_per_second=result.iterations_per_second,
        main_process=ctx.is_main,
        loss=result.smoothed_loss,
        crop=data.crop,
        pairs=len(pairs),
        camera=camera,
    )


def seconds_per_iteration(repnr: Any, data: PairCrops, batch: int, device: torch.device) -> float:
    """The time of one training step (forward, loss, gradients) on a batch of crops.

    Nothing the training uses is touched: the crops come from a generator of their own, the
    gradients are returned by ``torch.autograd.grad`` instead of stored, and the network runs
    in eval mode (normalization statistics are not updated), so a run is the same with or
    without this measurement.
    """
    import time

    generator = torch.Generator().manual_seed(0)
    was_training = repnr.training
    repnr.set_stage("align")
    params = [p for p in repnr.trainable_parameters() if p.requires_grad]
    repnr.eval()
    try:
        start = time.perf_counter()
        inputs, targets = data.batch(batch, generator)
        loss = F.l1_loss(repnr(inputs.to(device), branch=-1), targets.to(device))
        torch.autograd.grad(loss, params)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start
    finally:
        repnr.train(was_training)


def _quiet(_message: str) -> None:
    pass
