"""How ``rawdenoise pair`` shows what it found: the pairs and their ISO coverage (stdout), the
warnings, skipped files and problems (stderr), a progress bar while frames are read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from rawdenoise.cli._console import emit_json, err_console, info, out_console, state, warn
from rawdenoise.cli._errors import print_error
from rawdenoise.cli._pair_tables import pairs_table, print_coverage, rel

if TYPE_CHECKING:
    from rawdenoise.pairing import Pair, PairListCheck, PairSearch

T = TypeVar("T")


def show_pairing(report: Any, json_out: bool) -> None:
    """A :class:`~rawdenoise.jobs.pair.PairReport`: raises its problem after showing it."""
    _report_search(report.search, report.pairs, report.written, json_out=json_out)
    if json_out:
        emit_json(report.to_dict())
    if report.problem is not None:
        raise report.problem
    if not json_out:
        typer.echo(str(report.written))
    if report.skipped_error is not None:
        error = report.skipped_error
        print_error(error.message, error.hint)
        raise typer.Exit(int(error.exit_code))


def show_check(report: Any, json_out: bool) -> None:
    """A :class:`~rawdenoise.jobs.pair.CheckReport`: raises its problem after showing it."""
    _report_check(report.check, json_out=json_out)
    if json_out:
        emit_json(report.check.to_dict())
    if report.problem is not None:
        raise report.problem
    if not json_out:
        n = len(report.check.pairs)
        typer.echo(f"{report.path}: {n} pair{'s' if n != 1 else ''} OK")


def with_progress(work: Callable[[Callable[[int, int, Path], None]], T]) -> T:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = err_console()
    disable = state.quiet or not console.is_terminal
    with Progress(
        TextColumn("reading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=disable,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(i: int, n: int, path: Path) -> None:
            bar.update(task, completed=i, total=n, description=path.name)

        return work(progress)


def _report_search(
    result: PairSearch, pairs: list[Pair], written: Path | None, *, json_out: bool
) -> None:
    """What was found (stdout, unless --json), then warnings and skipped files (stderr)."""
    from rawdenoise.pairing import ratio_coverage

    if not json_out:
        console = out_console()
        console.print(
            f"{result.frames} RAW file{'s' if result.frames != 1 else ''}, "
            f"{len(result.scenes)} scene{'s' if len(result.scenes) != 1 else ''}, "
            f"{len(result.skipped)} skipped",
        )
        if pairs:
            console.print(pairs_table(pairs, result.folder, by="scene"))
            print_coverage(console, ratio_coverage(pairs))
    for note in result.warnings:
        warn(note)
    for skipped in result.skipped:
        warn(f"skipped {rel(skipped.path, result.folder)}: {skipped.reason}")
    if written is not None:
        info(f"wrote {written}")


def _report_check(result: PairListCheck, *, json_out: bool) -> None:
    """The pairs and their coverage (stdout, unless --json), then warnings and problems."""
    if not json_out and result.pairs:
        console = out_console()
        console.print(pairs_table(result.pairs, result.root, by="line"))
        print_coverage(console, result.coverage)
    for note in result.warnings:
        warn(note)
    for problem in result.problems:
        err_console().print(f"rawdenoise: problem: {problem}", markup=False, soft_wrap=True)
