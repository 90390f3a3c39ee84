"""``rawdenoise finetune``: adapt a base model to your camera from a few noisy/clean pairs."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import (
    complete_device,
    complete_model,
    complete_preset,
    complete_training_precision,
)
from rawdenoise.cli._console import emit_json, err_console, info, out_console, state, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def finetune(
    pairs: Path = typer.Argument(
        ...,
        help="Pair list, LED's format: 'NOISY CLEAN' per line.",
        show_default=False,
        readable=False,  # an unreadable list is bad input (exit 3), said by the reader
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        metavar="MODEL",
        autocompletion=complete_model,
        help="Base model: a name, 'default', or a file (.safetensors/.pth).",
    ),
    name: str | None = typer.Option(
        None, "--name", "-n", metavar="NAME", help="Save the result under this name."
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="Folder the list's paths are relative to (LED's --dataroot).",
        file_okay=False,
        readable=False,
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        metavar="paper|quick",
        autocompletion=complete_preset,
        help="paper (LED: 1000+500 iterations of 1024 px crops; hours on a CPU) or quick "
        "(150+50 of 256 px; minutes). Default: quick on a CPU, paper on a GPU.",
    ),
    iterations: str | None = typer.Option(
        None,
        "--iterations",
        metavar="A,B",
        help="Alignment,aux iterations (preset: paper 1000,500).",
    ),
    lr: str | None = typer.Option(
        None, "--lr", metavar="A,B", help="Alignment,aux learning rates (paper: 1e-4,1e-5)."
    ),
    crop: int | None = typer.Option(None, "--crop", help="Crop side in packed pixels."),
    batch: int | None = typer.Option(None, "--batch", help="Crops per iteration (per process)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: str | None = typer.Option(
        None,
        "--device",
        metavar="DEVICE",
        autocompletion=complete_device,
        help="auto, cpu, cuda, cuda:N or mps.",
    ),
    precision: str | None = typer.Option(
        None,
        "--precision",
        metavar="fp32|bf16",
        autocompletion=complete_training_precision,
        help="fp32 (default) or bf16: the forward pass in bfloat16 (faster on AMX/AVX512-BF16 "
        "CPUs and recent GPUs).",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch (default: one per core)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its checkpoint."
    ),
    checkpoint_every: int | None = typer.Option(
        None, "--checkpoint-every", help="Write a checkpoint every N iterations (default 100)."
    ),
    stop_at: int | None = typer.Option(
        None,
        "--stop-at",
        help="Pause once iteration N (alignment + aux) is done: write the checkpoint and exit 0 "
        "without saving a model (time-sliced runs: --resume continues). The checkpoint works as "
        "--model meanwhile.",
        show_default=False,
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML file with any of these settings (the command line wins).",
        dir_okay=False,
        readable=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a model of that name (and discard a checkpoint)."
    ),
) -> None:
    """Adapt a base model to your camera from a few pairs (LED's fine-tuning).

    Two stages on the model's RepNR form: the camera alignment, then the out-of-model-noise
    convs, both L1 on random crops of the pairs; the result is re-parameterized into a plain
    network and saved under NAME (use it with `process --model NAME`). The pair list is
    checked first (missing files, swapped pairs, mixed cameras). Without --preset a CPU gets
    'quick' and a GPU LED's 'paper'; the choice, why, and the estimated time (one step timed)
    are said before training starts. Ctrl-C writes a checkpoint; the same command with
    --resume continues it with identical results.
    """
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.finetune import FinetuneOptions
    from rawdenoise.jobs.finetune import finetune as run_finetune
    from rawdenoise.training.progress import make_progress

    progress = make_progress(None if state.quiet else err_console())
    options = options_from(FinetuneOptions, locals())
    done = run_finetune(options, progress=progress, info=info, warn=warn, estimate=not state.quiet)
    result, name = done.result, done.name
    if not result.main_process:
        return
    if json_out:  # paused (--stop-at): path is the checkpoint
        emit_json(done.to_dict())
    out = None if json_out else out_console()  # the result, unless it was JSON
    if result.paused_at is not None:  # the result is the checkpoint
        if out is not None:
            out.print(
                f"paused at iteration {result.paused_at}/{sum(result.iterations)} (--stop-at); "
                f"checkpoint {result.path}",
                soft_wrap=True,
            )
        info("run the same command with --resume to continue")
        return
    if out is not None:
        out.print(
            f"saved {result.path} ({sum(result.iterations)} iterations, "
            f"{result.iterations_per_second:.2f} it/s)",
            soft_wrap=True,
        )
    info(f"denoise with: rawdenoise process FILES --model {name}")
