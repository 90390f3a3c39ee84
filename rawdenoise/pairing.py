"""Noisy/clean pair lists: LED's ``NOISY CLEAN`` format, validation, and pairing a folder.

LED reads a pair list by splitting each line on one space and taking the first two tokens as
noisy (lq) and clean (gt) paths relative to ``--dataroot`` (method.md §4.4, §10); it checks
nothing. Here a list is parsed tolerantly (CRLF, blank and ``#`` lines, tabs and repeated
spaces, ``./`` prefixes, extra columns such as ELD's ``ISO800 ISO100``, names with spaces either
quoted or recognised because they name existing files) and validated before any long job:
files exist and decode, both frames come from one camera at one size, the clean frame really
is brighter, and the ratio (clean exposure level / noisy exposure level, from EXIF) is in range.

Decoding: a RAW header alone (rawpy without unpacking, ~0.5 ms) reports the full image size
even for a file cut to 1 % of its length, so header checks cannot catch truncated files.
Every frame is therefore decoded once with :func:`rawdenoise.rawio.read_raw` (measured on the
2-core test machine: 80-170 ms for a 24 MP DNG or ARW); the decoded mosaic is reduced at once
to a small thumbnail used by the content check and then dropped.

Content check: the two frames of a pair are block-averaged to <= 64 px, normalized by their
black/white levels, and the noisy one is multiplied by the ratio. A low correlation between the
two flags a pair whose frames do not show the same scene (camera or subject moved, wrong
file); a brightness ratio measured from the data far from the EXIF ratio flags a changed
aperture, ND filter or light. Both are warnings: shifts smaller than one thumbnail block (a
few dozen pixels on a 24 MP frame) are not detected.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rawdenoise.errors import InputError, UsageError
from rawdenoise.exposure import HIGH_ISO_MIN, LOW_ISO_MAX

if TYPE_CHECKING:
    import numpy as np

    from rawdenoise.exposure import RatioPlan

GroupBy = Literal["time", "sequence", "folder"]
GROUP_BY: tuple[str, ...] = ("time", "sequence", "folder")

#: Default largest pause (seconds) between the end of one exposure and the next shot of a burst.
DEFAULT_MAX_GAP = 60.0
#: Frames whose exposure levels differ by less than this factor count as the same level.
SAME_LEVEL = 1.01
#: Below this correlation (after exposure normalization) a pair is flagged as not one scene.
MIN_CORRELATION = 0.7
#: A brightness ratio measured from the data off the EXIF ratio by more than this factor warns.
MAX_RATIO_MISMATCH = 2.0
#: Ratios within this factor (a third of a stop) of a bin's smallest ratio share the bin.
RATIO_BIN = 2 ** (1 / 3)
#: Longest side of the thumbnails compared by the content check (packed pixels).
THUMB_SIDE = 64
#: How many problems the one InputError of :func:`load_pairs` lists.
MAX_LISTED = 5


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairEntry:
    """One parsed line of a pair list: paths resolved against the list's folder or the root."""

    noisy: Path
    clean: Path
    line: int
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pair:
    """A validated noisy/clean pair with what fine-tuning needs from EXIF."""

    noisy: Path
    clean: Path
    ratio: float  #: clean exposure level / noisy exposure level (LED's digital gain)
    noisy_iso: float
    clean_iso: float
    noisy_exposure: Fraction  #: seconds
    clean_exposure: Fraction  #: seconds
    camera: str
    size: tuple[int, int]  #: (height, width) of the visible mosaic
    line: int | None = None  #: line in the pair list it came from
    scene: int | None = None  #: scene number when found by :func:`find_pairs`
    similarity: float | None = None  #: content-check correlation, when checked

    @property
    def noisy_level(self) -> float:
        return float(self.noisy_iso) * float(self.noisy_exposure)

    @property
    def clean_level(self) -> float:
        return float(self.clean_iso) * float(self.clean_exposure)

    @property
    def iso_class(self) -> str:
        """``"low"`` (noisy ISO <= 500), ``"high"`` (>= 3200) or ``"mid"``, as LED asks."""
        return iso_class(self.noisy_iso)

    def to_dict(self) -> dict[str, Any]:
        return {
            "noisy": str(self.noisy),
            "clean": str(self.clean),
            "ratio": self.ratio,
            "noisy_iso": self.noisy_iso,
            "clean_iso": self.clean_iso,
            "noisy_exposure": float(self.noisy_exposure),
            "clean_exposure": float(self.clean_exposure),
            "noisy_level": self.noisy_level,
            "clean_level": self.clean_level,
            "iso_class": self.iso_class,
            "camera": self.camera,
            "size": list(self.size),
            "line": self.line,
            "scene": self.scene,
            "similarity": self.similarity,
        }


