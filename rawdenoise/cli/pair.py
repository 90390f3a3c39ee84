"""``rawdenoise pair``: pair a folder of captures into a validated list, or check a list."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from rawdenoise.cli._errors import handle_errors
from rawdenoise.cli._paths import path_parser

if TYPE_CHECKING:
    pass

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

    from rawdenoise.cli._options import options_from
    from rawdenoise.cli._pair_view import show_check, show_pairing, with_progress
    from rawdenoise.jobs.pair import PairOptions, check_list, pair_folder

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)

    options = options_from(
        PairOptions,
        {
            **locals(),
            "group_by": group_by.value if given("group_by") else None,
            "max_gap": max_gap if given("max_gap") else None,
        },
    )
    if options.validated().check is not None:
        show_check(check_list(options), json_out)
    else:
        show_pairing(with_progress(lambda progress: pair_folder(options, progress)), json_out)
