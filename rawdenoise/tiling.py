"""Tile planning for :func:`rawdenoise.inference.denoise`: the tile size from the memory
budget and an activation estimate measured with a probe forward pass, the per-axis layout of
overlapping tiles, and the raised-cosine weights that blend them without seams.

Tiles are laid out per axis so that neighbours overlap by at least ``overlap`` pixels; inside an
overlap each tile's output is cut back by a quarter of the overlap (where its own border effects
live) and the rest is cross-faded with complementary ramps. At the image border a tile keeps
full weight, so the result there is what the whole-frame network computes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from rawdenoise.errors import UsageError

if TYPE_CHECKING:
    import torch

from rawdenoise import devices

#: the measured sum of module outputs underestimates live tensors (activations, concatenations)
ACTIVATION_SAFETY = 1.3
#: a side longer than this gains nothing (GPU) and costs latency for the progress bar
MAX_TILE_SIDE = 4096
#: tiles per batch at most (GPUs; CPUs run one tile at a time)
MAX_BATCH = 8
#: Largest square tile on a CPU (packed px), by the bytes of the compute dtype. With the heap
#: keeping freed pages (:mod:`rawdenoise.heap`) the network runs as fast per pixel on large
#: tiles as on small ones, and large tiles recompute less overlap; the side is then what peak
#: memory allows (a 24 MP frame below 1.2 GB). Measured with the default model on a 2-core Intel
#: Xeon with AMX, 2 threads, per 6 M packed px (24 MP): bf16 1.29 / 1.19 / 1.16 s on 512 / 640 /
#: 768 px tiles, fp32 4.97 / 4.92 / 4.82 s (without the heap setting 512 px tiles ran at 1.66
#: and 5.50 s: their activations were faulted in anew each tile). ``process -f dng`` on one
#: 24 MP file, medians of 3-6 runs: bf16 3.92 s with 512, 3.79 s with 768 (peak RSS 930 MB);
#: fp32 8.46-8.60 s with 512, 8.14 s with 640 (1032 MB), 7.95 s with 768 (1219 MB: too much).
#: Larger tiles, which the UNet's lower activation peak (it frees its skips as soon as they
#: are used) would now allow, were measured and not taken (2-core AMD EPYC, avx512_bf16, no
#: AMX): caps of 1024 / 768 cut a 24 MP frame into 8 / 12 tiles computing 1.109x / 1.152x its
#: area instead of 1.152x / 1.21x, but a folder of four 24 MP files in fp32 took 39.3-39.7 s
#: against 37.5-38.6 s (``process`` gives a tile one thread while a file is read or written
#: beside it, and a long tile keeps that core idle after the reader is done) and bf16 gained
#: nothing measurable (one file 6.42 / 6.50 s, folder 4.92 / 4.98 s per file).
CPU_TILE_SIDE = {2: 768, 4: 640}


def cpu_tile_side(dtype: torch.dtype) -> int:
    """The largest square tile side on a CPU for networks computing in ``dtype``."""
    return CPU_TILE_SIDE[2 if dtype.itemsize <= 2 else 4]


def estimate_bytes_per_pixel(
    network: torch.nn.Module,
    multiple_of: int,
    *,
    device: torch.device,
    dtype: torch.dtype,
    in_channels: int = 4,
) -> float:
    """Activation bytes per packed pixel, from the outputs of every module in a probe pass.

    The sum of all module outputs of a small probe tile (at least 64 px) bounds what is alive at
    once in feed-forward networks; :data:`ACTIVATION_SAFETY` covers functional activations and
    concatenations that are not modules.
    """
    import torch

    side = max(64, 4 * multiple_of)
    side = -(-side // multiple_of) * multiple_of
    total = 0

    def hook(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()

    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        probe = torch.zeros(1, in_channels, side, side, device=device)
        with torch.inference_mode(), devices.autocast(device, dtype):
            network(probe)
    finally:
        for h in handles:
            h.remove()
    # at least the input and output themselves
    floor = 2 * in_channels * 4
    return max(total / (side * side), floor) * ACTIVATION_SAFETY


def choose_tile(
    multiple_of: int,
    *,
    device: torch.device,
    bytes_per_pixel: float,
    budget: int | None = None,
    min_side: int | None = None,
) -> int:
    """The largest square tile side (packed px, a multiple of ``multiple_of``) within budget."""
    budget = devices.memory_budget(device) if budget is None else budget
    side = int(math.sqrt(max(budget, 0) / max(bytes_per_pixel, 1.0)))
    side = min(side, MAX_TILE_SIDE) // multiple_of * multiple_of
    lowest = min_side or max(4 * multiple_of, 64)
    lowest = -(-lowest // multiple_of) * multiple_of
    return max(side, lowest)


def check_tiling(tile: int | None, overlap: int | None, multiple_of: int) -> None:
    """Refuse ``--tile``/``--overlap`` values that cannot work for this network, before any file.

    (``plan_tiles`` would refuse them per file; checked once here they are one usage error.)
    """
    m = multiple_of
    if tile is not None and tile < 0:
        raise UsageError(f"--tile must be 0 or positive, got {tile}")
    if overlap is not None and overlap < 0:
        raise UsageError(f"--overlap must be 0 or positive, got {overlap}")
    if not tile:
        return
    if tile < m:
        raise UsageError(f"--tile must be 0 (whole frame) or at least {m}, got {tile}")
    if overlap is not None and tile // m * m <= _round_up(overlap, m):  # (a default one adapts)
        raise UsageError(
            f"--tile {tile} must be larger than the overlap {overlap} (rounded up to a "
            f"multiple of {m})",
            hint="use a larger --tile or a smaller --overlap",
        )


def default_overlap(multiple_of: int) -> int:
    """Overlap between neighbouring tiles in packed px: 2 network strides, 16 to 32.

    32 px for the UNet (stride 16): with the bundled models on real content, in 640 px tiles,
    63-82 dB from the whole-frame pass (64 px: 66-89 dB), 20-40 dB below the denoiser's own
    error, and a 24 MP frame computes 10% fewer pixels in fp32 (docs/process.md)."""
    return int(min(max(2 * multiple_of, 16), 32))


# --------------------------------------------------------------------------------------------
# Tile layout
# --------------------------------------------------------------------------------------------


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class AxisTiles:
    """Tiles along one axis of the image, reflect-padded (like LED's whole-frame pass) to a
    multiple of the network stride: ``before`` px above/left, ``padded`` px in all. Tile starts
    are in padded coordinates and multiples of the stride, so every tile sees the pooling grid of
    the whole-frame pass; a single tile is exactly the whole-frame pass."""

    size: int  #: image length on this axis
    padded: int  #: padded length (a multiple of the stride)
    before: int  #: padding before the image (LED: half of it, rounded down)
    length: int  #: tile length (a multiple of the stride)
    starts: tuple[int, ...]  #: tile starts in padded coordinates

    @property
    def count(self) -> int:
        return len(self.starts)

    @property
    def computed(self) -> int:
        return self.count * self.length


def plan_axis(size: int, count: int, overlap: int, multiple_of: int) -> AxisTiles:
    """``count`` evenly spread, stride-aligned tiles sharing at least ``overlap`` px."""
    m = multiple_of
    padded = _round_up(size, m)
    before = (padded - size) // 2
    units, ov_units = padded // m, -(-overlap // m)
    if count > 1:
        length = -(-(units + (count - 1) * ov_units) // count)
        if length < units:
            span = units - length
            starts = tuple((i * span) // (count - 1) * m for i in range(count))
            return AxisTiles(size, padded, before, length * m, starts)
    return AxisTiles(size, padded, before, padded, (0,))


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles go; ``batch`` tiles run per forward pass."""

    rows: AxisTiles
    cols: AxisTiles
    overlap: int
    batch: int

    @property
    def count(self) -> int:
        return self.rows.count * self.cols.count

    @property
    def tile_pixels(self) -> int:
        """Pixels of one network input (its memory is what the budget bounds)."""
        return self.rows.length * self.cols.length

    @property
    def overhead(self) -> float:
        """Computed pixels / image pixels (1.0 = no overlap or padding waste)."""
        return self.rows.computed * self.cols.computed / (self.rows.size * self.cols.size)

    def tiles(self) -> Iterator[tuple[int, int]]:
        for y in self.rows.starts:
            for x in self.cols.starts:
                yield y, x


def plan_tiles(
    height: int,
    width: int,
    *,
    multiple_of: int,
    max_side: int,
    max_pixels: int | None = None,
    overlap: int,
    batch: int | None = None,
) -> TilePlan:
    """The tile grid computing the fewest pixels with tiles within ``max_side``/``max_pixels``.

    Tries every tile count per axis up to what the smallest tiles need and keeps the layout
    with the smallest computed area (overlaps and padding included) that fits the budget.
    """
    m = multiple_of
    if overlap < 0:
        raise UsageError(f"overlap must be >= 0, got {overlap}")
    max_side = max(max_side // m * m, m)
    if max_side <= _round_up(overlap, m) and max_side < _round_up(max(height, width), m):
        raise UsageError(
            f"tile {max_side} must be larger than the overlap {overlap} (rounded up to a "
            f"multiple of {m})",
            hint="use a larger --tile or a smaller --overlap",
        )
    max_pixels = max_pixels or max_side * max_side
    axes = [axis_options(size, overlap, m) for size in (height, width)]
    pair = _fewest_pixels(axes[0], axes[1], max_side=max_side, max_pixels=max_pixels)
    if pair is None:  # nothing fits the budget: the smallest tiles there are
        pair = (axes[0][-1], axes[1][-1])
    plan = TilePlan(*pair, overlap, 1)
    if batch is None:
        batch = max_pixels // plan.tile_pixels
    return TilePlan(plan.rows, plan.cols, overlap, max(1, min(batch, MAX_BATCH, plan.count)))


def axis_options(size: int, overlap: int, multiple_of: int) -> list[AxisTiles]:
    """Every distinct layout of one axis, from one tile to the smallest tiles there are."""
    m = multiple_of
    options, count = [], 1
    while True:
        axis = plan_axis(size, count, overlap, m)
        if axis.count == count:
            options.append(axis)
        smallest = axis.length <= _round_up(overlap, m) + m
        if smallest or axis.count < count or count > axis.padded // m:
            return options
        count += 1


def _fewest_pixels(
    rows: list[AxisTiles], cols: list[AxisTiles], *, max_side: int, max_pixels: int
) -> tuple[AxisTiles, AxisTiles] | None:
    """The (rows, cols) pair within the limits computing the fewest pixels, then the fewest
    tiles, then the first in row-major order; None if none fits. All pairs at once in numpy
    (a 24 MP frame has about 130 options per axis: 17,000 pairs, 30-80 ms one by one)."""

    def table(axes: list[AxisTiles]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(
            np.array([getattr(a, name) for a in axes], dtype=np.int64)
            for name in ("length", "computed", "count")
        )  # type: ignore[return-value]

    r_len, r_area, r_count = table(rows)
    c_len, c_area, c_count = table(cols)
    fits = (
        (r_len[:, None] <= max_side)
        & (c_len[None, :] <= max_side)
        & (r_len[:, None] * c_len[None, :] <= max_pixels)
    )
    if not fits.any():
        return None
    area = np.where(fits, r_area[:, None] * c_area[None, :], np.iinfo(np.int64).max).ravel()
    count = (r_count[:, None] * c_count[None, :]).ravel()
    best = int(np.lexsort((np.arange(area.size), count, area))[0])
    i, j = divmod(best, len(cols))
    return rows[i], cols[j]


def axis_weights(axis: AxisTiles) -> list[np.ndarray]:
    """Per tile, its 1-D blending weights along this axis (length ``axis.length``).

    In each overlap of width ``ov`` between neighbours, a quarter of ``ov`` next to a tile's
    inner edge is discarded (weight 0) and the middle half is cross-faded with complementary
    raised-cosine ramps, so the weights of neighbours sum to one. Outer edges keep weight 1.
    """
    weights = []
    starts, length = axis.starts, axis.length
    for i, start in enumerate(starts):
        w = np.ones(length, dtype=np.float32)
        if i > 0:
            ov = min(starts[i - 1] + length - start, length)
            w[:ov] *= _ramp(ov)
        if i < len(starts) - 1:
            ov = min(start + length - starts[i + 1], length)
            w[length - ov :] *= _ramp(ov)[::-1]
        weights.append(w)
    return weights


@lru_cache(maxsize=64)
def _ramp(ov: int) -> np.ndarray:
    """Rising weights across an overlap of ``ov`` px: 0 for a quarter, cosine, then 1."""
    ramp = np.ones(max(ov, 0), dtype=np.float32)
    if ov <= 0:
        return ramp
    cut = ov // 4
    fade = ov - 2 * cut
    ramp[:cut] = 0.0
    u = (np.arange(fade, dtype=np.float64) + 0.5) / fade
    ramp[cut : cut + fade] = (0.5 - 0.5 * np.cos(np.pi * u)).astype(np.float32)
    ramp.setflags(write=False)
    return ramp


def _source_index(axis: AxisTiles, start: int) -> np.ndarray:
    """Image indices of a tile's padded positions: mirror (reflect) at the borders."""
    idx = np.arange(start, start + axis.length) - axis.before
    n = axis.size
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


def _inside(axis: AxisTiles, start: int) -> tuple[slice, slice]:
    """(slice of the tile, slice of the image) where a tile overlaps the image itself."""
    lo = max(start - axis.before, 0)
    hi = min(start - axis.before + axis.length, axis.size)
    t0 = lo - (start - axis.before)
    return slice(t0, t0 + hi - lo), slice(lo, hi)


def _coverage(axis: AxisTiles, weights: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(axis.size, dtype=np.float32)
    for start, w in zip(axis.starts, weights, strict=True):
        t, s = _inside(axis, start)
        total[s] += w[t]
    return total
