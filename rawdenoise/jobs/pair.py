"""The job behind ``rawdenoise pair``: pair a folder of captures into a pair list
(:func:`pair_folder`), or check an existing list (:func:`check_list`).

Both return their findings, with the problem that makes the command fail (if any) as an
exception object rather than raised, so that the caller can show what was found first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import InputError, UsageError

if TYPE_CHECKING:
    from rawdenoise.pairing import Pair, PairListCheck, PairSearch

GROUP_BY = ("time", "sequence", "folder")
DEFAULT_GROUP_BY = "time"
DEFAULT_MAX_GAP = 60.0


@dataclass(frozen=True)
class PairOptions:
    """One field per option of ``rawdenoise pair``. ``group_by``/``max_gap`` None: not given
    (the defaults, ``time`` and 60 s, apply); given with ``check`` they are refused."""

    folder: Path | None = None
    out: Path | None = None
    recursive: bool = False
    group_by: str | None = None
    max_gap: float | None = None
    verify: bool = True
    camera: str | None = None
    check: Path | None = None
    root: Path | None = None
    overwrite: bool = False

    def validated(self) -> PairOptions:
        """Raise :class:`UsageError` for options that do not go together."""
        if self.check is not None:
            if self.folder is not None:
                raise UsageError("give either a FOLDER to pair or --check LIST, not both")
            used = [
                name
                for name, value in (
                    ("--out", self.out),
                    ("--recursive", self.recursive or None),
                    ("--group-by", self.group_by),
                    ("--max-gap", self.max_gap),
                    ("--camera", self.camera),
                    ("--overwrite", self.overwrite or None),
                )
                if value is not None
            ]
            if used:
                raise UsageError(f"{', '.join(used)} cannot be used with --check")
            return self
        if self.folder is None:
            raise UsageError(
                "give a FOLDER of captures, or --check LIST",
                hint="e.g. 'rawdenoise pair captures/' or 'rawdenoise pair --check pairs.txt'",
            )
        if self.root is not None:
            raise UsageError("--root only applies to --check")
        if self.group_by is not None and self.group_by not in GROUP_BY:
            raise UsageError(f"invalid --group-by {self.group_by!r}", hint="time, sequence, folder")
        max_gap = DEFAULT_MAX_GAP if self.max_gap is None else self.max_gap
        if not (math.isfinite(max_gap) and max_gap >= 0):
            raise UsageError(
                f"--max-gap must be a finite number of seconds >= 0, got {max_gap:g}",
                hint="e.g. --max-gap 120; --group-by folder ignores capture times",
            )
        return self


@dataclass
class PairReport:
    """What :func:`pair_folder` found; ``written`` is the list (None when ``problem``)."""

    search: PairSearch
    pairs: list[Pair]  #: the pairs written, or all found when nothing was written
    written: Path | None = None
    problem: InputError | None = None
    #: what to report after the list is written: some RAW files could not be read (exit 3)
    skipped_error: InputError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``rawdenoise pair --json``."""
        from rawdenoise.pairing import ratio_coverage

        payload: dict[str, Any] = {"pair_list": str(self.written) if self.written else None}
        payload.update(self.search.to_dict())
        payload["pairs"] = [p.to_dict() for p in self.pairs]
        payload["ratios"] = [c.to_dict() for c in ratio_coverage(self.pairs)]
        payload["isos"] = sorted({p.noisy_iso for p in self.pairs})
        return payload


@dataclass
class CheckReport:
    """What :func:`check_list` found in a pair list."""

    path: Path
    check: PairListCheck
    problem: InputError | None = field(default=None)


