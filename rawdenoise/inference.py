"""Tiled inference in packed-Bayer space with bounded memory and seamless blending.

The network sees tiles of the normalized, ratio-scaled packed image (4, H, W). Gain and
normalization are the caller's and are applied to the whole image, never per tile. Tiles are
laid out per axis so that neighbours overlap by at least ``overlap`` pixels; inside an overlap
each tile's output is cut back by a quarter of the overlap (where its own border effects live)
and the rest is cross-faded with complementary raised-cosine ramps. At the image border a tile
keeps full weight, so the result there is what the whole-frame network computes. Outputs are
accumulated into one preallocated array; the peak memory of the network is bounded by the tile
budget, whatever the image size.

Tile size comes from the device's free memory (CUDA ``mem_get_info``, available RAM on CPU,
capped so that a CPU run stays well under 2 GB) and an activation estimate measured with a
probe forward pass; ``tile``/``overlap``/``batch`` override it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from rawdenoise.errors import NetworkOutputError, ResourceError, UsageError

if TYPE_CHECKING:
    import torch

    from rawdenoise.specs import ArchitectureSpec
from rawdenoise import devices
from rawdenoise.layout import prefers_channels_last
from rawdenoise.tiling import (
    MAX_TILE_SIDE,
    AxisTiles,
    TilePlan,
    _coverage,
    _inside,
    _round_up,
    _source_index,
    axis_weights,
    choose_tile,
    cpu_tile_side,
    default_overlap,
    estimate_bytes_per_pixel,
    plan_tiles,
)

ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


def prepare_network(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move to ``device`` and switch to eval mode (in place; returns the same module)."""
    return network.to(device).eval()


