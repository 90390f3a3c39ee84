"""``rawdenoise pretrain``: train a base model from clean RAW frames and synthetic noise."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli import _pretrain_options as o
from rawdenoise.cli._completion import (
    complete_device,
    complete_training_precision,
)
from rawdenoise.cli._console import err_console, info, out_console, state, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def pretrain(
    clean: list[Path] = o.CLEAN,
    name: str = o.NAME,
    arch: str = o.ARCH,
    option: list[str] = o.OPTION,
    camera: str | None = o.CAMERA,
    dark_frames: Path | None = o.DARK_FRAMES,
    noise: str = o.NOISE,
    virtual_cameras: int = o.VIRTUAL_CAMERAS,
    ratio_range: str = o.RATIO_RANGE,
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
    noise_type: str = o.NOISE_TYPE,
    init: str | None = o.INIT,
    sample_by: str = o.SAMPLE_BY,
    loss: str = typer.Option(
        "l1",
        "--loss",
        metavar="l1|l2|log-l1|log-l1-level|log-l1-level-grid|log-l1-level-grid-shift|l1-level-grid"
        "|soft-log-l1-level-grid",
        help="l1 (LED), l2 (mean squared error, what PSNR measures) or log-l1: the mean of "
        "each crop's log L1, so low-noise crops count as "
        "much as very noisy ones (in dB, like mean PSNR); log-l1-level adds the L1 of 8x8 "
        "block means, which keeps dark areas at their level (L1 alone darkens them); "
        "log-l1-level-grid also counts the error's regular pattern of period 2 and 4 px "
        "(the dot grid an up-sampling network leaves on flat areas); log-l1-level-grid-shift "
        "also the part of each plane's error that a sub-pixel displacement explains (colour "
        "fringes where a noisy plane is drawn from the others); l1-level-grid: the terms of "
        "log-l1-level-grid averaged without the log, so the noisiest crops weigh the most, "
        "as in l1; soft-log-l1-level-grid: the log of each crop's error plus 0.01, between "
        "the two.",
    ),
    augment: str = o.AUGMENT,
    ratio_sampling: str = o.RATIO_SAMPLING,
    augment_colour: bool = o.AUGMENT_COLOUR,
    augment_ca: bool = o.AUGMENT_CA,
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
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.pretrain import PretrainOptions
    from rawdenoise.jobs.pretrain import pretrain as run_pretrain
    from rawdenoise.training.progress import make_progress

    progress = make_progress(None if state.quiet else err_console())
    options = options_from(PretrainOptions, locals())
    result = run_pretrain(options, progress=progress, info=info, warn=warn)
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
    from rawdenoise.cli._errors import print_error
    from rawdenoise.jobs.pretrain import left_out_error

    error = left_out_error(result)
    if error is not None:
        print_error(error.message, error.hint)
        raise typer.Exit(int(error.exit_code))
