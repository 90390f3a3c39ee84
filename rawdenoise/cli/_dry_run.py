"""``process --dry-run``: what a real run would write, with each file's ratio, and why not.

Every file is decoded (LibRaw, no denoising: 0.1-0.2 s for a 24 MP frame) and its EXIF read,
so a file a real run would fail on (not decodable, truncated, a GoPro GPR, no ISO for
``--ratio auto``) is listed as failed, not as "would write". A ratio outside the range the
model records (read from its header, without loading it) is warned about, as in a real run.
The exit code is the one the real run would end with (3 for a bad file, 5 for an output in
the way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rawdenoise.cli._console import emit_json, out_console, warn
from rawdenoise.errors import ExitCode


def dry_run(
    jobs: Sequence[Any],
    rule: Any,
    *,
    overwrite: bool,
    skip_existing: bool,
    json_out: bool,
    ratio_range: tuple[float, float] | None,
) -> int:
    """Show the plan (stdout); returns the exit code a real run would end with."""
    from rawdenoise.pipeline import batch_exit_code, ratio_range_warning

    results = [_plan(job, rule, overwrite=overwrite, skip_existing=skip_existing) for job in jobs]
    if rule.fixed is not None:  # once, as a real run warns once it has loaded the model
        checks = [(rule.fixed, "")]
    else:
        checks = [(r.ratio, r.source.name) for r in results if r.ratio is not None]
    for ratio, name in checks:
        message = ratio_range_warning(ratio, ratio_range, rule, name)
        if message:
            warn(message)
    if json_out:
        emit_json({"dry_run": True, "files": [r.to_dict() for r in results]})
    else:
        _print_table(results)
    return batch_exit_code(results)


def _plan(job: Any, rule: Any, *, overwrite: bool, skip_existing: bool) -> Any:
    from rawdenoise.atomic import check_output
    from rawdenoise.errors import RawDenoiseError
    from rawdenoise.pipeline import FileResult
    from rawdenoise.rawio import read_raw
    from rawdenoise.render import read_metadata

    if job.error is not None:
        code = int(job.error.exit_code)
        return FileResult(job.source, None, "failed", error=job.error.message, exit_code=code)
    exists = job.output.is_file() and not overwrite
    status = "skip (exists)" if exists else "would write"
    in_the_way = int(ExitCode.RESOURCE) if exists and not skip_existing else 0
    try:
        check_output(job.output, overwrite=True)  # a folder or file in the way fails
        frame = read_raw(job.source)  # what a real run decodes first
        packed = frame.normalized() if rule.needs_pixels else None
        value = rule.ratio_for(job.source, read_metadata(job.source, frame), packed)
    except RawDenoiseError as exc:
        code = int(exc.exit_code)
        return FileResult(
            job.source, job.output, "failed", error=exc.message, hint=exc.hint, exit_code=code
        )
    return FileResult(job.source, job.output, status, ratio=value, exit_code=in_the_way)


def _print_table(results: Sequence[Any]) -> None:
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
