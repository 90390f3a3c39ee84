"""Pretraining a base model: clean RAW crops + synthetic noise, LED's RepNR UNet (method.md §7).

One RepNR branch per noise camera (LED: 5 virtual cameras, the branch drawn per iteration);
a calibrated profile or a dark-frame bank gives one branch. The result is saved as a RepNR
model (kind ``repnr``, target branch generalized to the mean of the camera branches) so that
``finetune`` starts from its camera branches and ``process`` deploys it as a plain network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from rawdenoise import interrupts
from rawdenoise.errors import NetworkOutputError, UsageError
from rawdenoise.exposure import AUTO_LEVEL
from rawdenoise.registry import network_fault
from rawdenoise.training import device as devices
from rawdenoise.training import loop
from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint
from rawdenoise.training.datasets import ChromaticShift, CleanCrops, ColourJitter
from rawdenoise.training.frames import PackedFrame, list_raw_inputs, load_clean_frames
from rawdenoise.training.losses import training_loss
from rawdenoise.training.noise_source import (
    NoiseSource,
    crop_limit,
    dark_frame_source,
    learned_noise_source,
    profile_source,
    virtual_source,
)
from rawdenoise.training.precision import precision_warning
from rawdenoise.training.pretrain_config import (
    HOLDOUT_CROP,
    PretrainConfig,
    PretrainResult,
    _check_noise_type,
    _validate,
    output_path,
)
from rawdenoise.training.progress import ProgressSink
from rawdenoise.training.seeding import derive_seed, seed_everything


def _noise_source(cfg: PretrainConfig, initial: Any = None) -> NoiseSource:
    _check_noise_type(cfg.noise_type)
    if cfg.dark_frames is not None:
        return dark_frame_source(cfg.dark_frames, cfg.camera)
    if cfg.camera and cfg.noise == "learned":
        # the learned model replaces t, r and c; p (shot) and q (rounding) still apply
        return learned_noise_source(cfg.camera, cfg.noise_type)
    if cfg.camera:
        return profile_source(cfg.camera, cfg.noise_type)
    return virtual_source(
        cfg.virtual_cameras, cfg.seed, cfg.noise_type, cameras=_initial_cameras(initial, cfg)
    )


def _initial_cameras(initial: Any, cfg: PretrainConfig) -> dict[str, Any] | None:
    """The ``--init`` model's virtual cameras, when it was pretrained on as many.

    Its RepNR branches were trained each on one of those cameras: continuing with cameras
    drawn anew from ``--seed`` would pair every branch with noise it never saw (continuing
    the default that way lost 0.3-1.2 dB of benchmark PSNR in 4800 iterations).
    """
    if initial is None or initial.repnr is None:
        return None
    extra = initial.info.extra or {}
    saved = extra.get("virtual_camera_params")
    if not isinstance(saved, dict) or extra.get("virtual_cameras") != cfg.virtual_cameras:
        return None
    return saved


def _holdout_set(
    frames: Sequence[PackedFrame], source: NoiseSource, cfg: PretrainConfig, multiple_of: int
) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """Fixed noisy crops of the held-out frames: (input, target, camera) each."""
    out = []
    ratio = middle_ratio(cfg)
    for i, frame in enumerate(frames):
        h, w = frame.size
        side = min(HOLDOUT_CROP, h, w)
        limit = crop_limit(source)
        if limit is not None:
            side = min(side, limit)
        side -= side % multiple_of if side >= multiple_of else 0
        top, left = (h - side) // 2, (w - side) // 2
        clean = torch.as_tensor(frame.data[:, top : top + side, left : left + side].copy())[None]
        g = torch.Generator().manual_seed(derive_seed(cfg.seed, 0x401D, i))
        camera = i % source.branches
        noisy, target = source(clean, torch.tensor([float(ratio)]), camera, g)
        out.append((noisy, target, camera))
    return out


def middle_ratio(cfg: PretrainConfig) -> int:
    """The middle of the run's ratio range as ratios are drawn (log-uniform or uniform)."""
    lo, hi = cfg.ratio_range
    return round(math.sqrt(lo * hi)) if cfg.ratio_sampling != "uniform" else (lo + hi) // 2


def _initial_model(cfg: PretrainConfig) -> Any:
    """The model ``--init`` names (its architecture and options are the run's); a ratio
    blend is taken at the middle of the run's ratios."""
    if not cfg.init:
        return None
    from rawdenoise.weights import load_model

    loaded = load_model(cfg.init).at_ratio(middle_ratio(cfg))
    if cfg.arch not in ("unet", loaded.spec.name):
        raise UsageError(
            f"--init {cfg.init} is a {loaded.spec.name!r} model, not {cfg.arch!r}",
            hint="leave out --arch: an initial model brings its architecture",
        )
    return loaded


