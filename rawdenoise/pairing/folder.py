"""Pairing a folder of captures: list its RAW files, read them, group scenes, pair them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError, UsageError
from rawdenoise.pairing.coverage import RatioCoverage, ratio_coverage
from rawdenoise.pairing.frames import Frame, _short_reason, read_frame
from rawdenoise.pairing.grouping import (
    DEFAULT_MAX_GAP,
    GROUP_BY,
    GroupBy,
    Scene,
    group_frames,
    natural_key,
    pair_scene,
)
from rawdenoise.pairing.listfile import shown_name, unwritable_name
from rawdenoise.pairing.pair import Pair, _count


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class PairSearch:
    """Result of :func:`find_pairs`."""

    folder: Path
    pairs: list[Pair]
    scenes: list[Scene]
    skipped: list[Skipped]
    warnings: list[str]
    frames: int  #: RAW files found

    @property
    def coverage(self) -> list[RatioCoverage]:
        return ratio_coverage(self.pairs)

    @property
    def cameras(self) -> dict[str, int]:
        """Pairs per camera, most first."""
        counts = _count(p.camera for p in self.pairs)
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "frames": self.frames,
            "pairs": [p.to_dict() for p in self.pairs],
            "ratios": [c.to_dict() for c in self.coverage],
            "isos": sorted({p.noisy_iso for p in self.pairs}),
            "cameras": self.cameras,
            "scenes": [s.to_dict() for s in self.scenes],
            "warnings": list(self.warnings),
            "skipped": [s.to_dict() for s in self.skipped],
        }


def list_raw_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """RAW files (any extension case) in ``folder``, natural order; hidden files ignored.

    A file reached twice (a symbolic link to a file already listed) is listed once.
    """
    return _scan(folder, recursive=recursive)[0]


def _scan(folder: Path, *, recursive: bool) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The RAW files, and the ``(dropped, kept)`` paths that resolve to one file."""
    from rawdenoise.rawio import is_raw_path

    if not folder.exists():
        raise InputError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise InputError(
            f"{folder}: is a file, expected a folder of captures",
            hint="to check an existing pair list, run 'rawdenoise pair --check LIST'",
        )
    try:
        pattern = folder.rglob("*") if recursive else folder.iterdir()
        found = [
            p
            for p in pattern
            if is_raw_path(p)
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and p.is_file()
        ]
    except OSError as exc:  # an unreadable (sub-)folder, a file that vanished
        where = f" ({exc.filename})" if exc.filename else ""
        raise InputError(
            f"{folder}: cannot scan the folder for RAW files: {exc.strerror or exc}{where}",
            hint="give a folder that holds only your captures",
        ) from exc
    found.sort(key=lambda p: natural_key(p.relative_to(folder)))
    by_file: dict[Path, list[Path]] = {}
    for p in found:
        by_file.setdefault(real_path(p), []).append(p)
    keep: set[Path] = set()
    duplicates: list[tuple[Path, Path]] = []
    for paths in by_file.values():
        kept = next((p for p in paths if not p.is_symlink()), paths[0])
        keep.add(kept)
        duplicates.extend((p, kept) for p in paths if p is not kept)
    return [p for p in found if p in keep], duplicates


def find_pairs(
    folder: str | Path,
    *,
    recursive: bool = False,
    group_by: GroupBy = "time",
    max_gap: float = DEFAULT_MAX_GAP,
    verify: bool = True,
    progress: Callable[[int, int, Path], None] | None = None,
) -> PairSearch:
    """Read every RAW file in ``folder``, group the frames into scenes and pair them.

    Within a scene the frame with the largest exposure level (ISO x seconds) is the clean
    reference and every darker frame is paired with it, ratio from EXIF. Unreadable frames
    (not RAW, truncated, non-Bayer, no ISO/exposure time) are skipped with the reason.
    ``progress(i, n, path)`` is called before each file is read.
    """
    folder = Path(folder)
    if group_by not in GROUP_BY:
        raise UsageError(f"unknown grouping {group_by!r}; use one of {', '.join(GROUP_BY)}")
    paths, duplicates = _scan(folder, recursive=recursive)
    frames: list[Frame] = []
    skipped: list[Skipped] = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i, len(paths), path)
        reason = unwritable_name(path.relative_to(folder).as_posix())
        if reason is not None:
            skipped.append(Skipped(path, f"file name {reason}: a pair list cannot hold it"))
            continue
        try:
            frames.append(read_frame(path, thumbnail=verify))
        except InputError as exc:
            skipped.append(Skipped(path, _short_reason(path, exc)))
        except OSError as exc:
            skipped.append(Skipped(path, f"cannot read ({exc.strerror or exc})"))
    groups, warnings = group_frames(frames, group_by=group_by, max_gap=max_gap, folder=folder)
    for dropped, kept in duplicates:  # both were found under the folder
        warnings.insert(
            0,
            f"{shown_name(dropped.relative_to(folder).as_posix())} is the same file as "
            f"{shown_name(kept.relative_to(folder).as_posix())} (a link): read once",
        )
    scenes = [Scene(n, g) for n, g in enumerate(groups, start=1)]
    pairs: list[Pair] = []
    for scene in scenes:
        found, notes = pair_scene(scene, verify=verify)
        pairs.extend(found)
        warnings.extend(notes)
    cameras = _count(f.camera for f in frames)
    if len(cameras) > 1:
        warnings.insert(
            0,
            "the folder holds frames from "
            + ", ".join(f"{cam} ({n})" for cam, n in cameras.items())
            + ": scenes are formed per camera; a fine-tune adapts one camera",
        )
    return PairSearch(folder, pairs, scenes, skipped, warnings, len(paths))


def real_path(path: Path) -> Path:
    """``path`` with links resolved (as it stands when it cannot be: a loop, a bad parent)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()
