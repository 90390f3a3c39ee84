"""``rawdenoise evaluate``: PSNR/SSIM of a model on a pair list, in the raw domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rawdenoise.cli._completion import complete_device, complete_model
from rawdenoise.cli._console import emit_json, info, out_console, warn
from rawdenoise.cli._errors import handle_errors, print_error


@handle_errors
def evaluate(
    pairs: Path = typer.Argument(
        ...,
        help="Pair list, LED's format: 'NOISY CLEAN' per line.",
        show_default=False,
        readable=False,  # an unreadable list is bad input (exit 3), said by the reader
    ),
    model: str = typer.Option(
        "default",
        "--model",
        "-m",
        metavar="MODEL",
        autocompletion=complete_model,
        help="Model: a name, 'default', or a file.",
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="Folder the list's paths are relative to (LED's --dataroot).",
        file_okay=False,
        readable=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print per-pair values and means as JSON."),
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
    tile: int | None = typer.Option(
        None, "--tile", help="Tile side in packed pixels (default: from free memory; 0: none)."
    ),
    ensemble: int = typer.Option(
        1, "--ensemble", help="Average N mirrored copies (1, 2, 4 or 8), as process does."
    ),
    level_lock: bool = typer.Option(
        False,
        "--level-lock/--no-level-lock",
        help="Score the output at the input's local level, as process writes it (default off: "
        "LED's protocol).",
    ),
    ratio: float | None = typer.Option(
        None,
        "--ratio",
        metavar="N",
        help="Gain for every pair instead of its EXIF ratio (clean / noisy ISO x seconds), "
        "e.g. when an ND filter or the aperture changed.",
        show_default=False,
    ),
) -> None:
    """PSNR and SSIM of a model's output on noisy/clean pairs, and of the noisy input.

    LED's protocol, in the packed raw domain: input min(noisy x ratio, 1) with the ratio from
    EXIF (or --ratio); the output is clamped to [0, 1] and scaled by the least-squares gain
    onto the clean frame (illumination correction; pixels saturated in the clean frame are
    left out of it); 2 border pixels are cut; PSNR in float64, SSIM (Gaussian window 11, sigma
    1.5) on values x255; means per image. A pair at ratio 1 (a normally exposed high-ISO photo
    and its clean low-ISO twin at the same ISO x seconds) is scored like any other. A line
    that cannot be scored (a missing or unreadable file, a swapped pair...) is reported and
    skipped, the others are scored, and the exit code is 3 at the end; the list may mix
    cameras.
    """
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.evaluate import EvaluateOptions
    from rawdenoise.jobs.evaluate import evaluate as run_evaluate

    report = run_evaluate(options_from(EvaluateOptions, locals()), info=info, warn=warn)
    if json_out:
        emit_json(report.to_dict())
    else:
        title = f"{report.model_path.name} on {pairs.name}"
        title += f", ensemble {ensemble}" if ensemble > 1 else ""
        _print_table(report.scores, report.means, title)
    error = report.skipped_error()
    if error is not None:
        print_error(error.message, error.hint)
        raise typer.Exit(int(error.exit_code))


def _print_table(scores: list[Any], means: dict[str, float], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("noisy frame", overflow="fold")  # a path is folded, never cut
    for column in ("ratio", "PSNR dB", "SSIM", "input PSNR", "input SSIM"):
        table.add_column(column, justify="right")
    for s in scores:
        table.add_row(
            s.noisy,
            f"{s.ratio:g}",
            f"{s.psnr:.2f}",
            f"{s.ssim:.4f}",
            f"{s.noisy_psnr:.2f}",
            f"{s.noisy_ssim:.4f}",
        )
    table.add_section()
    table.add_row(
        "mean",
        "",
        f"{means['psnr']:.2f}",
        f"{means['ssim']:.4f}",
        f"{means['noisy_psnr']:.2f}",
        f"{means['noisy_ssim']:.4f}",
    )
    out_console().print(table)
