"""``rawdenoise process``: denoise files and folders of RAW images at full resolution."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli import _completion as c
from rawdenoise.cli._console import info, state, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def process(
    paths: list[Path] = typer.Argument(
        ...,
        help="RAW files and folders of RAW files.",
        show_default=False,
        readable=False,  # an unreadable file is a bad file of the batch, not a usage error
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        metavar="MODEL",
        autocompletion=c.complete_model,
        help="Model: a name (see 'rawdenoise models list'), a .safetensors or an LED .pth file. "
        "Default: the bundled 'default' model; the bundled 'faithful' keeps level, colour "
        "and geometry far better (model card).",
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        metavar="NAME",
        help="Architecture of a checkpoint that does not say (e.g. an LED .pth of a NAFNet).",
        autocompletion=c.complete_arch,
    ),
    option: list[str] | None = typer.Option(
        None,
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="Architecture option KEY=VALUE (repeatable).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: a 'denoised' folder beside each input)."
    ),
    suffix: str = typer.Option(
        "", "--suffix", help="Added to each output name: `<stem><suffix>.<ext>`."
    ),
    fmt: str = typer.Option(
        "png",
        "--format",
        "-f",
        metavar="FORMAT",
        autocompletion=c.complete_format,
        help="png | tiff (16/8-bit sRGB) | jpeg (8-bit sRGB) | dng (denoised CFA mosaic).",
    ),
    bit_depth: int | None = typer.Option(
        None, "--bit-depth", metavar="8|16", help="8 or 16 (png, tiff; default 16; jpeg is 8-bit)."
    ),
    quality: int | None = typer.Option(
        None, "--quality", help="JPEG quality 1-100 (default 95; jpeg only)."
    ),
    ratio: str | None = typer.Option(
        None,
        "--ratio",
        metavar="N|auto",
        help="Digital gain applied before the network (default 1), or 'auto': the model's "
        "target exposure / (ISO x seconds).",
    ),
    target_exposure: float | None = typer.Option(
        None,
        "--target-exposure",
        metavar="E",
        help="Per file ratio = E / (ISO x seconds) from EXIF (LED's --target_exposure).",
    ),
    tile: int | None = typer.Option(
        None,
        "--tile",
        help="Largest tile side in packed pixels (default: from free memory; 0: whole frame).",
    ),
    overlap: int | None = typer.Option(
        None, "--overlap", help="Tile overlap in packed pixels (default 32 for the UNet)."
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        metavar="DEVICE",
        autocompletion=c.complete_device,
        help="auto (cuda, then mps, then cpu), cpu, cuda[:N], mps.",
    ),
    precision: str = typer.Option(
        "auto",
        "--precision",
        metavar="auto|fp32|bf16|fp16",
        autocompletion=c.complete_precision,
        help="auto (bf16 where the CPU or GPU has it natively, else fp32) | fp32 | bf16 | "
        "fp16 (GPU only).",
    ),
    ensemble: int = typer.Option(
        1,
        "--ensemble",
        help="Average N mirrored copies (1, 2, 4 or 8): N times the time, less noise left.",
    ),
    level_lock: bool = typer.Option(
        True,
        "--level-lock/--no-level-lock",
        help="Keep the input's local level and colour (a smooth correction of what the network "
        "moved); --no-level-lock: the network's output as it is.",
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look into sub-folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(
        False,
        "--skip-existing",
        help="Keep existing outputs and count them as done (exit 0): resumes a batch.",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="I/N",
        help="I/N: process the I-th of N shares of the sorted file list (torchrun's RANK and "
        "WORLD_SIZE do the same).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be written (and the ratio) without denoising."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Denoise RAW files: 16-bit PNG (default), TIFF, JPEG or a denoised DNG for raw editors.

    Each frame is normalized with its black/white levels, multiplied by the ratio, clipped at 1
    (as LED does), denoised at full resolution in overlapping tiles that fit the device's
    memory, and written atomically as `<stem><suffix>.<ext>`. An existing output is kept, the
    others are written, and the exit code is 5 at the end (--overwrite replaces it,
    --skip-existing counts it as done); a bad file is reported and the others continue (exit 3
    at the end).
    """
    from rawdenoise.cli._file_progress import FileProgress
    from rawdenoise.cli._options import options_from
    from rawdenoise.cli._process_report import show_report
    from rawdenoise.jobs.process import ProcessEvents, ProcessJob
    from rawdenoise.jobs.process_options import ProcessOptions

    options = options_from(ProcessOptions, locals())
    events = ProcessEvents(info=info, warning=warn)
    with ProcessJob(options, events, debug=state.debug) as job:
        if not dry_run:
            job.start()  # the first file is read while torch and the model load
        with FileProgress(0 if dry_run else len(job.jobs)) as bar:
            bar.follow(events)
            report = job.dry_run() if dry_run else job.run()
    show_report(report, json_out)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