def iso_class(iso: float) -> str:
    if iso <= LOW_ISO_MAX:
        return "low"
    if iso >= HIGH_ISO_MIN:
        return "high"
    return "mid"


@dataclass(frozen=True, eq=False)
class Thumb:
    """Block-averaged normalized luminance of a frame and which blocks are near saturation."""

    lum: np.ndarray
    saturated: np.ndarray
    scale_dn: float  #: mean white - black, to tell real signal from the noise floor


@dataclass(frozen=True, eq=False)
class Frame:
    """What pairing needs from one RAW file (its pixels are not kept)."""

    path: Path
    camera: str
    size: tuple[int, int]
    iso: float
    exposure: Fraction
    capture_time: datetime | None
    thumb: Thumb | None = None

    @property
    def level(self) -> float:
        return float(self.iso) * float(self.exposure)


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class Verification:
    """Content check of one pair (``None`` where the data cannot tell)."""

    correlation: float | None
    measured_ratio: float | None
    note: str = ""


# --------------------------------------------------------------------------------------------
# Pair-list format
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    quoted: bool


def _tokenize(line: str) -> list[_Token] | None:
    """Whitespace-separated tokens; "..." or '...' keep spaces. None on an unclosed quote."""
    tokens: list[_Token] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "\"'":
            close = line.find(line[i], i + 1)
            if close < 0:
                return None
            tokens.append(_Token(line[i + 1 : close], i, close + 1, True))
            i = close + 1
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        tokens.append(_Token(line[i:j], i, j, False))
        i = j
    return tokens


def _candidates(base: Path, text: str) -> list[Path]:
    path = Path(text)
    out = [path if path.is_absolute() else base / path]
    if "\\" in text and os.sep == "/":  # a list written on Windows
        alt = Path(text.replace("\\", "/"))
        out.append(alt if alt.is_absolute() else base / alt)
    return out


def _resolve(base: Path, text: str) -> Path:
    """``text`` against ``base``, preferring a variant that exists."""
    options = _candidates(base, text)
    return next((p for p in options if p.exists()), options[0])


def _exists(base: Path, text: str) -> bool:
    return any(p.is_file() for p in _candidates(base, text))


def _span(line: str, tokens: list[_Token], a: int, b: int) -> str | None:
    """Text of tokens ``a..b-1``: a quoted token stands alone, unquoted ones join as written."""
    part = tokens[a:b]
    if len(part) == 1:
        return part[0].text
    if any(t.quoted for t in part):
        return None
    return line[part[0].start : part[-1].end]


def _parse_line(line: str, number: int, base: Path) -> PairEntry | str:
    """A :class:`PairEntry`, or a problem message."""
    tokens = _tokenize(line)
    if tokens is None:
        return f"line {number}: unclosed quote in {line.strip()!r}"
    if len(tokens) < 2:
        return f"line {number}: expected 'NOISY CLEAN', found only {tokens[0].text!r}"
    i, j = 1, 2
    if len(tokens) > 2:
        # Extra columns or unquoted names with spaces: take the first split naming two files.
        for a in range(1, len(tokens)):
            noisy = _span(line, tokens, 0, a)
            if noisy is None or not _exists(base, noisy):
                continue
            b = next(
                (
                    b
                    for b in range(a + 1, len(tokens) + 1)
                    if (clean := _span(line, tokens, a, b)) is not None and _exists(base, clean)
                ),
                None,
            )
            if b is not None:
                i, j = a, b
                break
    noisy, clean = _span(line, tokens, 0, i), _span(line, tokens, i, j)
    assert noisy is not None and clean is not None
    extra = tuple(t.text for t in tokens[j:])
    return PairEntry(_resolve(base, noisy), _resolve(base, clean), number, extra)


