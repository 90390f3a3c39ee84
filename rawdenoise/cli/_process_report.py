"""How ``rawdenoise process`` shows a :class:`~rawdenoise.jobs.process.ProcessReport`: the
summary table (stdout, or ``--json``), the dry-run plan, and the line about kept outputs."""

from __future__ import annotations

from typing import Any

from rawdenoise.cli._console import emit_json, out_console
from rawdenoise.cli._errors import print_error

#: more results than this: the summary table lists the failed ones only
MAX_ROWS = 50


def show_report(report: Any, json_out: bool) -> None:
    """The result of a run on stdout (``-q`` or not), then the kept outputs' error line."""
    if json_out:
        emit_json(report.to_dict())
    elif report.dry_run:
        _plan_table(report.results)
    else:
        _summary(report)
    if not report.dry_run:
        _report_kept(report.results)


def _summary(report: Any) -> None:
    from rich.table import Table

    results = report.results
    table = Table(title="rawdenoise process", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("MP", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("output / error", overflow="fold")
    shown = results if len(results) <= MAX_ROWS else [r for r in results if r.status == "failed"]
    for r in shown:
        table.add_row(
            str(r.source),
            r.status,
            f"{r.megapixels:.1f}" if r.megapixels else "",
            f"{r.seconds:.1f}" if r.seconds else "",
            str(r.output) if r.status != "failed" else _short_error(r),
        )
    done, skipped, failed = (report.count(s) for s in ("done", "skipped", "failed"))
    table.add_section()
    table.add_row(
        f"{len(results)} file(s)",
        f"{done} done, {skipped} skipped, {failed} failed",
        f"{report.megapixels:.1f}",
        f"{report.seconds:.1f}",
        "",
    )
    out_console().print(table)


def _plan_table(results: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="rawdenoise process --dry-run", title_justify="left")
    for col in ("input", "output", "ratio", "status"):
        if col == "ratio":
            table.add_column(col, justify="right")
        else:
            table.add_column(col, overflow="fold")  # a path is folded, never cut
    for r in results:
        table.add_row(
            str(r.source),
            str(r.output or ""),
            f"{r.ratio:.4g}" if r.ratio is not None else "",
            r.status if r.error is None else f"error: {r.error}",
        )
    out_console().print(table)


def _report_kept(results: list[Any]) -> None:
    """One error line for the existing outputs that were kept (exit 5), after the batch."""
    kept = [r for r in results if r.status == "skipped" and r.exit_code]
    if kept:
        n = len(kept)
        others = "; the other files were processed" if len(results) > n else ""
        print_error(
            f"{n} output{'s' if n != 1 else ''} existed and {'were' if n != 1 else 'was'} kept "
            f"(first: {kept[0].output}){others}",
            hint="pass --overwrite to replace them, or --skip-existing to count them as done",
        )


def _short_error(result: Any) -> str:
    """The error without the leading "<file name>: " (the table names the file already)."""
    text = result.error or ""
    prefix = f"{result.source.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
