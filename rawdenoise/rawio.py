"""The rawpy boundary: decode a RAW file into a :class:`RawFrame`.

Packing into the network's 4-channel layout and black/white normalization live in
:mod:`rawdenoise.bayer` (the packing rules are described there); DNG writing in
:mod:`rawdenoise.dng`; LibRaw's stderr handling in :mod:`rawdenoise.libraw_stderr`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rawdenoise.bayer import (
    cfa_from_pattern,
    normalize,
    pack_bayer,
    pack_rggb,
    unpack_bayer,
    unpack_rggb,
)
from rawdenoise.errors import InputError, UnsupportedSensorError
from rawdenoise.libraw_stderr import silenced_c_stderr

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
