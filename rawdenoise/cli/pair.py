"""``rawdenoise pair``: pair a folder of captures into a validated list, or check a list."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from rawdenoise.cli._console import emit_json, err_console, info, out_console, state, warn
from rawdenoise.cli._errors import handle_errors
from rawdenoise.cli._paths import path_parser

if TYPE_CHECKING:
    from rich.console import Console

    from rawdenoise.pairing import Pair, PairListCheck, PairSearch, RatioCoverage

T = TypeVar("T")


class GroupBy(str, Enum):
    time = "time"
    sequence = "sequence"
    folder = "folder"


@handle_errors
def pair(
    ctx: typer.Context,
    folder: Path | None = typer.Argument(
        None,
        help="Folder of captures (RAW files of any extension case).",
        show_default=False,
        parser=path_parser(),
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Pair list to write (default: FOLDER/pairs.txt).",
        parser=path_parser(),  # a folder here is an output in the way: exit 5, as elsewhere
        metavar="FILE",
    ),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also read sub-folders."),
    group_by: GroupBy = typer.Option(
        GroupBy.time,
        "--group-by",
        help=(
            "How frames form a scene: 'time' (capture-time pauses), 'sequence' (unbroken file "
            "numbering) or 'folder' (one scene per folder)."
        ),
    ),
    max_gap: float = typer.Option(
        60.0,
        "--max-gap",
        metavar="SECONDS",
        help="With --group-by time: a longer pause after an exposure starts a new scene.",
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Check that both frames of a pair show one scene."
    ),
    camera: str | None = typer.Option(
        None,
        "--camera",
        metavar="CAMERA",
        help="Keep only this camera's pairs (make/model, as in the report).",
    ),
    check: Path | None = typer.Option(
        None,
        "--check",
        help="Validate an existing pair list instead.",
        parser=path_parser(dir_okay=False),
        metavar="FILE",
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="With --check: folder the list's paths are relative to.",
        parser=path_parser(file_okay=False),
        metavar="DIR",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing pair list."),
) -> None:
    """Build the noisy/clean pair list fine-tuning needs, or check one (--check LIST).

    Frames of one scene (one camera and size, shot in a burst) are grouped; the brightest
    (largest ISO x seconds) is the clean reference and every darker frame is paired with it,
    ratio from EXIF. The list is LED's format, 'NOISY CLEAN' per line, paths relative to the
    list's folder. A coverage report says which ratios have a low-ISO (<= 500) and a high-ISO
    (>= 3200) pair, as LED asks, and what to shoot to complete the set. A RAW file that cannot
    be read is reported and left out, and the exit code is 3 once the list is written.
    """
    from typer._click.core import ParameterSource

    from rawdenoise.errors import UsageError

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)

    if check is not None:
        if folder is not None:
            raise UsageError("give either a FOLDER to pair or --check LIST, not both")
        used = [
            name
            for name, value in (
                ("--out", out),
                ("--recursive", recursive or None),
                ("--group-by", group_by if given("group_by") else None),
                ("--max-gap", max_gap if given("max_gap") else None),
                ("--camera", camera),
                ("--overwrite", overwrite or None),
            )
            if value is not None
        ]
        if used:
            raise UsageError(f"{', '.join(used)} cannot be used with --check")
        _check(check, root, verify=verify, json_out=json_out)
        return
    if folder is None:
        raise UsageError(
            "give a FOLDER of captures, or --check LIST",
            hint="e.g. 'rawdenoise pair captures/' or 'rawdenoise pair --check pairs.txt'",
        )
    if root is not None:
        raise UsageError("--root only applies to --check")
    _pair_folder(
        folder,
        out=out,
        recursive=recursive,
        group_by=group_by.value,
        max_gap=max_gap,
        verify=verify,
        camera=camera,
        json_out=json_out,
        overwrite=overwrite,
    )


# --------------------------------------------------------------------------------------------


def _pair_folder(
    folder: Path,
    *,
    out: Path | None,
    recursive: bool,
    group_by: str,
    max_gap: float,
    verify: bool,
    camera: str | None,
    json_out: bool,
    overwrite: bool,
) -> None:
    import math

    from rawdenoise.atomic import check_output
    from rawdenoise.errors import InputError, UsageError
    from rawdenoise.pairing import find_pairs, list_raw_files, write_pair_list

    if not (math.isfinite(max_gap) and max_gap >= 0):
        raise UsageError(
            f"--max-gap must be a finite number of seconds >= 0, got {max_gap:g}",
            hint="e.g. --max-gap 120; --group-by folder ignores capture times",
        )
    # a missing folder or a file fails here, before any work
    found = list_raw_files(folder, recursive=recursive)
    target = out if out is not None else folder / "pairs.txt"
    _refuse_input_as_output(target, found)
    check_output(target, overwrite=overwrite)  # a folder in the way, or exists

    result = _with_progress(
        lambda progress: find_pairs(
            folder,
            recursive=recursive,
            group_by=group_by,  # type: ignore[arg-type]
            max_gap=max_gap,
            verify=verify,
            progress=progress,
        )
    )
    pairs = result.pairs
    cameras = result.cameras
    problem: InputError | None = None
    if camera is not None:
        chosen = _match_camera(camera, list(cameras))
        if isinstance(chosen, list):
            raise UsageError(
                f"--camera {camera!r} matches several cameras: {', '.join(chosen)}",
                hint="give a more specific value, e.g. --camera '" + chosen[0] + "'",
            )
        if chosen is None:
            problem = InputError(
                f"no pairs from a camera matching {camera!r}",
                hint=f"cameras with pairs: {', '.join(cameras) or 'none'}",
            )
            pairs = []
        else:
            pairs = [p for p in pairs if p.camera == chosen]
    elif len(cameras) > 1:
        first = next(iter(cameras))
        problem = InputError(
            "the folder mixes cameras ("
            + ", ".join(f"{cam}: {n} pair{'s' if n != 1 else ''}" for cam, n in cameras.items())
            + "): a fine-tune adapts one camera",
            hint=f"pick one with --camera '{first}', or move the other camera's files away",
        )
        pairs = []
    if problem is None and not pairs:
        problem = _nothing_usable(result, recursive)

    written: Path | None = None
    if problem is None:
        written = write_pair_list(target, pairs, overwrite=overwrite)
    shown = pairs if written is not None else result.pairs  # what was found, when not written
    _report_search(result, shown, written, json_out=json_out)
    if json_out:
        from rawdenoise.pairing import ratio_coverage

        payload: dict[str, Any] = {"pair_list": str(written) if written else None}
        payload.update(result.to_dict())
        payload["pairs"] = [p.to_dict() for p in shown]
        payload["ratios"] = [c.to_dict() for c in ratio_coverage(shown)]
        payload["isos"] = sorted({p.noisy_iso for p in shown})
        emit_json(payload)
    if problem is not None:
        raise problem
    if not json_out:
        typer.echo(str(written))
    if result.skipped:  # a batch goes on past a bad file, then says so in its exit code
        from rawdenoise.cli._errors import print_error
        from rawdenoise.errors import ExitCode

        n = len(result.skipped)
        verb = "is" if n == 1 else "are"
        print_error(
            f"{n} of the {result.frames} RAW files could not be read and {verb} not in "
            f"{written} (reasons above)",
            hint="fix or move them away, then run pair again with --overwrite",
        )
        raise typer.Exit(int(ExitCode.BAD_INPUT))


def _refuse_input_as_output(target: Path, frames: list[Path]) -> None:
    """Never write the pair list over a RAW file, least of all one of the frames read."""
    from rawdenoise.errors import UsageError
    from rawdenoise.pairing.folder import real_path
    from rawdenoise.rawio import is_raw_path

    resolved = real_path(target)
    if resolved in {real_path(f) for f in frames}:
        raise UsageError(
            f"--out {target} is one of the RAW frames being paired; refusing to overwrite it",
            hint="write the list to a text file, e.g. --out pairs.txt",
        )
    if is_raw_path(target) or is_raw_path(resolved):
        raise UsageError(
            f"--out {target} has a RAW file extension; a pair list is a text file",
            hint="write the list to a text file, e.g. --out pairs.txt",
        )


def _match_camera(wanted: str, cameras: list[str]) -> str | list[str] | None:
    """The camera ``wanted`` names; every match when it names several; None for none."""
    exact = [c for c in cameras if c.lower() == wanted.lower()]
    if exact:
        return exact[0]
    partial = [c for c in cameras if wanted.lower() in c.lower()]
    if len(partial) > 1:
        return partial
    return partial[0] if partial else None


def _nothing_usable(result: PairSearch, recursive: bool) -> Exception:
    from rawdenoise.errors import InputError

    if result.frames == 0:
        return InputError(
            f"no RAW files in {result.folder}",
            hint=None if recursive else "add --recursive to look into sub-folders",
        )
    if len(result.skipped) == result.frames:
        return InputError(
            f"none of the {result.frames} RAW files in {result.folder} could be read "
            "(reasons above)"
        )
    return InputError(
        f"no usable pairs in {result.folder}: every scene needs a clean (bright) frame and at "
        "least one darker frame of the same camera and size",
        hint="see the notes above; --group-by folder or a larger --max-gap groups more frames",
    )


def _with_progress(work: Callable[[Callable[[int, int, Path], None]], T]) -> T:
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


# --------------------------------------------------------------------------------------------


def _check(path: Path, root: Path | None, *, verify: bool, json_out: bool) -> None:
    from rawdenoise.errors import InputError
    from rawdenoise.pairing import check_pair_list

    result = check_pair_list(path, root, verify=verify)
    _report_check(result, json_out=json_out)
    if json_out:
        emit_json(result.to_dict())
    if result.problems:
        count = len(result.problems)
        raise InputError(
            f"pair list {path}: {count} problem{'s' if count != 1 else ''} (listed above); "
            f"first: {result.problems[0]}",
            hint="each line is 'NOISY CLEAN' (the dark frame first), paths relative to the "
            "list's folder or --root",
        )
    if not json_out:
        n = len(result.pairs)
        typer.echo(f"{path}: {n} pair{'s' if n != 1 else ''} OK")


# --------------------------------------------------------------------------------------------
# Rendering: results on stdout, messages on stderr
# --------------------------------------------------------------------------------------------


def _rel(path: Path, base: Path) -> str:
    from rawdenoise.pairing.listfile import shown_name

    try:
        return shown_name(path.relative_to(base).as_posix())
    except ValueError:
        return shown_name(str(path))


def _pairs_table(pairs: list[Pair], base: Path, *, by: str):
    from rich.table import Table

    from rawdenoise.exposure import format_shutter

    table = Table(title=f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''}", title_justify="left")
    table.add_column(by, justify="right")
    for name in ("noisy", "clean"):
        table.add_column(name, overflow="fold")  # a path is folded, never cut
    table.add_column("ratio", justify="right")
    table.add_column("noisy ISO x time", justify="right")
    table.add_column("clean ISO x time", justify="right")
    table.add_column("match", justify="right")
    for p in pairs:
        where = p.scene if by == "scene" else p.line
        table.add_row(
            str(where if where is not None else ""),
            _rel(p.noisy, base),
            _rel(p.clean, base),
            f"{p.ratio:.4g}",
            f"{p.noisy_iso:g} x {format_shutter(p.noisy_exposure)}",
            f"{p.clean_iso:g} x {format_shutter(p.clean_exposure)}",
            "" if p.similarity is None else f"{p.similarity:.2f}",
        )
    return table


def _coverage_table(coverage: list[RatioCoverage]):
    from rich.table import Table

    from rawdenoise.exposure import HIGH_ISO_MIN, LOW_ISO_MAX

    table = Table(
        title="ISO coverage per ratio (LED wants a low- and a high-ISO pair at each ratio)",
        title_justify="left",
    )
    table.add_column("ratio", justify="right")
    table.add_column(f"low ISO (<= {LOW_ISO_MAX})")
    table.add_column(f"high ISO (>= {HIGH_ISO_MIN})")
    table.add_column("other ISO")
    table.add_column("status")
    for c in coverage:
        table.add_row(
            c.label,
            ", ".join(f"{i:g}" for i in c.low_iso) or "-",
            ", ".join(f"{i:g}" for i in c.high_iso) or "-",
            ", ".join(f"{i:g}" for i in c.other_iso) or "-",
            "complete" if c.complete else f"needs a {' and a '.join(c.missing)}-ISO pair",
        )
    return table


def _print_coverage(console: Console, coverage: list[RatioCoverage]) -> None:
    """The coverage table, then what to shoot for each incomplete ratio (one line each)."""
    from rawdenoise.exposure import format_shutter

    console.print(_coverage_table(coverage))
    for c in coverage:
        if c.complete or c.plan is None:
            continue
        bright = c.plan.bright
        for shot in c.plan.suggestions:
            console.print(
                f"to complete {c.label}: {shot.describe()}, paired with a clean frame at "
                f"ISO {bright.iso:g} x {format_shutter(bright.seconds)}",
                markup=False,
                soft_wrap=True,
            )


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
            console.print(_pairs_table(pairs, result.folder, by="scene"))
            _print_coverage(console, ratio_coverage(pairs))
    for note in result.warnings:
        warn(note)
    for skipped in result.skipped:
        warn(f"skipped {_rel(skipped.path, result.folder)}: {skipped.reason}")
    if written is not None:
        info(f"wrote {written}")


def _report_check(result: PairListCheck, *, json_out: bool) -> None:
    """The pairs and their coverage (stdout, unless --json), then warnings and problems."""
    if not json_out and result.pairs:
        console = out_console()
        console.print(_pairs_table(result.pairs, result.root, by="line"))
        _print_coverage(console, result.coverage)
    for note in result.warnings:
        warn(note)
    for problem in result.problems:
        err_console().print(f"rawdenoise: problem: {problem}", markup=False, soft_wrap=True)
