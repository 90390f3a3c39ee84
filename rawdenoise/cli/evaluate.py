"""``rawdenoise evaluate``: PSNR/SSIM of a model on a pair list, in the raw domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rawdenoise.cli._completion import (
    complete_device,
    complete_model,
)
from rawdenoise.cli._console import emit_json, info, out_console, warn
from rawdenoise.cli._errors import handle_errors, print_error
from rawdenoise.errors import ExitCode


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
    from rawdenoise.interrupts import preload

    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise import inference
    from rawdenoise.ensemble import check_ensemble
    from rawdenoise.errors import UsageError
    from rawdenoise.pairing import SAME_LEVEL, check_pair_list
    from rawdenoise.training.device import cpu_threads
    from rawdenoise.training.evaluate import evaluate_pairs, summarize
    from rawdenoise.training.options import check_finite
    from rawdenoise.weights import load_model

    inference.check_threads(threads)  # the settings first: one error, nothing loaded
    check_ensemble(ensemble)
    inference.choose_device(device)
    inference.check_tiling(tile, None, 1)  # its sign now; the network's stride once loaded
    if ratio is not None:
        check_finite(ratio, "--ratio")
        if ratio <= 0:
            raise UsageError(f"--ratio must be positive, got {ratio:g}")
    # a ratio-1 pair is valid here (same exposure level); a clean frame darker is not
    check = check_pair_list(pairs, root, verify=False, one_camera=False, min_ratio=1 / SAME_LEVEL)
    if not check.pairs:
        check.raise_for_problems()
    pair_list = check.pairs
    loaded = load_model(model)
    inference.check_tiling(tile, None, loaded.multiple_of)
    skipped: list[str] = []
    for problem in check.problems:
        _skip(skipped, problem)
    info(f"evaluating {loaded.path.name} on {len(pair_list)} pair(s)")

    def progress(i: int, score) -> None:
        info(
            f"[{i + 1}/{len(pair_list)}] {score.noisy}: {score.psnr:.2f} dB / {score.ssim:.4f} "
            f"(noisy {score.noisy_psnr:.2f} dB / {score.noisy_ssim:.4f})"
        )

    with cpu_threads(threads):
        scores = evaluate_pairs(
            pair_list,
            loaded.network,
            multiple_of=loaded.multiple_of,
            device=device,
            tile=tile,
            on_pair=progress,
            on_warning=warn,
            on_skip=lambda pair, reason: _skip(skipped, f"line {pair.line}: {reason}"),
            ensemble=ensemble,
            ratio=ratio,
            architecture=loaded.spec,
        )
    means = summarize(scores)
    if json_out:
        emit_json(
            {
                "model": model,
                "model_path": str(loaded.path),
                "ensemble": ensemble,
                "ratio": ratio if ratio is not None else "exif",
                "pairs": [s.to_dict() for s in scores],
                **means,
                "skipped": skipped,
                "protocol": "LED raw-domain: clamp, illumination correction, crop_border 2, "
                "PSNR float64, SSIM gaussian 11/1.5 on x255",
            }
        )
    else:
        title = f"{loaded.path.name} on {pairs.name}"
        _print_table(scores, means, title + (f", ensemble {ensemble}" if ensemble > 1 else ""))
    if skipped:
        n = len(skipped)
        print_error(
            f"pair list {pairs}: {n} line{'s' if n != 1 else ''} skipped (reasons "
            f"above); the means are over the other {len(scores)} pair"
            f"{'s' if len(scores) != 1 else ''}",
            hint=f"'rawdenoise pair --check {pairs}' lists every problem",
        )
        raise typer.Exit(int(ExitCode.BAD_INPUT))


def _skip(skipped: list[str], problem: str) -> None:
    warn(f"skipped {problem}")
    skipped.append(problem)


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