def _read_text(path: Path) -> str:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(
            f"{path}: is a folder, expected a pair list",
            hint="to pair the captures in a folder, run 'rawdenoise pair FOLDER'",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if b"\x00" in data[:4096]:
        raise InputError(
            f"{path}: is not a text pair list (binary data)",
            hint="a pair list has one 'NOISY CLEAN' line per pair",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse(path: Path, root: Path | None) -> tuple[list[PairEntry], list[str]]:
    text = _read_text(path)
    base = Path(root) if root is not None else Path(path).parent
    if root is not None and not base.is_dir():
        raise InputError(f"{base}: root folder not found")
    entries: list[PairEntry] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _parse_line(line, number, base)
        if isinstance(parsed, str):
            problems.append(parsed)
        else:
            entries.append(parsed)
    return entries, problems


def read_pair_list(path: str | Path, root: str | Path | None = None) -> list[PairEntry]:
    """Parse a pair list (``NOISY CLEAN`` per line); paths relative to its folder or ``root``.

    Only the format is checked here (one :class:`InputError` for malformed lines); use
    :func:`load_pairs` to validate the files themselves.
    """
    path = Path(path)
    entries, problems = _parse(path, Path(root) if root is not None else None)
    if problems:
        raise _combined_error(path, problems)
    return entries


def _quote(name: str) -> str:
    if not name or any(c.isspace() for c in name) or name[0] in "#\"'":
        if '"' not in name:
            return f'"{name}"'
        if "'" not in name:
            return f"'{name}'"
        raise InputError(f"cannot write a file name with spaces and both quote kinds: {name!r}")
    return name


def _relative(target: Path, folder: Path) -> str:
    try:
        rel = os.path.relpath(Path(target).absolute(), folder.absolute())
    except ValueError:  # another drive (Windows)
        return Path(target).absolute().as_posix()
    return Path(rel).as_posix()


def format_pair_list(
    pairs: Iterable[Pair | PairEntry | tuple[str | Path, str | Path]],
    folder: str | Path,
    *,
    extra_columns: bool = True,
) -> str:
    """The text of a pair list whose paths are relative to ``folder``.

    With ``extra_columns``, :class:`Pair` lines end with ``ISO<noisy> ISO<clean> x<ratio>``
    (ELD's lists carry ISO columns too); LED and :func:`read_pair_list` ignore them.
    """
    folder = Path(folder)
    lines = []
    for item in pairs:
        if isinstance(item, (Pair, PairEntry)):
            noisy, clean = item.noisy, item.clean
        else:
            noisy, clean = (Path(p) for p in item)
        line = f"{_quote(_relative(noisy, folder))} {_quote(_relative(clean, folder))}"
        if extra_columns and isinstance(item, Pair):
            line += f" ISO{item.noisy_iso:g} ISO{item.clean_iso:g} x{item.ratio:.4g}"
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def write_pair_list(
    path: str | Path,
    pairs: Iterable[Pair | PairEntry | tuple[str | Path, str | Path]],
    *,
    overwrite: bool = False,
    extra_columns: bool = True,
) -> Path:
    """Write ``pairs`` atomically in LED's format, paths relative to the list's folder.

    Names with spaces are quoted (LED's own loader cannot read those; rawdenoise can). An
    existing file is only replaced with ``overwrite``.
    """
    from rawdenoise.atomic import write_text_atomic

    path = Path(path)
    text = format_pair_list(pairs, path.parent, extra_columns=extra_columns)
    write_text_atomic(path, text, overwrite=overwrite)
    return path


# --------------------------------------------------------------------------------------------
# Reading frames
# --------------------------------------------------------------------------------------------


def _short_reason(path: Path, exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def read_frame(path: str | Path, *, thumbnail: bool = True) -> Frame:
    """Decode ``path`` once (catching truncated and non-Bayer files) and read its EXIF."""
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import read_raw

    path = Path(path)
    raw = read_raw(path)
    info = read_exif(path).require("iso", "exposure_time")
    assert info.iso is not None and info.exposure_time is not None
    return Frame(
        path=path,
        camera=raw.camera or "unknown camera",
        size=raw.shape,
        iso=float(info.iso),
        exposure=info.exposure_time,
        capture_time=info.capture_time,
        thumb=_thumbnail(raw) if thumbnail else None,
    )


def _thumbnail(raw: Any) -> Thumb:
    import numpy as np

    packed = raw.packed()
    _, h, w = packed.shape
    block = max(1, math.ceil(max(h, w) / THUMB_SIDE))
    hh, ww = max(1, h // block), max(1, w // block)
    bh, bw = min(block, h), min(block, w)
    view = packed[:, : hh * bh, : ww * bw].reshape(4, hh, bh, ww, bw)
    means = view.mean(axis=(2, 4), dtype=np.float64)
    peaks = view.max(axis=(2, 4)).astype(np.float64)
    black = np.asarray(raw.black_level, np.float64).reshape(4, 1, 1)
    white = np.asarray(raw.white_level, np.float64).reshape(4, 1, 1)
    lum = ((means - black) / (white - black)).mean(axis=0)
    saturated = (peaks >= black + 0.95 * (white - black)).any(axis=0)
    return Thumb(lum=lum, saturated=saturated, scale_dn=float(np.mean(white - black)))


def verify_pair(noisy: Thumb, clean: Thumb, ratio: float) -> Verification:
    """Correlate the clean thumbnail with the noisy one scaled by ``ratio`` (see module doc)."""
    import numpy as np

    if noisy.lum.shape != clean.lum.shape:
        return Verification(None, None, "frames differ in size")
    mask = ~(noisy.saturated | clean.saturated)
    if int(mask.sum()) < 16:
        return Verification(None, None, "clean frame almost fully saturated")
    a = noisy.lum[mask]
    b = clean.lum[mask]
    measured = None
    if float(a.mean()) * noisy.scale_dn > 0.5:  # more than half a DN of signal on average
        measured = float(b.mean() / a.mean())
    if float(b.std()) < 0.01 * abs(float(b.mean())) + 1e-4:
        return Verification(None, measured, "scene too flat to compare")
    scaled = a * ratio
    if float(scaled.std()) == 0.0:
        return Verification(0.0, measured, "noisy frame is uniform")
    corr = float(np.corrcoef(scaled, b)[0, 1])
    return Verification(corr, measured)


def _verification_warnings(pair: Pair, check: Verification, where: str) -> list[str]:
    out = []
    names = f"{pair.noisy.name} and {pair.clean.name}"
    if check.correlation is not None and check.correlation < MIN_CORRELATION:
        out.append(
            f"{where}{names} do not show the same scene (correlation {check.correlation:.2f} "
            "after exposure normalization): the camera or the subject moved, or a frame "
            "belongs elsewhere; drop the pair or reshoot it"
        )
    if check.measured_ratio is not None and pair.ratio > 0:
        off = check.measured_ratio / pair.ratio
        if check.measured_ratio <= 1:
            out.append(
                f"{where}the data of {pair.clean.name} is not brighter than {pair.noisy.name} "
                f"(measured ratio {check.measured_ratio:.3g}, EXIF ratio {pair.ratio:.4g})"
            )
        elif not 1 / MAX_RATIO_MISMATCH <= off <= MAX_RATIO_MISMATCH:
            out.append(
                f"{where}brightness ratio measured from {names} is {check.measured_ratio:.3g} "
                f"but EXIF says {pair.ratio:.4g}: did the aperture, an ND filter or the light "
                "change? (the ratio uses ISO x shutter time only)"
            )
    return out


def _make_pair(noisy: Frame, clean: Frame, **extra: Any) -> Pair:
    return Pair(
        noisy=noisy.path,
        clean=clean.path,
        ratio=clean.level / noisy.level,
        noisy_iso=noisy.iso,
        clean_iso=clean.iso,
        noisy_exposure=noisy.exposure,
        clean_exposure=clean.exposure,
        camera=noisy.camera,
        size=noisy.size,
        **extra,
    )


# --------------------------------------------------------------------------------------------
# Validating a pair list
# --------------------------------------------------------------------------------------------


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


def _combined_error(path: Path, problems: Sequence[str]) -> InputError:
    listed = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return InputError(
        f"pair list {path}: {count}: {listed}{more}",
        hint=(
            "each line is 'NOISY CLEAN' (the dark frame first), paths relative to the list's "
            f"folder or --root; 'rawdenoise pair --check {path}' lists every problem"
        ),
    )


def check_pair_list(
    path: str | Path,
    root: str | Path | None = None,
    *,
    verify: bool = True,
    min_ratio: float = 1.0,
    max_ratio: float | None = None,
) -> PairListCheck:
    """Validate every line of a pair list; collect problems instead of stopping at the first.

    Problems: malformed lines, missing or undecodable files, missing ISO/exposure time, the
    same file twice, frames from different cameras or of different sizes (within a pair, and
    cameras across the list), a clean frame not brighter than its noisy one (ratio <=
    ``min_ratio``, typically a swapped line), a ratio above ``max_ratio``. Warnings: repeated
    lines, content-check findings (with ``verify``), names LED's own loader cannot read.
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
        if pair.ratio <= min_ratio * (1 + 1e-9):
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
            warnings.extend(_verification_warnings(pair, check, where))
        if any(" " in _relative(p, base) for p in (pair.noisy, pair.clean)):
            warnings.append(f"{where}a file name contains spaces: LED's own loader cannot read it")
        pairs.append(pair)

    cameras = _count(p.camera for p in pairs)
    if len(cameras) > 1:
        problems.append(
            "the list mixes cameras ("
            + ", ".join(f"{cam}: {n} pair{'s' if n != 1 else ''}" for cam, n in cameras.items())
            + "): a fine-tune adapts one camera"
        )
    if not entries and not problems:
        problems.append("no pairs in the list")
    return PairListCheck(path, base, entries, pairs, problems, warnings)


def _with_similarity(pair: Pair, check: Verification) -> Pair:
    from dataclasses import replace

    return replace(pair, similarity=check.correlation)


def _display(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def load_pairs(
    path: str | Path,
    root: str | Path | None = None,
    *,
    min_ratio: float = 1.0,
    max_ratio: float | None = None,
    verify: bool = False,
) -> list[Pair]:
    """Validated pairs of a list, or ONE :class:`InputError` listing the first problems.

    Call this before any long job. Every file is decoded once (see the module docstring).
    Warnings (content check with ``verify``) are dropped; use :func:`check_pair_list` to
    see them.
    """
    result = check_pair_list(path, root, verify=verify, min_ratio=min_ratio, max_ratio=max_ratio)
    result.raise_for_problems()
    return result.pairs


# --------------------------------------------------------------------------------------------
# Ratio coverage (LED: for each ratio, a low-ISO and a high-ISO pair)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioCoverage:
    """Pairs whose ratios lie within a third of a stop, by the noisy frame's ISO class."""

    ratio: float  #: geometric mean of the bin's ratios
    ratios: tuple[float, ...]
    low_iso: tuple[float, ...]  #: noisy ISOs <= 500
    high_iso: tuple[float, ...]  #: noisy ISOs >= 3200
    other_iso: tuple[float, ...]
    plan: RatioPlan | None = None  #: what to shoot when incomplete (``ratio``'s capture plan)

    @property
    def complete(self) -> bool:
        return bool(self.low_iso) and bool(self.high_iso)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(
            label for label, isos in (("low", self.low_iso), ("high", self.high_iso)) if not isos
        )

    @property
    def label(self) -> str:
        return f"x{self.ratio:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "ratios": list(self.ratios),
            "pairs": len(self.ratios),
            "low_iso": list(self.low_iso),
            "high_iso": list(self.high_iso),
            "other_iso": list(self.other_iso),
            "complete": self.complete,
            "missing": list(self.missing),
            "plan": [s.to_dict() for s in self.plan.suggestions] if self.plan else [],
        }


def ratio_coverage(pairs: Sequence[Pair]) -> list[RatioCoverage]:
    """Bin ``pairs`` by ratio (third-stop bins) and say which ISO class each bin lacks."""
    from rawdenoise.exposure import Exposure, capture_plan

    bins: list[list[Pair]] = []
    for pair in sorted(pairs, key=lambda p: p.ratio):
        if bins and pair.ratio <= bins[-1][0].ratio * RATIO_BIN * (1 + 1e-9):
            bins[-1].append(pair)
        else:
            bins.append([pair])
    out = []
    for group in bins:
        ratios = tuple(p.ratio for p in group)
        mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        low = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "low"}))
        high = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "high"}))
        other = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "mid"}))
        plan = None
        if not (low and high):
            # Plan from the pair closest to the bin's centre: the other ISO class, same level.
            ref = min(group, key=lambda p: abs(math.log(p.ratio / mean)))
            plan = capture_plan(
                Exposure(ref.clean_iso, ref.clean_exposure),
                Exposure(ref.noisy_iso, ref.noisy_exposure),
            )
        out.append(RatioCoverage(mean, ratios, low, high, other, plan))
    return out