def _initial_options(initial: Any, wanted: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The run's options and whether the initial model must grow to them (``--option``).

    Options that differ from the initial model's are refused unless its architecture can
    widen a trained model (the UNet: to more ``channels``; :func:`_load_initial` grows it).
    """
    options = _options_of(initial)
    clash = {k: v for k, v in wanted.items() if options.get(k) != v}
    if not clash:
        return options, False
    if not initial.spec.widen:
        raise _mismatch(options, clash, "its architecture cannot change them")
    return {**options, **clash}, True


def _options_of(initial: Any) -> dict[str, Any]:
    return dict(initial.info.options) or dict(initial.spec.default_options)


def _mismatch(options: dict[str, Any], clash: dict[str, Any], problem: str) -> UsageError:
    return UsageError(
        f"--init model has options {options}; --option {clash} does not match ({problem})",
        hint="leave out --option: an initial model brings its options",
    )


def _load_initial(
    repnr: Any, initial: Any, spec: Any, grow_to: dict[str, Any] | None = None, seed: int = 0
) -> None:
    """Copy the initial model into ``repnr``: its branches when they match, else its weights.

    ``grow_to``: the run's options, when they widen the initial model's (same output); an
    impossible widening is refused here, before any training step.
    """
    from rawdenoise.networks.repnr import RepNR

    source = initial.repnr
    if source is None or source.branches != repnr.branches or source.has_aux:
        # a plain network (or other branches): its deployed weights, identity alignment
        source = RepNR(initial.network, branches=repnr.branches, exclude=spec.repnr_exclude)
    state = source.state_dict()
    if grow_to is not None:
        from rawdenoise.registry import widen_state

        options = _options_of(initial)
        try:
            state = widen_state(spec, state, options, grow_to, seed)
        except ValueError as exc:
            clash = {k: v for k, v in grow_to.items() if options.get(k) != v}
            raise _mismatch(options, clash, str(exc)) from None
    repnr.load_state_dict(state)


def evaluate_holdout(
    repnr: torch.nn.Module, items: Sequence[tuple[torch.Tensor, torch.Tensor, int]], device
) -> dict[str, float]:
    """PSNR (LED protocol) of the generalized target branch and of the noisy input."""
    from rawdenoise.training.metrics import psnr

    repnr.generalize()
    net = repnr.deploy(-1).to(device).eval()
    model_psnr, noisy_psnr = [], []
    with torch.no_grad():
        for noisy, target, _ in items:
            out = net(noisy.to(device)).clamp(0, 1).cpu()
            model_psnr.append(psnr(out[0], target[0]))
            noisy_psnr.append(psnr(noisy[0], target[0]))
    return {
        "psnr": sum(model_psnr) / len(model_psnr),
        "noisy_psnr": sum(noisy_psnr) / len(noisy_psnr),
    }


def pretrain(
    cfg: PretrainConfig,
    *,
    progress: ProgressSink | None = None,
    info: Callable[[str], None] = lambda _m: None,
    warn: Callable[[str], None] = lambda _m: None,
) -> PretrainResult:
    """Train and save a base model; see :class:`PretrainConfig`."""
    with devices.cpu_threads(cfg.threads):
        return _pretrain(cfg, progress=progress, info=info, warn=warn)


def _pretrain(
    cfg: PretrainConfig,
    *,
    progress: ProgressSink | None,
    info: Callable[[str], None],
    warn: Callable[[str], None],
) -> PretrainResult:
    from rawdenoise.dirs import cache_dir
    from rawdenoise.networks.repnr import RepNR
    from rawdenoise.registry import create_network, get_architecture
    from rawdenoise.specs import ModelInfo
    from rawdenoise.weights import AT_RATIO_NOTE, save_model

    _validate(cfg)
    out_path = output_path(cfg.name, cfg.overwrite)
    ckpt = checkpoint_path("pretrain", cfg.name)
    refuse_stale_checkpoint(
        ckpt, "pretraining", cfg.name, resume=cfg.resume, start_over=cfg.overwrite
    )
    initial = _initial_model(cfg)
    spec = initial.spec if initial is not None else get_architecture(cfg.arch)
    options, grow = spec.options(cfg.options), False
    if initial is not None:
        options, grow = _initial_options(initial, cfg.options)
    create_network(spec, options)  # bad --option values fail now, not after decoding frames
    source = _noise_source(cfg, initial)
    files = list_raw_inputs(list(cfg.inputs))
    if cfg.holdout >= len(files):
        raise UsageError(
            f"--holdout {cfg.holdout} leaves no training frames ({len(files)} files found)"
        )
    train_files = files[: len(files) - cfg.holdout]
    held_files = files[len(files) - cfg.holdout :]
    ctx, device = devices.setup(cfg.device)
    try:
        slow = precision_warning(cfg.precision, device)
        if slow and ctx.is_main:
            warn(slow)
        if not ctx.is_main:  # one voice: rank 0 reports for all processes
            info = warn = _quiet
        cache = cache_dir() / "frames"
        left_out: list[str] = []

        def leave_out(message: str) -> None:  # a bad frame: warned now, exit 3 at the end
            left_out.append(message)
            warn(message)

        frames = load_clean_frames(train_files, cache=cache, warn=leave_out)
        held = load_clean_frames(held_files, cache=cache, warn=leave_out) if held_files else []
        crop = cfg.crop
        limit = crop_limit(source)
        if limit is not None:
            crop = min(crop, limit)
        data = CleanCrops(
            frames,
            crop,
            cfg.ratio_range,
            multiple_of=spec.multiple_of,
            sample_by=cfg.sample_by,
            augment=cfg.augment,
            ratio_sampling=cfg.ratio_sampling,
            colour=ColourJitter() if cfg.augment_colour else None,
            chromatic=ChromaticShift() if cfg.augment_ca else None,
        )
        if data.crop < cfg.crop:
            smallest = min(frames, key=lambda f: min(f.size))
            h, w = smallest.size
            warn(
                f"crop clamped to {data.crop} packed pixels by the smallest frame, "
                f"{smallest.path.name} ({h}x{w} packed); leave frames under {cfg.crop} px out "
                f"for --crop {cfg.crop}"
            )

        seed_everything(derive_seed(cfg.seed, 0x1417))
        base = create_network(spec, options)
        repnr = RepNR(base, branches=source.branches, exclude=spec.repnr_exclude)
        if initial is not None:
            _load_initial(repnr, initial, spec, options if grow else None, cfg.seed)
            if grow:
                info(
                    f"grew {cfg.init} from {_options_of(initial)} to {options} "
                    "(Net2WiderNet: same output to start from)"
                )
        repnr = repnr.to(device)
        holdout_items = _holdout_set(held, source, cfg, spec.multiple_of) if held else []

        fingerprint = {
            "command": "pretrain",
            "arch": spec.name,
            "options": options,
            "frames": [f"{f.path.name}:{f.size[0]}x{f.size[1]}" for f in frames],
            "noise": source.description,
            "scale": list(source.scale),
            "ratio_range": list(cfg.ratio_range),
            "iterations": cfg.iterations,
            "batch": cfg.batch,
            "crop": data.crop,
            "lr": cfg.lr,
            "min_lr": cfg.min_lr,
            "schedule": cfg.schedule,
            "warmup": cfg.warmup,
            "seed": cfg.seed,
            **({"init": str(cfg.init)} if cfg.init else {}),
            # only when not the default, so checkpoints from before the option still resume
            **({"sample_by": cfg.sample_by} if cfg.sample_by != "pixel" else {}),
            **({"loss": cfg.loss} if cfg.loss != "l1" else {}),
            # checkpoints from before the option flipped the packed array
            **({"augment": cfg.augment} if cfg.augment != "packed" else {}),
            **({"ratio_sampling": cfg.ratio_sampling} if cfg.ratio_sampling != "uniform" else {}),
            **({"augment_colour": True} if cfg.augment_colour else {}),
            **({"augment_ca": True} if cfg.augment_ca else {}),
            "world_size": ctx.world_size,
        }
        stage = loop.Stage(
            "pretrain",
            cfg.iterations,
            cfg.lr,
            enter=lambda: (repnr.set_stage("pretrain"), repnr.trainable_parameters())[1],
            schedule=cfg.schedule,
            warmup=cfg.warmup,
            final_lr_factor=min(cfg.min_lr / cfg.lr, 1.0) if cfg.schedule == "cosine" else 1.0,
        )

        def prepare(iteration: int, rng) -> tuple[torch.Tensor, torch.Tensor, int]:
            clean, _scale, ratio = data.batch(cfg.batch, rng.local)
            camera = int(torch.randint(source.branches, (1,), generator=rng.shared))
            noisy, target = source(clean.to(device), ratio, camera, rng.device)
            return noisy, target, camera

        def step(net: torch.nn.Module, iteration: int, batch) -> torch.Tensor:
            noisy, target, camera = batch
            return training_loss(cfg.loss, net(noisy, branch=camera), target)

        def on_checkpoint(iteration: int) -> None:
            if holdout_items and progress is not None:
                scores = evaluate_holdout(repnr, holdout_items, device)
                progress.message(
                    f"iteration {iteration}: held-out PSNR {scores['psnr']:.2f} dB "
                    f"(noisy input {scores['noisy_psnr']:.2f} dB)"
                )

        if ctx.is_main:
            info(
                f"pretraining {spec.name} {options} on {len(frames)} clean frame(s), "
                f"{source.description}, ratios {cfg.ratio_range[0]}-{cfg.ratio_range[1]}, "
                f"{cfg.iterations} iterations of batch {cfg.batch} x {data.crop}px crops on "
                f"{device}"
                + (f" x {ctx.world_size} processes" if ctx.enabled else "")
                + (f", {cfg.precision}" if cfg.precision != "fp32" else "")
            )
            if (
                initial is not None
                and initial.notes
                and initial.notes[-1].startswith(AT_RATIO_NOTE)
            ):
                info(f"--init {initial.path.name}: {initial.notes[-1]}")
            info(f"checkpoint: {ckpt}")
        lcfg = loop.LoopConfig(
            seed=cfg.seed,
            device=device,
            dist=ctx,
            checkpoint=ckpt,
            checkpoint_every=cfg.checkpoint_every,
            resume=cfg.resume,
            fingerprint=fingerprint,
            progress=progress,
            description="pretrain",
            on_checkpoint=on_checkpoint,
            stop_after=cfg.stop_after,
            stop_at=cfg.stop_at,
            # a checkpoint loads as a model (--init, --model) with its cameras
            extra={"arch": spec.name, "options": options, **source.metadata},
            find_unused_parameters=source.branches > 1,
            precision=cfg.precision,
        )
        try:
            result = loop.run(repnr, [stage], step, lcfg, prepare=prepare)
        except NetworkOutputError as exc:
            raise network_fault(spec, exc) from None
        outcome = PretrainResult(
            path=ckpt,  # paused (--stop-at): the checkpoint is the result, no model
            iterations=cfg.iterations,
            seconds=result.seconds,
            iterations_per_second=result.iterations_per_second,
            main_process=ctx.is_main,
            loss=result.smoothed_loss,
            holdout=None,
            crop=data.crop,
            frames=len(frames),
            left_out=tuple(left_out),
            paused_at=result.paused_at,
        )
        if result.paused_at is not None:
            return outcome

        scores = evaluate_holdout(repnr, holdout_items, device) if holdout_items else None
        repnr.generalize()
        summary = ", ".join(f.path.name for f in frames[:5]) + (
            f" and {len(frames) - 5} more" if len(frames) > 5 else ""
        )
        extra = {
            "command": "pretrain",
            "iterations": cfg.iterations,
            "batch": cfg.batch,
            "crop": data.crop,
            "lr": cfg.lr,
            "min_lr": cfg.min_lr,
            "schedule": cfg.schedule,
            "seed": cfg.seed,
            "loss": cfg.loss,
            "sample_by": cfg.sample_by,
            "augment": cfg.augment,
            "ratio_sampling": cfg.ratio_sampling,
            "augment_colour": cfg.augment_colour,
            "augment_ca": cfg.augment_ca,
            "precision": cfg.precision,
            "noise": source.description,
            "noise_type": cfg.noise_type,
            "noise_scale": list(source.scale),
            "training_frames": [f.path.name for f in frames],
            **({"init": str(cfg.init)} if cfg.init else {}),
            "holdout_frames": [f.path.name for f in held],
            **({"holdout": scores} if scores else {}),
            **source.metadata,
        }
        model_info = ModelInfo(
            architecture=spec.name,
            options=options,
            name=cfg.name,
            ratio_range=(float(cfg.ratio_range[0]), float(cfg.ratio_range[1])),
            auto_level=AUTO_LEVEL,
            trained_on=f"{len(frames)} clean RAW frame(s) ({summary}) with {source.description}",
            extra=extra,
        )
        if ctx.is_main:
            # the model and the checkpoint's removal go together: a Ctrl-C waits for both
            with interrupts.deferred():
                save_model(out_path, repnr.cpu(), model_info, overwrite=cfg.overwrite)
                loop.remove_checkpoint(lcfg)
        devices.barrier(ctx)
    finally:
        devices.teardown(ctx)
    return replace(outcome, path=out_path, holdout=scores)


def _quiet(_message: str) -> None:
    pass