def pair_folder(
    options: PairOptions, progress: Callable[[int, int, Path], None] | None = None
) -> PairReport:
    """Group the folder's captures into pairs and write the list (``progress(i, n, file)``
    while frames are read)."""
    from rawdenoise.atomic import check_output
    from rawdenoise.pairing import find_pairs, list_raw_files, write_pair_list

    opts = options.validated()
    folder = opts.folder
    assert folder is not None
    # a missing folder or a file fails here, before any work
    found = list_raw_files(folder, recursive=opts.recursive)
    target = opts.out if opts.out is not None else folder / "pairs.txt"
    _refuse_input_as_output(target, found)
    check_output(target, overwrite=opts.overwrite)  # a folder in the way, or exists
    result = find_pairs(
        folder,
        recursive=opts.recursive,
        group_by=opts.group_by or DEFAULT_GROUP_BY,  # type: ignore[arg-type]
        max_gap=DEFAULT_MAX_GAP if opts.max_gap is None else opts.max_gap,
        verify=opts.verify,
        progress=progress,
    )
    pairs, problem = _one_camera(result, opts.camera)
    if problem is None and not pairs:
        problem = _nothing_usable(result, opts.recursive)
    if problem is not None:
        return PairReport(result, result.pairs, None, problem)
    written = write_pair_list(target, pairs, overwrite=opts.overwrite)
    report = PairReport(result, pairs, written)
    if result.skipped:  # a batch goes on past a bad file, then says so in its exit code
        n = len(result.skipped)
        verb = "is" if n == 1 else "are"
        report.skipped_error = InputError(
            f"{n} of the {result.frames} RAW files could not be read and {verb} not in "
            f"{written} (reasons above)",
            hint="fix or move them away, then run pair again with --overwrite",
        )
    return report


def _one_camera(result: PairSearch, camera: str | None) -> tuple[list[Pair], InputError | None]:
    """The pairs of one camera: the one ``camera`` names, or the only one there is."""
    cameras = result.cameras
    if camera is not None:
        chosen = match_camera(camera, list(cameras))
        if isinstance(chosen, list):
            raise UsageError(
                f"--camera {camera!r} matches several cameras: {', '.join(chosen)}",
                hint="give a more specific value, e.g. --camera '" + chosen[0] + "'",
            )
        if chosen is None:
            return [], InputError(
                f"no pairs from a camera matching {camera!r}",
                hint=f"cameras with pairs: {', '.join(cameras) or 'none'}",
            )
        return [p for p in result.pairs if p.camera == chosen], None
    if len(cameras) > 1:
        first = next(iter(cameras))
        return [], InputError(
            "the folder mixes cameras ("
            + ", ".join(f"{cam}: {n} pair{'s' if n != 1 else ''}" for cam, n in cameras.items())
            + "): a fine-tune adapts one camera",
            hint=f"pick one with --camera '{first}', or move the other camera's files away",
        )
    return list(result.pairs), None


def _refuse_input_as_output(target: Path, frames: list[Path]) -> None:
    """Never write the pair list over a RAW file, least of all one of the frames read."""
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


def match_camera(wanted: str, cameras: list[str]) -> str | list[str] | None:
    """The camera ``wanted`` names; every match when it names several; None for none."""
    exact = [c for c in cameras if c.lower() == wanted.lower()]
    if exact:
        return exact[0]
    partial = [c for c in cameras if wanted.lower() in c.lower()]
    if len(partial) > 1:
        return partial
    return partial[0] if partial else None


def _nothing_usable(result: PairSearch, recursive: bool) -> InputError:
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


def check_list(options: PairOptions) -> CheckReport:
    """Validate the pair list ``options.check`` (paths relative to it or ``options.root``)."""
    from rawdenoise.pairing import check_pair_list

    opts = options.validated()
    assert opts.check is not None
    result = check_pair_list(opts.check, opts.root, verify=opts.verify)
    report = CheckReport(opts.check, result)
    if result.problems:
        count = len(result.problems)
        report.problem = InputError(
            f"pair list {opts.check}: {count} problem{'s' if count != 1 else ''} (listed "
            f"above); first: {result.problems[0]}",
            hint="each line is 'NOISY CLEAN' (the dark frame first), paths relative to the "
            "list's folder or --root",
        )
    return report
