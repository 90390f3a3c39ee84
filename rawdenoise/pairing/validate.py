"""Validating a pair list before any long job, collecting every problem.

Checked: files exist and decode, both frames come from one camera at one size, the clean frame
really is brighter, and the ratio (clean exposure level / noisy exposure level, from EXIF) is
in range. :func:`load_pairs` turns the problems into one :class:`InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError
from rawdenoise.pairing.coverage import RatioCoverage, ratio_coverage
from rawdenoise.pairing.frames import Frame, _make_pair, _short_reason, read_frame
from rawdenoise.pairing.listfile import PairEntry, _combined_error, _parse, _relative
from rawdenoise.pairing.pair import SAME_LEVEL, Pair, _count, is_ratio1_pair
from rawdenoise.pairing.similarity import _with_similarity, verification_warnings, verify_pair


@dataclass
class PairListCheck:
    """Everything :func:`check_pair_list` found; ``problems`` make the list unusable."""

    path: Path
    root: Path
    entries: list[PairEntry]
    pairs: list[Pair]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def coverage(self) -> list[RatioCoverage]:
        return ratio_coverage(self.pairs)

    def raise_for_problems(self) -> None:
        if self.problems:
            raise _combined_error(self.path, self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_list": str(self.path),
            "root": str(self.root),
            "ok": self.ok,
            "pairs": [p.to_dict() for p in self.pairs],
            "ratios": [c.to_dict() for c in self.coverage],
            "isos": sorted({p.noisy_iso for p in self.pairs}),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def check_pair_list(
    path: str | Path,
    root: str | Path | None = None,
    *,
    verify: bool = True,
    min_ratio: float = 1.0,
    max_ratio: float | None = None,
    one_camera: bool = True,
) -> PairListCheck:
    """Validate every line of a pair list; collect problems instead of stopping at the first.

    Problems: malformed lines, missing or undecodable files, missing ISO/exposure time, the
    same file twice, frames from different cameras or of different sizes (within a pair, and
    cameras across the list unless ``one_camera`` is false), a clean frame not brighter than its
    noisy one (ratio <= ``min_ratio``, typically a swapped line; a same-level pair with the
    noisy frame at a clearly higher ISO is a valid ratio-1 pair), a ratio above ``max_ratio``.
    Every problem but the mixed cameras and an empty list is one line's and starts with
    ``line N:``; ``pairs`` holds the lines without one. Warnings: repeated lines, content-check
    findings (with ``verify``), names LED's own loader cannot read.
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    entries, problems = _parse(path, Path(root) if root is not None else None)
    warnings: list[str] = []
    frames: dict[Path, Frame | str] = {}

    def frame(p: Path) -> Frame | str:
        if p not in frames:
            if not p.exists():
                frames[p] = f"{_display(p, base)} not found in {base}"
            elif not p.is_file():
                frames[p] = f"{_display(p, base)} is not a file"
            else:
                try:
                    frames[p] = read_frame(p, thumbnail=verify)
                except InputError as exc:
                    frames[p] = f"{_display(p, base)}: {_short_reason(p, exc)}"
        return frames[p]

    pairs: list[Pair] = []
    seen: dict[tuple[Path, Path], int] = {}
    for entry in entries:
        where = f"line {entry.line}: "
        key = (entry.noisy.absolute(), entry.clean.absolute())
        if key in seen:
            warnings.append(f"{where}repeats line {seen[key]}")
        seen.setdefault(key, entry.line)
        if key[0] == key[1]:
            problems.append(f"{where}the noisy and the clean frame are the same file")
            continue
        noisy, clean = frame(entry.noisy), frame(entry.clean)
        line_problems = [f"{where}{f}" for f in (noisy, clean) if isinstance(f, str)]
        if line_problems:
            if any(" " in t for t in (str(entry.noisy), str(entry.clean))) or entry.extra:
                line_problems[-1] += ' (quote file names that contain spaces: "my file.CR2")'
            problems.extend(line_problems)
            continue
        assert isinstance(noisy, Frame) and isinstance(clean, Frame)
        if noisy.camera != clean.camera:
            problems.append(
                f"{where}frames from different cameras: {noisy.camera} and {clean.camera}"
            )
            continue
        if noisy.size != clean.size:
            problems.append(
                f"{where}frames differ in size: {noisy.size[1]}x{noisy.size[0]} and "
                f"{clean.size[1]}x{clean.size[0]}"
            )
            continue
        pair = _make_pair(noisy, clean, line=entry.line)
        ratio1 = is_ratio1_pair(noisy.level, noisy.iso, clean.level, clean.iso)
        if pair.ratio <= min_ratio * (1 + 1e-9) and not ratio1:
            if pair.ratio < 1 / SAME_LEVEL:
                problems.append(
                    f"{where}the clean frame {entry.clean.name} (exposure level "
                    f"{clean.level:g}) is darker than the noisy frame {entry.noisy.name} "
                    f"({noisy.level:g}): swap the two names, the noisy (dark) frame comes first"
                )
            else:
                problems.append(
                    f"{where}ratio {pair.ratio:.4g} is not above {min_ratio:g}: the clean frame "
                    f"must be brighter than the noisy one (exposure levels {clean.level:g} "
                    f"and {noisy.level:g})"
                )
            continue
        if max_ratio is not None and pair.ratio > max_ratio:
            problems.append(f"{where}ratio {pair.ratio:.4g} is above the maximum {max_ratio:g}")
            continue
        if verify and noisy.thumb is not None and clean.thumb is not None:
            check = verify_pair(noisy.thumb, clean.thumb, pair.ratio)
            pair = _with_similarity(pair, check)
            warnings.extend(verification_warnings(pair, check, where))
        if any(" " in _relative(p, base) for p in (pair.noisy, pair.clean)):
            warnings.append(f"{where}a file name contains spaces: LED's own loader cannot read it")
        pairs.append(pair)

    cameras = _count(p.camera for p in pairs)
    if one_camera and len(cameras) > 1:
        problems.append(
            "the list mixes cameras ("
            + ", ".join(f"{cam}: {n} pair{'s' if n != 1 else ''}" for cam, n in cameras.items())
            + "): a fine-tune adapts one camera"
        )
    if not entries and not problems:
        problems.append("no pairs in the list")
    return PairListCheck(path, base, entries, pairs, problems, warnings)


def _display(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def load_pairs(
    path: str | Path,
    root: str | Path | None = None,
    *,
    min_ratio: float = 1.0,
    max_ratio: float | None = None,
    verify: bool = False,
) -> list[Pair]:
    """Validated pairs of a list, or ONE :class:`InputError` listing the first problems.

    Call this before any long job. Every file is decoded once (see
    :mod:`rawdenoise.pairing.frames`). Warnings (content check with ``verify``) are dropped; use
    :func:`check_pair_list` to see them.
    """
    result = check_pair_list(path, root, verify=verify, min_ratio=min_ratio, max_ratio=max_ratio)
    result.raise_for_problems()
    return result.pairs
