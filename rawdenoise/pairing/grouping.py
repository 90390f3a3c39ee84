"""Grouping frames into scenes (bursts) and pairing each darker frame with the scene's reference."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rawdenoise.errors import UsageError
from rawdenoise.pairing.frames import Frame, _make_pair
from rawdenoise.pairing.pair import RATIO1_ISO_GAP, SAME_LEVEL, Pair, is_ratio1_pair
from rawdenoise.pairing.similarity import _with_similarity, verification_warnings, verify_pair

GroupBy = Literal["time", "sequence", "folder"]
GROUP_BY: tuple[str, ...] = ("time", "sequence", "folder")

#: Default largest pause (seconds) between the end of one exposure and the next shot of a burst.
DEFAULT_MAX_GAP = 60.0


@dataclass
class Scene:
    """Frames of one burst (one camera and size) and the clean reference chosen among them."""

    number: int
    frames: list[Frame]
    reference: Frame | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene": self.number,
            "frames": [str(f.path) for f in self.frames],
            "reference": str(self.reference.path) if self.reference else None,
            "camera": self.frames[0].camera if self.frames else None,
        }


_NUMBER_RE = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[Any, ...]:
    """Sort key putting IMG_9 before IMG_10 (folders first, case-insensitive)."""
    parts: list[Any] = []
    for piece in path.as_posix().lower().split("/"):
        parts.append(
            tuple(int(t) if t.isdigit() else t for t in _NUMBER_RE.split(piece) if t != "")
        )
    return tuple(parts)


def _file_number(path: Path) -> tuple[str, int] | None:
    """(prefix, number) of ``IMG_0042`` style names; None when the stem has no number."""
    match = re.match(r"^(.*?)(\d+)\D*$", path.stem)
    if not match:
        return None
    return (str(path.parent) + "/" + match.group(1).lower(), int(match.group(2)))


def _split_runs(frames: list[Frame], breaks: Callable[[Frame, Frame], bool]) -> list[list[Frame]]:
    runs: list[list[Frame]] = []
    for frame in frames:
        if runs and not breaks(runs[-1][-1], frame):
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


def group_frames(
    frames: Sequence[Frame],
    *,
    group_by: GroupBy = "time",
    max_gap: float = DEFAULT_MAX_GAP,
    folder: Path | None = None,
) -> tuple[list[list[Frame]], list[str]]:
    """Split frames into scenes; returns the groups (in shooting order) and warnings.

    - ``time``: one camera and size, sorted by capture time (file order breaks ties); a pause
      longer than ``max_gap`` seconds between the end of one exposure and the next capture
      starts a new scene. Frames without a capture time fall back to ``sequence``.
    - ``sequence``: one camera and size, file order; a break in the file numbering
      (IMG_0007 after IMG_0005) starts a new scene. For cameras whose clock is wrong.
    - ``folder``: every folder (with ``--recursive``) is one scene per camera and size.
    """
    if group_by not in GROUP_BY:
        raise UsageError(f"unknown grouping {group_by!r}; use one of {', '.join(GROUP_BY)}")
    if max_gap < 0:
        raise UsageError(f"--max-gap must be positive, got {max_gap:g}")
    base = folder or Path(".")

    def order(f: Frame) -> tuple[Any, ...]:
        try:
            return natural_key(f.path.relative_to(base))
        except ValueError:
            return natural_key(f.path)

    warnings: list[str] = []
    kinds: dict[tuple[Any, ...], list[Frame]] = {}
    for f in sorted(frames, key=order):
        key: tuple[Any, ...] = (f.camera, f.size)
        if group_by == "folder":
            key = (str(f.path.parent), *key)
        kinds.setdefault(key, []).append(f)

    def by_sequence(run: list[Frame]) -> list[list[Frame]]:
        def breaks(a: Frame, b: Frame) -> bool:
            na, nb = _file_number(a.path), _file_number(b.path)
            return na is None or nb is None or na[0] != nb[0] or nb[1] != na[1] + 1

        return _split_runs(run, breaks)

    groups: list[list[Frame]] = []
    for members in kinds.values():
        if group_by == "folder":
            groups.append(members)
        elif group_by == "sequence":
            groups.extend(by_sequence(members))
        else:
            timed = [f for f in members if f.capture_time is not None]
            untimed = [f for f in members if f.capture_time is None]
            if untimed:
                warnings.append(
                    f"{len(untimed)} frame{'s' if len(untimed) != 1 else ''} without a capture "
                    f"time (e.g. {untimed[0].path.name}) grouped by file numbering instead"
                )
                groups.extend(by_sequence(untimed))
            timed.sort(key=lambda f: (f.capture_time, order(f)))

            def pause(a: Frame, b: Frame) -> bool:
                assert a.capture_time is not None and b.capture_time is not None
                gap = (b.capture_time - a.capture_time).total_seconds() - float(a.exposure)
                return gap > max_gap

            groups.extend(_split_runs(timed, pause))

    def first_seen(group: list[Frame]) -> tuple[Any, ...]:
        times = [f.capture_time for f in group if f.capture_time is not None]
        return (min(times) if times else datetime.max, min(order(f) for f in group))

    groups.sort(key=first_seen)
    return groups, warnings


def _pick_reference(group: list[Frame]) -> Frame:
    """Largest exposure level; among equal levels the lowest ISO, then the first shot."""
    top = max(f.level for f in group)
    candidates = [f for f in group if f.level * SAME_LEVEL >= top]
    return min(candidates, key=lambda f: (f.iso, -f.level))


def pair_scene(scene: Scene, *, verify: bool = True) -> tuple[list[Pair], list[str]]:
    """Pair every frame darker than the scene's reference with it."""
    where = f"scene {scene.number}: "
    if len(scene.frames) < 2:
        only = scene.frames[0].path.name if scene.frames else "nothing"
        return [], [f"{where}only {only}: a pair needs a darker frame of the same scene"]
    ref = _pick_reference(scene.frames)
    scene.reference = ref
    pairs: list[Pair] = []
    warnings: list[str] = []
    same_level = [
        f
        for f in scene.frames
        if f is not ref
        and f.level * SAME_LEVEL >= ref.level
        and not is_ratio1_pair(f.level, f.iso, ref.level, ref.iso)
    ]
    if same_level:
        warnings.append(
            f"{where}{', '.join(f.path.name for f in same_level)} "
            f"{'has' if len(same_level) == 1 else 'have'} the reference's exposure level "
            f"({ref.level:g}): not paired (a pair needs a ratio above 1, or at ratio 1 an ISO "
            f"at least {RATIO1_ISO_GAP:g}x the clean frame's)"
        )
    for f in scene.frames:
        if f is ref or f in same_level:
            continue
        pair = _make_pair(f, ref, scene=scene.number)
        if verify and f.thumb is not None and ref.thumb is not None:
            check = verify_pair(f.thumb, ref.thumb, pair.ratio)
            pair = _with_similarity(pair, check)
            warnings.extend(verification_warnings(pair, check, where))
        pairs.append(pair)
    if not pairs:
        warnings.append(f"{where}no frame darker than {ref.path.name}: nothing to pair")
    return pairs, warnings