# --------------------------------------------------------------------------------------------
# Pairing a folder
# --------------------------------------------------------------------------------------------


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


_NUMBER_RE = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[Any, ...]:
    """Sort key putting IMG_9 before IMG_10 (folders first, case-insensitive)."""
    parts: list[Any] = []
    for piece in path.as_posix().lower().split("/"):
        parts.append(
            tuple(int(t) if t.isdigit() else t for t in _NUMBER_RE.split(piece) if t != "")
        )
    return tuple(parts)


def list_raw_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """RAW files (any extension case) in ``folder``, natural order; hidden files ignored."""
    from rawdenoise.rawio import is_raw_path

    if not folder.exists():
        raise InputError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise InputError(
            f"{folder}: is a file, expected a folder of captures",
            hint="to check an existing pair list, run 'rawdenoise pair --check LIST'",
        )
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    found = [
        p
        for p in pattern
        if is_raw_path(p)
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: natural_key(p.relative_to(folder)))


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
    same_level = [f for f in scene.frames if f is not ref and f.level * SAME_LEVEL >= ref.level]
    if same_level:
        warnings.append(
            f"{where}{', '.join(f.path.name for f in same_level)} "
            f"{'has' if len(same_level) == 1 else 'have'} the reference's exposure level "
            f"({ref.level:g}): not paired (a pair needs a ratio above 1)"
        )
    for f in scene.frames:
        if f is ref or f in same_level:
            continue
        pair = _make_pair(f, ref, scene=scene.number)
        if verify and f.thumb is not None and ref.thumb is not None:
            check = verify_pair(f.thumb, ref.thumb, pair.ratio)
            pair = _with_similarity(pair, check)
            warnings.extend(_verification_warnings(pair, check, where))
        pairs.append(pair)
    if not pairs:
        warnings.append(f"{where}no frame darker than {ref.path.name}: nothing to pair")
    return pairs, warnings


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
    paths = list_raw_files(folder, recursive=recursive)
    frames: list[Frame] = []
    skipped: list[Skipped] = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i, len(paths), path)
        try:
            frames.append(read_frame(path, thumbnail=verify))
        except InputError as exc:
            skipped.append(Skipped(path, _short_reason(path, exc)))
        except OSError as exc:
            skipped.append(Skipped(path, f"cannot read ({exc.strerror or exc})"))
    groups, warnings = group_frames(frames, group_by=group_by, max_gap=max_gap, folder=folder)
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