def denoise(
    network: torch.nn.Module,
    x: np.ndarray,
    *,
    multiple_of: int,
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    batch: int | None = None,
    progress: ProgressCallback | None = None,
    max_pixels: int | None = None,
    ensemble: int = 1,
    architecture: ArchitectureSpec | None = None,
    low: float = 0.0,
) -> np.ndarray:
    """Run ``network`` over a normalized, ratio-scaled packed image; returns (C, H, W) in
    [``low``, 1].

    ``x`` is float32 (C, H, W) with the caller's input clip already applied (LED: an upper clip
    at 1 only). ``tile`` is the largest tile side in packed px (default: from the device's free
    memory; 0: the whole frame in one pass); ``overlap`` defaults to :func:`default_overlap`
    (at most half of ``tile``) and is rounded up to a multiple of ``multiple_of``.
    ``progress(done, total)`` is called after every batch of tiles. ``max_pixels`` bounds the
    pixels of one network input (default: ``tile**2`` or the memory budget). ``ensemble`` > 1
    averages that many flipped/transposed copies (:mod:`rawdenoise.ensemble`). ``low`` is the
    lower clip: 0 (LED's, for scoring against a clean frame) or below, as ``process`` uses
    (:data:`BELOW_BLACK`), so that a near-black area keeps its mean (see there).

    An output that is not a tensor of the input's shape, or holds NaN or infinity, raises
    :class:`~rawdenoise.errors.NetworkOutputError`; given the network's ``architecture``, the
    error names the plugin that provides it (:func:`rawdenoise.registry.network_fault`).
    """
    if architecture is not None:
        from rawdenoise.registry import network_fault

        try:
            return denoise(
                network, x, multiple_of=multiple_of, tile=tile, overlap=overlap, device=device,
                precision=precision, batch=batch, progress=progress, max_pixels=max_pixels,
                ensemble=ensemble, low=low,
            )  # fmt: skip
        except NetworkOutputError as exc:
            raise network_fault(architecture, exc, precision=precision) from None
    import torch

    if x.ndim != 3:
        raise UsageError(f"expected a packed (C, H, W) array, got shape {x.shape}")
    if multiple_of < 1:
        raise UsageError(f"multiple_of must be >= 1, got {multiple_of}")
    if ensemble != 1:
        from rawdenoise.ensemble import averaged

        def one(copy: np.ndarray, report: ProgressCallback | None) -> np.ndarray:
            return denoise(
                network, copy, multiple_of=multiple_of, tile=tile, overlap=overlap,
                device=device, precision=precision, batch=batch, progress=report,
                max_pixels=max_pixels, low=low,
            )  # fmt: skip

        return averaged(one, x, ensemble, progress)
    dev = device if isinstance(device, torch.device) else devices.choose_device(device)
    dtype = devices.resolve_precision(precision, dev)
    channels, height, width = x.shape
    if overlap is None:  # the default, but at most half a small tile the caller asked for
        overlap = default_overlap(multiple_of)
        if tile:
            overlap = min(overlap, max(tile // 2 // multiple_of * multiple_of, 0))
    overlap = int(overlap)
    network = prepare_network(network, dev)
    if tile is None:
        bpp = estimate_bytes_per_pixel(
            network, multiple_of, device=dev, dtype=dtype, in_channels=channels
        )
        side = choose_tile(multiple_of, device=dev, bytes_per_pixel=bpp)
        if dev.type == "cpu":  # the CPU cap (tiling.CPU_TILE_SIDE says why)
            cap = cpu_tile_side(dtype)
            side = max(min(side, cap // multiple_of * multiple_of), multiple_of)
        # the budget bounds the area; elongated tiles (up to 2x the side) may fit it better
        max_side = min(2 * side, MAX_TILE_SIDE)
        if max_pixels is None:
            max_pixels = side * side
            if dev.type != "cpu":
                max_pixels = max(int(devices.memory_budget(dev) / bpp), max_pixels)
        if dev.type == "cpu" and batch is None:
            batch = 1
    elif tile == 0:  # no tiling: the whole frame in one pass
        max_side = _round_up(max(height, width), multiple_of)
        max_pixels = max_pixels or max_side * max_side
    else:
        if tile < multiple_of:
            raise UsageError(f"--tile must be 0 (whole frame) or at least {multiple_of}")
        max_side = tile
    plan = plan_tiles(
        height,
        width,
        multiple_of=multiple_of,
        max_side=max_side,
        max_pixels=max_pixels,
        overlap=overlap,
        batch=batch,
    )
    x = np.ascontiguousarray(x, dtype=np.float32)
    while True:
        try:
            return _run(network, x, plan, dev, dtype, progress, low)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            plan = _smaller(plan, height, width, multiple_of, exc)
            if dev.type == "cuda":
                torch.cuda.empty_cache()


#: The lower clip ``process`` uses: values below black are kept (down to DN 0, where writing
#: the mosaic clips). A denoised near-black area is an estimate scattered around a level close
#: to black; clipping it at black cuts one side of the scatter and brightens the area (the
#: fidelity benchmark: a plane at 0.3% of white came out 1.8x too bright at ratio 100; 1.03x
#: with this). Raw editors clip at black themselves, after their own averaging.
BELOW_BLACK = -1.0


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _smaller(
    plan: TilePlan, height: int, width: int, multiple_of: int, exc: BaseException
) -> TilePlan:
    """After an out-of-memory error: halve the batch, then the tile; give up at the minimum."""
    if plan.batch > 1:
        return TilePlan(plan.rows, plan.cols, plan.overlap, plan.batch // 2)
    side = max(plan.rows.length, plan.cols.length) // 2 // multiple_of * multiple_of
    if side <= _round_up(plan.overlap, multiple_of) or side < multiple_of:
        raise ResourceError(
            "out of memory even with the smallest tile",
            hint="use --device cpu, --precision bf16/fp16 or a smaller --overlap",
        ) from exc
    return plan_tiles(
        height, width, multiple_of=multiple_of, max_side=side, overlap=plan.overlap, batch=1
    )


def _run(
    network: torch.nn.Module,
    x: np.ndarray,
    plan: TilePlan,
    device: torch.device,
    dtype: torch.dtype,
    progress: ProgressCallback | None,
    low: float = 0.0,
) -> np.ndarray:
    import torch

    channels, height, width = x.shape
    rows, cols = plan.rows, plan.cols
    wy, wx = axis_weights(rows), axis_weights(cols)
    row_of = {y: (i, _source(rows, y), *_inside(rows, y)) for i, y in enumerate(rows.starts)}
    col_of = {c: (i, _source(cols, c), *_inside(cols, c)) for i, c in enumerate(cols.starts)}
    positions = list(plan.tiles())
    image = torch.from_numpy(x)  # (denoise made it contiguous float32)
    layout = torch.channels_last if prefers_channels_last(device) else torch.contiguous_format
    buffer: torch.Tensor | None = None
    out: np.ndarray | None = None
    done = 0
    if progress is not None:
        progress(0, len(positions))
    with torch.inference_mode():
        for first in range(0, len(positions), plan.batch):
            group = positions[first : first + plan.batch]
            shape = (len(group), channels, rows.length, cols.length)
            if buffer is None or tuple(buffer.shape) != shape:
                buffer = torch.empty(shape, memory_format=layout)
            for k, (y, c) in enumerate(group):  # one strided copy per tile, into the layout
                buffer[k].copy_(_window(image, row_of[y][1], col_of[c][1]))
            inp = buffer.to(device, non_blocking=True)
            with devices.autocast(device, dtype), contextlib.redirect_stdout(sys.stderr):
                pred = network(inp)  # a plugin's print() must not reach stdout (--json)
            _check_output(pred, inp)
            del inp
            pred = pred.float().cpu()
            if out is None:
                out = np.zeros((pred.shape[1], height, width), dtype=np.float32)
                result = torch.from_numpy(out)
            for k, (y, c) in enumerate(group):
                iy, _, ty, sy = row_of[y]
                ix, _, tx, sx = col_of[c]
                weight = torch.from_numpy(wy[iy][ty, None] * wx[ix][None, tx])
                result[:, sy, sx].addcmul_(pred[k][:, ty, tx], weight)
            done += len(group)
            if progress is not None:
                progress(done, len(positions))
    assert out is not None
    norm_y = _coverage(rows, wy)
    norm_x = _coverage(cols, wx)
    if norm_y.min() <= 0 or norm_x.min() <= 0:  # a layout bug, never a user error
        raise RuntimeError("tile weights leave pixels uncovered")
    out /= norm_y[:, None] * norm_x[None, :]
    np.clip(out, low, 1.0, out=out)
    return out


def _source(axis: AxisTiles, start: int) -> slice | np.ndarray:
    """A tile's image rows (columns): a slice inside the image, indices where it mirrors."""
    index = _source_index(axis, start)
    first = int(index[0])
    if (index == np.arange(first, first + len(index))).all():
        return slice(first, first + len(index))
    return index


def _window(
    image: torch.Tensor, rows: slice | np.ndarray, cols: slice | np.ndarray
) -> torch.Tensor:
    """A tile of a (C, H, W) image: a view where it lies inside, mirrored indices gathered from
    the smallest window that holds them."""
    import torch

    picks = []
    for dim, where in ((1, rows), (2, cols)):  # narrow both axes first: gathers stay small
        if isinstance(where, slice):
            image = image.narrow(dim, where.start, where.stop - where.start)
        else:
            low = int(where.min())
            image = image.narrow(dim, low, int(where.max()) + 1 - low)
            picks.append((dim, torch.from_numpy(where - low)))
    for dim, index in picks:
        image = image.index_select(dim, index)
    return image


def _check_output(pred: object, inp: torch.Tensor) -> None:
    """Refuse what no image can be made of: a network output that is not a tensor of the
    input's shape, or that holds NaN or infinity (clipping would hide it as black or white)."""
    import torch

    if not isinstance(pred, torch.Tensor):
        raise NetworkOutputError(f"the network returned a {type(pred).__name__}, not a tensor")
    if tuple(pred.shape) != tuple(inp.shape):
        raise NetworkOutputError(
            f"the network returned shape {tuple(pred.shape)} for an input of shape "
            f"{tuple(inp.shape)}; it must return its input's shape"
        )
    if not bool(torch.isfinite(pred).all()):
        raise NetworkOutputError(
            "the network's output holds non-finite values (NaN or infinity)", nonfinite=True
        )
