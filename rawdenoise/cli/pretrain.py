"""``rawdenoise pretrain``: train a base model from clean RAW frames and synthetic noise."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import (
    complete_arch,
    complete_camera_profile,
    complete_device,
    complete_model,
    complete_training_precision,
)
from rawdenoise.cli._console import err_console, info, out_console, state, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def pretrain(
    clean: list[Path] = typer.Argument(
        ...,
        metavar="PATH",
        help="Folder(s) of clean RAW frames (low ISO, well exposed), or the files themselves.",
        show_default=False,
        readable=False,  # an unreadable frame is bad input (exit 3), said by the decoder
    ),
    name: str = typer.Option(
        ..., "--name", "-n", metavar="NAME", help="Save the model under this name."
    ),
    arch: str = typer.Option(
        "unet",
        "--arch",
        metavar="NAME",
        help="Network architecture (see plugins).",
        autocompletion=complete_arch,
    ),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="Architecture option KEY=VALUE (repeatable), e.g. channels=16.",
    ),
    camera: str | None = typer.Option(
        None,
        "--camera",
        metavar="ID",
        autocompletion=complete_camera_profile,
        help="Noise of one calibrated camera profile (ID) instead of virtual cameras; with "
        "--dark-frames: the profile giving K per ISO.",
    ),
    dark_frames: Path | None = typer.Option(
        None,
        "--dark-frames",
        help="Folder of dark frames (lens capped) whose real noise replaces the read/row terms.",
        file_okay=False,
        readable=False,
    ),
    noise: str = typer.Option(
        "parametric",
        "--noise",
        metavar="parametric|learned",
        help="With --camera: the profile's parametric noise, or shot noise with its K plus the "
        "learned dark noise of calibrate --learn-noise.",
    ),
    virtual_cameras: int = typer.Option(
        5, "--virtual-cameras", help="Virtual cameras (RepNR branches), LED's coverage."
    ),
    ratio_range: str = typer.Option(
        "100,300",
        "--ratio-range",
        metavar="LOW,HIGH",
        help="Ratios drawn per crop, integer uniform LOW,HIGH.",
    ),
    iterations: int = typer.Option(20000, "--iterations", help="Training iterations."),
    batch: int = typer.Option(8, "--batch", help="Crops per iteration (per process)."),
    crop: int = typer.Option(256, "--crop", help="Crop side in packed pixels (2x in the RAW)."),
    lr: float = typer.Option(2e-4, "--lr", help="Adam learning rate."),
    min_lr: float = typer.Option(1e-5, "--min-lr", help="Final learning rate of 'cosine'."),
    schedule: str = typer.Option(
        "cosine", "--schedule", metavar="cosine|constant", help="cosine or constant."
    ),
    warmup: int = typer.Option(0, "--warmup", help="Linear warm-up iterations."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same model)."),
    device: str = typer.Option(
        "auto",
        "--device",
        metavar="DEVICE",
        autocompletion=complete_device,
        help="auto, cpu, cuda, cuda:N or mps.",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch (default: one per core)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its checkpoint."
    ),
    checkpoint_every: int = typer.Option(
        1000, "--checkpoint-every", help="Write a checkpoint every N iterations (0: only on stop)."
    ),
    stop_at: int | None = typer.Option(
        None,
        "--stop-at",
        help="Pause once iteration N is done: write the checkpoint and exit 0 without saving a "
        "model (time-sliced runs: --resume continues, with a later --stop-at or none). The "
        "checkpoint works as --init or --model meanwhile.",
        show_default=False,
    ),
    holdout: int = typer.Option(
        0, "--holdout", help="Keep the last N frames out of training and report PSNR on them."
    ),
    noise_type: str = typer.Option(
        "ptrqc",
        "--noise-type",
        metavar="LETTERS",
        help="Noise components: p shot, t Tukey-lambda or g Gaussian read, r row, "
        "q quantization, c colour bias.",
    ),
    init: str | None = typer.Option(
        None,
        "--init",
        metavar="MODEL",
        autocompletion=complete_model,
        help="Start from this model (name or file) instead of random weights, e.g. to train "
        "the default further or on more frames; its architecture, options and (for as many "
        "--virtual-cameras) virtual cameras are used. -O channels=N (more than it has) grows a "
        "unet to N channels with the same output first.",
    ),
    sample_by: str = typer.Option(
        "pixel",
        "--sample-by",
        metavar="pixel|frame",
        help="Pick each crop's frame by area ('pixel') or with equal odds per frame ('frame', "
        "so small frames such as texture images count as much as large ones).",
    ),
    loss: str = typer.Option(
        "l1",
        "--loss",
        metavar="l1|log-l1",
        help="l1 (LED) or log-l1: the mean of each crop's log L1, so low-noise crops count as "
        "much as very noisy ones (in dB, like mean PSNR).",
    ),
    augment: str = typer.Option(
        "bayer",
        "--augment",
        metavar="bayer|packed|none",
        help="Crop flips/transposes: 'bayer' (on the mosaic, keeping each 2x2 block's "
        "arrangement), 'packed' (LED's flips of the packed array, which mirror the block; "
        "the bundled default was trained so) or 'none'.",
    ),
    ratio_sampling: str = typer.Option(
        "uniform",
        "--ratio-sampling",
        help="How ratios are drawn from --ratio-range: 'uniform' integers (LED), 'log' "
        "(log-uniform: a range such as 1,300 trains ratio 1-2 as often as 150-300) or "
        "'mixed' (each crop one or the other: low ratios covered, dark ones not starved).",
    ),
    augment_colour: bool = typer.Option(
        False,
        "--augment-colour",
        help="Random exposure and red/blue gains per crop (white balance): the network learns "
        "to denoise any colour and level instead of its training frames' statistics.",
    ),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        metavar="fp32|bf16",
        autocompletion=complete_training_precision,
        help="fp32, or bf16: the network's forward pass in bfloat16 (several times faster on "
        "CPUs with AMX/AVX512-BF16 and on recent GPUs; weights stay float32).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a model of that name (and discard a checkpoint)."
    ),
) -> None:
    """Train a base model: clean RAW crops with synthetic noise (LED's pretraining).

    Default: a RepNR UNet with one branch per virtual camera (LED: 5, covering the calibrated
    cameras' parameter ranges), the camera drawn per iteration, ratios 100-300, L1 loss,
    Adam with a cosine schedule. Ctrl-C (or SIGTERM) writes a checkpoint; run the same
    command with --resume to continue, with identical results. Under torchrun each process
    trains on its own crops (DDP). The model is saved under NAME; `finetune --model NAME`
    adapts it to a camera, `process --model NAME` uses it as is.
    """
    from rawdenoise.interrupts import preload

    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.training.options import parse_options, parse_pair
    from rawdenoise.training.pretrain import PretrainConfig
    from rawdenoise.training.pretrain import pretrain as run_pretrain
    from rawdenoise.training.progress import make_progress

    lo, hi = parse_pair(ratio_range, "--ratio-range", int)
    cfg = PretrainConfig(
        inputs=clean,
        name=name,
        arch=arch,
        options=parse_options(option),
        camera=camera,
        dark_frames=dark_frames,
        noise=noise,
        virtual_cameras=virtual_cameras,
        ratio_range=(lo, hi),
        iterations=iterations,
        batch=batch,
        crop=crop,
        lr=lr,
        min_lr=min_lr,
        schedule=schedule,
        warmup=warmup,
        seed=seed,
        device=device,
        resume=resume,
        checkpoint_every=checkpoint_every,
        holdout=holdout,
        overwrite=overwrite,
        noise_type=noise_type,
        threads=threads,
        init=init,
        sample_by=sample_by,
        loss=loss,
        augment=augment,
        ratio_sampling=ratio_sampling,
        augment_colour=augment_colour,
        stop_at=stop_at,
        precision=precision,
    )
    progress = make_progress(None if state.quiet else err_console())
    from rawdenoise.training.checkpoint import run_lock

    with run_lock("pretrain", name):  # a second run of this name at once is refused
        result = run_pretrain(cfg, progress=progress, info=info, warn=warn)
    if not result.main_process:
        return
    out = out_console()  # the result: what was saved
    if result.paused_at is not None:
        out.print(
            f"paused at iteration {result.paused_at}/{result.iterations} (--stop-at); checkpoint "
            f"{result.path}",
            soft_wrap=True,
        )
        info("run the same command with --resume to continue")
        _report_left_out(result)
        return
    line = (
        f"saved {result.path} ({result.iterations} iterations, {result.iterations_per_second:.2f}"
        f" it/s, loss {result.loss:.5f})"
    )
    if result.holdout:
        line += (
            f"; held-out PSNR {result.holdout['psnr']:.2f} dB "
            f"(noisy input {result.holdout['noisy_psnr']:.2f} dB)"
        )
    out.print(line, soft_wrap=True)
    _report_left_out(result)


def _report_left_out(result) -> None:
    """A batch goes on past a bad file, then says so in its exit code (3)."""
    if not result.left_out:
        return
    from rawdenoise.cli._errors import print_error
    from rawdenoise.errors import ExitCode

    n = len(result.left_out)
    print_error(
        f"{n} of the clean RAW files could not be decoded and {'is' if n == 1 else 'are'} not "
        "in the training data (reasons above)",
        hint="fix or remove them, then train again (--overwrite) to use them",
    )
    raise typer.Exit(int(ExitCode.BAD_INPUT))
