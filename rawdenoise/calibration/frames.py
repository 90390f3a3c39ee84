"""Find calibration frames, read their EXIF, check they belong together, group them by ISO.

Only metadata is read here (fast); pixel data is decoded ISO by ISO later, so that a full
calibration shoot never has to fit in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import numpy as np

from rawdenoise.errors import InputError

T = TypeVar("T")

#: Fewest frames of each kind per ISO: a pair for the temporal statistics.
MIN_FRAMES = 2
#: Fewest ISOs: the log-linear fits need two points (three to judge them).
MIN_ISOS = 2


@dataclass(frozen=True)
class FrameInfo:
    path: Path
    kind: str  #: "dark" or "flat"
    iso: float
    exposure: Fraction | None
    make: str
    model: str

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()


#: More entries than any capture session holds: the folder given is not one of frames (``/``,
#: a home folder) and walking it all would take minutes before any message.
MAX_SCANNED = 20_000


def _walk(folder: Path, option: str, kind: str) -> Iterator[Path]:
    """``folder.rglob("*")``, refusing a folder with more than :data:`MAX_SCANNED` entries."""
    for seen, path in enumerate(folder.rglob("*"), start=1):
        if seen > MAX_SCANNED:
            raise InputError(
                f"{option} {folder}: more than {MAX_SCANNED:,} files and folders below it: "
                f"not a folder of {kind} frames",
                hint=f"give the folder that holds only your {kind} frames (sub-folders per ISO "
                "are fine)",
            )
        yield path


def find_raw_files(folder: Path, kind: str) -> list[Path]:
    """Every RAW file under ``folder`` (sub-folders too, e.g. one per ISO), sorted."""
    from rawdenoise.rawio import is_raw_path

    option = f"--{kind}"
    if not folder.exists():
        raise InputError(f"{option} {folder}: no such folder")
    if not folder.is_dir():
        raise InputError(f"{option} {folder}: not a folder", hint=f"give a folder of {kind} frames")
    try:
        files = sorted(p for p in _walk(folder, option, kind) if is_raw_path(p) and p.is_file())
    except OSError as exc:  # an unreadable sub-folder (e.g. under /proc), a vanished file
        where = f" ({exc.filename})" if exc.filename else ""
        raise InputError(
            f"{option} {folder}: cannot scan the folder for RAW files: "
            f"{exc.strerror or exc}{where}",
            hint=f"give a folder that holds only your {kind} frames",
        ) from exc
    if not files:
        raise InputError(
            f"{option} {folder}: no RAW files found",
            hint="put the camera's RAW files (e.g. .ARW, .NEF, .CR2, .DNG) in the folder",
        )
    return files


def read_infos(paths: Iterable[Path], kind: str) -> list[FrameInfo]:
    from rawdenoise.exif import read_exif

    out = []
    for path in paths:
        info = read_exif(path)
        if info.iso is None:
            _check_decodable(path)  # a junk or empty file: say so, not "no ISO"
            raise InputError(
                f"{path.name}: EXIF has no ISO, which calibration groups frames by",
                hint="calibrate with the camera's original RAW files",
            )
        out.append(
            FrameInfo(path, kind, float(info.iso), info.exposure_time, info.make, info.model)
        )
    return out


def _check_decodable(path: Path) -> None:
    """Raise the decoder's error (naming the file) when ``path`` is not a readable RAW file."""
    from rawdenoise.rawio import read_raw

    _named(path, read_raw)


def _named(path: Path, read: Callable[[Path], T]) -> T:
    """``read(path)``, with any input error's message starting with the file's name."""
    try:
        return read(path)
    except InputError as exc:
        if path.name in exc.message:
            raise
        raise type(exc)(f"{path.name}: {exc.message}", hint=exc.hint) from exc


def check_one_camera(frames: Iterable[FrameInfo]) -> str:
    """All frames must come from one camera model (EXIF make and model)."""
    cameras: dict[str, Path] = {}
    for f in frames:
        cameras.setdefault(f.camera, f.path)
    if len(cameras) > 1:
        (a, pa), (b, pb) = list(cameras.items())[:2]
        raise InputError(
            f"frames from different cameras: {pa.name} is {a or 'unknown'!r} but {pb.name} is "
            f"{b or 'unknown'!r}",
            hint="calibrate one camera at a time: give only its frames",
        )
    return next(iter(cameras))


@dataclass(frozen=True)
class IsoGroup:
    iso: float
    darks: tuple[FrameInfo, ...]
    flats: tuple[FrameInfo, ...]


def group_by_iso(
    darks: list[FrameInfo], flats: list[FrameInfo]
) -> tuple[list[IsoGroup], list[str]]:
    """ISOs that have both kinds of frames, and notes about the ISOs left out."""
    notes = []
    dark_isos = {f.iso for f in darks}
    flat_isos = {f.iso for f in flats}
    for iso in sorted(dark_isos - flat_isos):
        notes.append(f"ISO {iso:g} has dark frames but no flat frames: left out")
    for iso in sorted(flat_isos - dark_isos):
        notes.append(f"ISO {iso:g} has flat frames but no dark frames: left out")
    groups = []
    for iso in sorted(dark_isos & flat_isos):
        d = tuple(f for f in darks if f.iso == iso)
        fl = tuple(f for f in flats if f.iso == iso)
        for kind, items in (("dark", d), ("flat", fl)):
            if len(items) < MIN_FRAMES:
                raise InputError(
                    f"too few {kind} frames at ISO {iso:g}: {len(items)}, need at least "
                    f"{MIN_FRAMES}",
                    hint="shoot several frames per ISO (ELD used 15); flats in pairs at the "
                    "same exposure",
                )
        groups.append(IsoGroup(iso, d, fl))
    if len(groups) < MIN_ISOS:
        found = ", ".join(f"{g.iso:g}" for g in groups) or "none"
        raise InputError(
            f"calibration needs dark and flat frames at {MIN_ISOS} or more ISOs; found "
            f"{len(groups)} ({found})",
            hint="the noise model is fitted against the gain across ISOs: shoot at least 3 "
            "ISOs spanning the range you use",
        )
    return groups, notes


class FrameLoader:
    """Decode frames, checking that every one has the same size, CFA and levels."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] | None = None
        self.cfa: str | None = None
        self.black: np.ndarray | None = None
        self.white: np.ndarray | None = None
        self.first: Path | None = None

    def load(self, path: Path) -> np.ndarray:
        """Packed float32 (4, H, W) in DN above the per-channel black level."""
        from rawdenoise.rawio import read_raw

        frame = _named(path, read_raw)  # e.g. an odd colour pattern, white <= black level
        if self.shape is None:
            self.shape, self.cfa, self.first = frame.shape, frame.cfa, path
            self.black, self.white = frame.black_level.copy(), frame.white_level.copy()
        elif frame.shape != self.shape:
            raise InputError(
                f"frames of different sizes: {path.name} is {frame.shape[1]}x{frame.shape[0]} "
                f"but {self.first.name} is {self.shape[1]}x{self.shape[0]}",
                hint="use full-size RAW files of one camera and one crop mode",
            )
        elif frame.cfa != self.cfa:
            raise InputError(
                f"frames with different colour patterns: {path.name} is {frame.cfa}, "
                f"{self.first.name} is {self.cfa}"
            )
        packed = frame.packed().astype(np.float32)
        packed -= frame.black_level.reshape(4, 1, 1)
        return packed

    @property
    def span(self) -> np.ndarray:
        assert self.black is not None and self.white is not None
        return self.white - self.black
