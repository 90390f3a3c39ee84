"""The rawpy boundary: decode a RAW file into a :class:`RawFrame`; Bayer pack/unpack; DNG write.

Packing follows LED (method.md §1.1): four channels in colour-index order **R, G1, B, G2**
(LibRaw's ``color_desc`` ``RGBG``) whatever the sensor's 2x2 phase, each a stride-2 slice. Odd
heights/widths are padded with the row/column two before the edge (same CFA phase) so that the
last row and column are denoised too, and :func:`unpack_bayer` crops back: the round trip is
bit-exact for every phase and size.

What the *network* sees (:meth:`RawFrame.normalized`) is packed in one geometry whatever the
sensor: R at the top left, G1 to its right, G2 below it, B diagonal (RGGB). A GRBG, GBRG or
BGGR mosaic gets one reflected row and/or column in front first (:func:`pack_rggb`), so a
network never sees the colours of a 2x2 block in another arrangement than it was trained on
("Bayer pattern unification", Liu et al., CVPRW 2019); :func:`unpack_rggb` drops them again.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rawdenoise.errors import InputError, UnsupportedSensorError

#: Canonical colour indices: 0 R, 1 G1 (on R's row), 2 B, 3 G2.
_LETTERS = "RGBG"
RAW_EXTENSIONS = frozenset(
    ext.lower()
    for ext in (
        ".3fr .ari .arw .bay .cr2 .cr3 .crw .cs1 .dcr .dng .erf .fff .gpr .iiq .k25 .kdc .mdc "
        ".mef .mos .mrw .nef .nrw .orf .pef .ptx .pxn .r3d .raf .raw .rw2 .rwl .rwz .sr2 .srf "
        ".srw .x3f"
    ).split()
)


def is_raw_path(path: Path) -> bool:
    """Whether ``path`` has a RAW file extension (case-insensitive)."""
    return path.suffix.lower() in RAW_EXTENSIONS


def pattern_from_cfa(cfa: str) -> np.ndarray:
    """``"RGGB"`` -> the 2x2 colour-index pattern ``[[0,1],[3,2]]`` (G1 shares R's row)."""
    cfa = cfa.upper()
    if sorted(cfa) != ["B", "G", "G", "R"] or len(cfa) != 4:
        raise InputError(f"not a 2x2 Bayer pattern: {cfa!r}")
    pattern = np.zeros((2, 2), dtype=np.int64)
    r_row = cfa.index("R") // 2
    for pos, letter in enumerate(cfa):
        row, col = divmod(pos, 2)
        if letter == "R":
            pattern[row, col] = 0
        elif letter == "B":
            pattern[row, col] = 2
        else:
            pattern[row, col] = 1 if row == r_row else 3
    return pattern


def cfa_from_pattern(pattern: np.ndarray) -> str:
    """The 2x2 colour-index pattern -> ``"RGGB"``-style string (row-major)."""
    return "".join(_LETTERS[int(v)] for v in np.asarray(pattern).reshape(-1))


def _check_pattern(pattern: np.ndarray) -> np.ndarray:
    pattern = np.asarray(pattern)
    if pattern.shape != (2, 2) or sorted(pattern.reshape(-1).tolist()) != [0, 1, 2, 3]:
        raise UnsupportedSensorError(f"not a 2x2 Bayer colour pattern: {pattern.tolist()}")
    return pattern


def pack_bayer(mosaic: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """(H, W) mosaic -> (4, ceil(H/2), ceil(W/2)) in R, G1, B, G2 order (dtype kept)."""
    pattern = _check_pattern(pattern)
    if mosaic.ndim != 2:
        raise InputError(f"expected a 2-D mosaic, got shape {mosaic.shape}")
    h, w = mosaic.shape
    if h < 2 or w < 2:
        raise InputError(f"mosaic too small to pack: {h}x{w}")
    if h % 2 or w % 2:
        mosaic = _pad_same_phase(mosaic)
    out = np.empty((4, mosaic.shape[0] // 2, mosaic.shape[1] // 2), dtype=mosaic.dtype)
    for row in range(2):
        for col in range(2):
            out[pattern[row, col]] = mosaic[row::2, col::2]
    return out


def _pad_same_phase(mosaic: np.ndarray) -> np.ndarray:
    """Pad an odd dimension by repeating the row/column two before the edge (same CFA phase)."""
    h, w = mosaic.shape
    if h % 2:
        mosaic = np.concatenate([mosaic, mosaic[h - 2 : h - 1]], axis=0)
    if w % 2:
        mosaic = np.concatenate([mosaic, mosaic[:, w - 2 : w - 1]], axis=1)
    return mosaic


def unpack_bayer(
    packed: np.ndarray, pattern: np.ndarray, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Inverse of :func:`pack_bayer`; ``shape`` crops back to an odd original size."""
    pattern = _check_pattern(pattern)
    if packed.ndim != 3 or packed.shape[0] != 4:
        raise InputError(f"expected packed (4, H, W), got shape {packed.shape}")
    _, ph, pw = packed.shape
    mosaic = np.empty((2 * ph, 2 * pw), dtype=packed.dtype)
    for row in range(2):
        for col in range(2):
            mosaic[row::2, col::2] = packed[pattern[row, col]]
    if shape is not None:
        mosaic = mosaic[: shape[0], : shape[1]]
    return mosaic


#: The network's packed geometry (colour indices of the 2x2 block): R G1 / G2 B.
RGGB = np.array([[0, 1], [3, 2]])


def rggb_offset(pattern: np.ndarray) -> tuple[int, int]:
    """Rows and columns to put in front of a mosaic so that it starts with R G / G B."""
    pattern = _check_pattern(pattern)
    colours = np.where(pattern == 3, 1, pattern)  # G1 and G2 are one colour
    for dy in (0, 1):
        for dx in (0, 1):
            if np.array_equal(np.roll(colours, (dy, dx), axis=(0, 1)), [[0, 1], [1, 2]]):
                return dy, dx
    raise UnsupportedSensorError(f"not a Bayer colour pattern: {pattern.tolist()}")


def pack_rggb(mosaic: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Pack any Bayer phase in the RGGB geometry, reflecting a row/column in front if needed.

    The reflected row (column) is the mosaic's second, which has the colours the missing one
    would have; G1 stays the green on R's row, so per-channel levels keep their order.
    """
    dy, dx = rggb_offset(pattern)
    if dy or dx:
        if min(mosaic.shape) < 2:
            raise InputError(f"mosaic too small to pack: {mosaic.shape[0]}x{mosaic.shape[1]}")
        mosaic = np.pad(mosaic, ((dy, 0), (dx, 0)), mode="reflect")
    return pack_bayer(mosaic, RGGB)


def unpack_rggb(packed: np.ndarray, pattern: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pack_rggb` for a mosaic of ``shape`` and ``pattern``."""
    dy, dx = rggb_offset(pattern)
    return unpack_bayer(packed, RGGB)[dy : dy + shape[0], dx : dx + shape[1]]


def normalize(packed: np.ndarray, black: np.ndarray, white: np.ndarray) -> np.ndarray:
    """``(x - black) / (white - black)`` per packed channel, float32, unclipped."""
    black = np.asarray(black, dtype=np.float32).reshape(-1, 1, 1)
    white = np.asarray(white, dtype=np.float32).reshape(-1, 1, 1)
    out = packed.astype(np.float32)
    out -= black
    out /= white - black
    return out


def denormalize(x: np.ndarray, black: np.ndarray, white: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize`, rounded and clipped to uint16."""
    black = np.asarray(black, dtype=np.float32).reshape(-1, 1, 1)
    white = np.asarray(white, dtype=np.float32).reshape(-1, 1, 1)
    # one float32 temporary, updated in place (a 24 MP frame: 0.2 s instead of 1.4 s)
    dn = np.multiply(x, white - black, dtype=np.float32)
    dn += black
    np.rint(dn, out=dn)
    np.clip(dn, 0, 65535, out=dn)
    return dn.astype(np.uint16)


@dataclass(frozen=True, eq=False)
class RawFrame:
    """A decoded Bayer RAW image: the visible mosaic and what is needed to normalize it."""

    path: Path
    mosaic: np.ndarray  #: uint16 (H, W), visible area
    pattern: np.ndarray  #: 2x2 colour indices (0 R, 1 G1, 2 B, 3 G2) of the visible area
    black_level: np.ndarray  #: float32 (4,), packed order R, G1, B, G2
    white_level: np.ndarray  #: float32 (4,)
    make: str = ""
    model: str = ""
    camera_wb: np.ndarray = field(default_factory=lambda: np.ones(4, dtype=np.float32))
    #: XYZ -> camera matrix (3x3), as DNG ColorMatrix; None when LibRaw has none
    color_matrix: np.ndarray | None = None
    flip: int = 0  #: LibRaw orientation code

    @property
    def cfa(self) -> str:
        return cfa_from_pattern(self.pattern)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.mosaic.shape[0]), int(self.mosaic.shape[1]))

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()

    def packed(self) -> np.ndarray:
        """The sensor's own phase, channels in colour-index order (levels, statistics)."""
        return pack_bayer(self.mosaic, self.pattern)

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`packed`."""
        return unpack_bayer(packed, self.pattern, self.shape)

    def normalized(self) -> np.ndarray:
        """The network's input layout (:func:`pack_rggb`), float32 in [0, 1] after per-channel
        black/white (values above white kept)."""
        return normalize(pack_rggb(self.mosaic, self.pattern), self.black_level, self.white_level)

    def from_normalized_layout(self, packed: np.ndarray) -> np.ndarray:
        """A mosaic of this frame's shape and phase from an array laid out like
        :meth:`normalized` (the network's output)."""
        return unpack_rggb(packed, self.pattern, self.shape)


def _sensor_problem(raw: Any) -> str | None:
    """Name the sensor layout when it is not a 2x2 Bayer mosaic."""
    import rawpy

    if raw.raw_type == rawpy.RawType.Stack:
        return (
            "it holds demosaiced (linear) RGB data, e.g. a linear DNG or a Foveon/sRAW file, "
            "not a Bayer mosaic"
        )
    pattern = raw.raw_pattern
    if pattern is None:
        return "it has no colour filter pattern (monochrome or unknown sensor)"
    pattern = np.asarray(pattern)
    if pattern.shape == (6, 6):
        return "it comes from a Fujifilm X-Trans sensor (6x6 colour pattern)"
    if pattern.shape != (2, 2):
        return f"its colour filter pattern is {pattern.shape[0]}x{pattern.shape[1]}, not 2x2 Bayer"
    desc = raw.color_desc.decode("ascii", "replace") if raw.color_desc else ""
    if desc and sorted(set(desc)) != ["B", "G", "R"]:
        return f"its colour filters are {desc} (e.g. CYGM), not RGB Bayer"
    return None


def _visible_pattern(raw: Any) -> np.ndarray:
    colors = np.asarray(raw.raw_colors_visible[:2, :2], dtype=np.int64)
    values = sorted(colors.reshape(-1).tolist())
    if values == [0, 1, 2, 3]:
        return colors
    if values == [0, 1, 1, 2]:  # 3-colour description: split the greens (G1 on R's row)
        r_row = int(np.argwhere(colors == 0)[0][0])
        fixed = colors.copy()
        for row, col in np.argwhere(colors == 1):
            fixed[row, col] = 1 if row == r_row else 3
        return fixed
    raise UnsupportedSensorError(f"unexpected 2x2 colour pattern {colors.tolist()}")


def _levels(raw: Any) -> tuple[np.ndarray, np.ndarray]:
    black = np.asarray(raw.black_level_per_channel, dtype=np.float32)
    if black.size != 4:
        black = np.full(4, float(np.mean(black)) if black.size else 0.0, dtype=np.float32)
    white_scalar = float(raw.white_level)
    per_channel = raw.camera_white_level_per_channel
    white = None
    if per_channel is not None:
        white = np.asarray([float(v) if v is not None else 0.0 for v in per_channel], np.float32)
        if white.size != 4 or (white <= black).any():
            white = None  # LED's fallback never triggered (method.md §1.3): ours does
    if white is None:
        white = np.full(4, white_scalar, dtype=np.float32)
    if (white <= black).any():
        raise InputError(f"white level {white.tolist()} is not above black level {black.tolist()}")
    return black, white


#: one redirection of file descriptor 2 at a time (``process`` decodes and renders in threads)
_FD2_LOCK = threading.RLock()
_python_stderr_kept = False


def _keep_python_stderr() -> None:
    """Give Python's ``sys.stderr`` its own copy of file descriptor 2, once.

    :func:`silenced_c_stderr` points fd 2 elsewhere while LibRaw runs. ``process`` decodes the
    next file and renders the previous one in worker threads while the main thread reports
    progress, warnings and errors: written to fd 2 during such a window, they would vanish.
    """
    global _python_stderr_kept
    if _python_stderr_kept:
        return
    _python_stderr_kept = True
    stream = sys.stderr
    try:
        if stream is None or stream.fileno() != 2:
            return  # already elsewhere (a test's capture, an IDE): nothing to protect
        stream.flush()
        copy = os.dup(2)
    except (AttributeError, OSError, ValueError):
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "backslashreplace"
    sys.stderr = open(copy, "w", buffering=1, encoding=encoding, errors=errors)  # noqa: SIM115


@contextlib.contextmanager
def silenced_c_stderr() -> Iterator[list[str]]:
    """Keep what LibRaw prints straight to file descriptor 2 ("Unexpected end of file") off
    the terminal; the yielded list holds that text once the block is over. Python's own
    ``sys.stderr`` keeps writing to the terminal meanwhile, from any thread."""
    with _FD2_LOCK:
        _keep_python_stderr()
        with _redirected_fd2() as said:
            yield said


@contextlib.contextmanager
def _redirected_fd2() -> Iterator[list[str]]:
    import tempfile

    said: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters)
        yield said
        return
    try:
        try:
            sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the with below)
        except OSError:  # no writable temporary folder: hide the text, as before
            sink = open(os.devnull, "w+b")  # noqa: SIM115
        with sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield said
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                said.append(sink.read(4096).decode("utf-8", "replace"))
    finally:
        os.close(saved)


#: what LibRaw's data-error callback prints when it meets a cut-off or damaged file
_LIBRAW_DATA_ERRORS = ("unexpected end of file", "data corrupted", "corrupted data")

_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` (which exists) cannot be a RAW file: a folder, a FIFO, a device...;
    ``None`` for a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, expected a RAW file"
    return f"is {_FILE_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a RAW file"


def _check_readable_and_complete(path: Path) -> None:
    """Refuse, with the reason, a file that cannot be opened or that was cut short."""
    from rawdenoise.truncation import missing_data

    try:
        missing = missing_data(path)
    except PermissionError as exc:
        raise InputError(
            f"{path.name}: permission denied", hint="check the file's permissions"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{path.name}: cannot read the file ({reason.lower()})") from exc
    if missing is not None:
        needed, present = missing
        raise InputError(
            f"{path.name}: the file is truncated ({present} of at least {needed} bytes)",
            hint="copy it again from the card or the original source",
        )


def read_raw(path: str | Path) -> RawFrame:
    """Decode ``path`` with LibRaw; refuse non-Bayer sensors with a message naming them, and
    truncated or unreadable files with the reason."""
    import rawpy

    path = Path(path)
    if not os.path.lexists(path):
        raise InputError(f"{path}: no such file")
    if not path.exists():
        raise InputError(f"{path}: {describe_missing(path)}")
    problem = not_a_regular_file(path)
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    _check_readable_and_complete(path)
    try:
        with silenced_c_stderr() as libraw_said, rawpy.imread(str(path)) as raw:
            problem = _sensor_problem(raw)
            if problem:
                raise UnsupportedSensorError(
                    f"{path.name}: unsupported sensor: {problem}",
                    hint="rawdenoise works on 2x2 Bayer RAW files (RGGB, BGGR, GRBG, GBRG)",
                )
            mosaic = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
            pattern = _visible_pattern(raw)
            black, white = _levels(raw)
            wb = np.asarray(raw.camera_whitebalance, dtype=np.float32)
            if wb.size == 4 and wb[3] == 0:
                wb[3] = wb[1]
            if wb.size != 4 or wb[1] <= 0:
                wb = np.ones(4, dtype=np.float32)
            wb = wb / wb[1]
            try:
                xyz = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
                color_matrix = xyz if np.abs(xyz).sum() > 0 else None
            except (AttributeError, ValueError):
                color_matrix = None
            flip = int(raw.sizes.flip)
    except UnsupportedSensorError:
        raise
    except PermissionError as exc:
        raise InputError(f"{path.name}: permission denied") from exc
    except rawpy.LibRawFileUnsupportedError as exc:
        raise unsupported_format_error(path, _libraw_message(exc)) from exc
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise InputError(
            f"{path.name}: cannot decode RAW data ({_libraw_message(exc)}); "
            "the file may be truncated or corrupt"
        ) from exc
    said = " ".join(libraw_said).lower()
    found = next((text for text in _LIBRAW_DATA_ERRORS if text in said), None)
    if found is not None:
        raise InputError(
            f"{path.name}: the RAW data is truncated or corrupt (LibRaw: {found})",
            hint="copy it again from the card or the original source",
        )
    make, model = _make_model(path)
    return RawFrame(
        path=path,
        mosaic=mosaic,
        pattern=pattern,
        black_level=black,
        white_level=white,
        make=make,
        model=model,
        camera_wb=wb,
        color_matrix=color_matrix,
        flip=flip,
    )


def unsupported_format_error(path: Path, reason: str) -> InputError:
    """The error for a file LibRaw does not decode; a GoPro GPR gets what to do about it."""
    if path.suffix.lower() == ".gpr":
        return InputError(
            f"{path.name}: a GoPro GPR file (DNG with GoPro's VC-5 compression), which LibRaw "
            "cannot decode",
            hint=f"convert it to a plain DNG with GoPro's gpr_tools (github.com/gopro/gpr): "
            f"gpr_tools -i {path.name} -o {path.stem}.dng",
        )
    return InputError(
        f"{path.name}: not a RAW file LibRaw can decode ({reason})",
        hint="check that the file is a camera RAW (e.g. .ARW, .NEF, .CR2, .DNG)",
    )


def describe_missing(path: Path) -> str:
    """Why a path that exists as a name does not lead to a file (a symbolic link)."""
    import errno

    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
    try:
        return f"broken symbolic link (to {os.readlink(path)})"
    except OSError:
        return "no such file"


def _libraw_message(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text) or type(exc).__name__


def _make_model(path: Path) -> tuple[str, str]:
    """Camera make/model from EXIF (rawpy does not expose them)."""
    from rawdenoise.exif import read_exif

    info = read_exif(path)
    return info.make, info.model


# --------------------------------------------------------------------------------------------
# DNG writing (tifffile): a CFA DNG that LibRaw and raw editors open.
# --------------------------------------------------------------------------------------------

#: CFA colour codes in the DNG/TIFF-EP CFAPattern tag.
_CFA_CODES = {"R": 0, "G": 1, "B": 2}


def _rational(value: float | Fraction, denominator: int = 1_000_000) -> tuple[int, int]:
    frac = Fraction(value if isinstance(value, Fraction) else float(value)).limit_denominator(
        denominator
    )
    return frac.numerator, frac.denominator


def _srational_list(values: Iterable[float], scale: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend((round(float(v) * scale), scale))
    return tuple(out)


def write_dng(
    path: str | Path,
    mosaic: np.ndarray,
    *,
    cfa: str = "RGGB",
    black_level: Sequence[float] | float = 0,
    white_level: float = 65535,
    make: str = "rawdenoise",
    model: str = "synthetic",
    iso: float | None = None,
    exposure_time: float | Fraction | None = None,
    capture_time: str | None = None,
    color_matrix: np.ndarray | None = None,
    as_shot_neutral: Sequence[float] | None = None,
    orientation: int = 1,
    software: str = "rawdenoise",
    extra_tags: Sequence[tuple[int, str, int, Any]] = (),
) -> Path:
    """Write a single-IFD uncompressed CFA DNG (DNG 1.4) of a uint16 mosaic.

    ``black_level`` is one value or four in the 2x2 CFA repeat order (row-major). ``iso``,
    ``exposure_time`` and ``capture_time`` (``"YYYY:MM:DD HH:MM:SS"``) go into IFD0 as TIFF/EP
    tags, which exifread reads as ``Image ISOSpeedRatings`` etc. ``extra_tags`` are tifffile
    ``(code, dtype, count, value)`` tuples; one with the code of a tag written here replaces it
    (e.g. a source's CalibrationIlluminant1 or UniqueCameraModel). The caller handles atomicity.
    """
    import tifffile

    mosaic = np.ascontiguousarray(mosaic, dtype=np.uint16)
    cfa = cfa.upper()
    pattern_from_cfa(cfa)  # validates
    cfa_codes = tuple(_CFA_CODES[c] for c in cfa)
    blacks = [float(black_level)] if np.isscalar(black_level) else [float(b) for b in black_level]
    if len(blacks) not in (1, 4):
        raise InputError("black_level needs 1 or 4 values")
    if color_matrix is None:
        color_matrix = np.eye(3)
    neutral = as_shot_neutral if as_shot_neutral is not None else (1.0, 1.0, 1.0)
    tags: list[tuple[int, str, int, Any, bool]] = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (271, "s", 0, make or "unknown", True),  # Make
        (272, "s", 0, model or "unknown", True),  # Model
        (274, "H", 1, int(orientation), True),  # Orientation
        (50708, "s", 0, f"{make} {model}".strip() or "unknown", True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, cfa_codes, True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50713, "H", 2, (2, 2) if len(blacks) == 4 else (1, 1), True),  # BlackLevelRepeatDim
        (50714, "2I", len(blacks), _rational_list(blacks), True),  # BlackLevel
        (50717, "I", 1, int(round(white_level)), True),  # WhiteLevel
        (50721, "2i", 9, _srational_list(np.asarray(color_matrix).reshape(-1)), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, _rational_list(neutral), True),  # AsShotNeutral
    ]
    if iso is not None:
        value = int(round(iso))
        tags.append((34855, "H", 1, min(value, 65535), True))  # ISOSpeedRatings (a SHORT)
        if value > 65535:  # EXIF 2.3: the real value in RecommendedExposureIndex
            tags.append((34864, "H", 1, 2, True))  # SensitivityType: REI
            tags.append((34866, "I", 1, value, True))  # RecommendedExposureIndex
    if exposure_time is not None:
        tags.append((33434, "2I", 1, _rational(exposure_time), True))  # ExposureTime
    if capture_time:
        tags.append((36867, "s", 0, capture_time, True))  # DateTimeOriginal
    overrides = {code: (code, dt, n, v, True) for code, dt, n, v in extra_tags}
    tags = [overrides.pop(t[0], t) for t in tags] + list(overrides.values())
    tifffile.imwrite(
        str(path),
        mosaic,
        photometric=32803,  # CFA
        compression=None,
        metadata=None,
        subfiletype=0,
        software=software,
        extratags=tags,
    )
    return Path(path)


def _rational_list(values: Iterable[float]) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend(_rational(v, 10000))
    return tuple(out)
