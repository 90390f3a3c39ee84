"""Bayer mosaics <-> packed 4-channel arrays, CFA patterns, black/white normalization.

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

import numpy as np

from rawdenoise.errors import InputError, UnsupportedSensorError

#: Canonical colour indices: 0 R, 1 G1 (on R's row), 2 B, 3 G2.
_LETTERS = "RGBG"


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


def _halve(plane: np.ndarray, odd: bool, axis: int) -> np.ndarray:
    """Halve one packed plane along ``axis``: a pair mean for a plane on the block's first
    row/column, a 1-2-1 mean centred one sample later for one on the second."""
    n = (plane.shape[axis] - 1) // 2

    def every_other(start: int) -> np.ndarray:
        return np.take(plane, np.arange(start, start + 2 * n, 2), axis=axis)

    if odd:
        return (every_other(0) + 2 * every_other(1) + every_other(2)) / 4
    return (every_other(0) + every_other(1)) / 2


def binned_2x2(packed: np.ndarray) -> np.ndarray:
    """A packed RGGB frame at half the resolution, still a true Bayer frame (benchmarks use it
    for a cleaner copy of a real photo).

    Averaging each packed plane over 2x2 blocks moves the planes against one another: the red
    and blue samples of a new block come from points half a new pixel closer together than a
    Bayer block's, so a network that knows the geometry reads the colour planes as displaced.
    Here new mosaic pixel (Y, X) is the scene at old mosaic position (2Y + 1, 2X + 1) for every
    colour (exactly, for a linear scene): planes on the block's first row (column) average two
    samples, those on its second a 1-2-1 triple centred one sample later.
    """
    offsets = ((0, 0), (0, 1), (1, 1), (1, 0))  # R, G1, B, G2: (row, column) in the block
    given = np.asarray(packed)
    if given.ndim != 3 or given.shape[0] != 4:
        raise InputError(f"expected a packed (4, H, W) array, got shape {given.shape}")
    x = given.astype(np.float64)
    planes = [_halve(_halve(x[c], dy, 0), dx, 1) for c, (dy, dx) in enumerate(offsets)]
    return np.stack(planes).astype(given.dtype if given.dtype.kind == "f" else np.float64)
