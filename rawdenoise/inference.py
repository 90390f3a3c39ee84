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
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rawdenoise.errors import NetworkOutputError, ResourceError, UsageError

if TYPE_CHECKING:
    import torch

    from rawdenoise.specs import ArchitectureSpec

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")

#: activations of one CPU forward pass are kept under this (the whole run stays < 2 GB at 24 MP)
CPU_ACTIVATION_CAP = 1536 * 2**20
#: fraction of free memory the activations may use (CPU: of available RAM)
GPU_MEMORY_FRACTION = 0.6
CPU_MEMORY_FRACTION = 0.25
#: the measured sum of module outputs underestimates live tensors (activations, concatenations)
ACTIVATION_SAFETY = 1.3
#: a side longer than this gains nothing (GPU) and costs latency for the progress bar
MAX_TILE_SIDE = 4096
#: tiles per batch at most (GPUs; CPUs run one tile at a time)
MAX_BATCH = 8
#: Largest square tile on a CPU (packed px). A CPU computes a tile of a few hundred pixels a
#: side fastest per pixel (its activations stay in cache); larger ones only save overlap.
#: Measured per 24 MP with the default model on a 2-core Intel Xeon with AMX, 1 thread,
#: channels last: fp32 12.9 / 11.6 / 11.6 / 13.5 / 13.5 s for sides 256 / 384 / 512 / 768 /
#: 1024, bf16 3.7 / 3.2 / 3.0 / 2.9 / 3.9 s.
CPU_TILE_SIDE = 768

ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Device, precision, threads
# --------------------------------------------------------------------------------------------


def choose_device(name: str = "auto", *, local_rank: int | None = None) -> torch.device:
    """``auto`` = cuda -> mps -> cpu; an explicit device must exist.

    Under torchrun each process takes its own GPU: ``auto`` and a bare ``cuda`` mean
    ``cuda:LOCAL_RANK`` (``local_rank``, else the environment's ``LOCAL_RANK``).
    """
    import torch

    name = (name or "auto").strip().lower()
    kind, colon, index = name.partition(":")
    if kind not in DEVICES:
        raise UsageError(
            f"unknown device {name!r}", hint=f"choose one of {', '.join(DEVICES)} (or cuda:N)"
        )
    if colon and (kind != "cuda" or not index.isdigit()):
        raise UsageError(
            f"invalid device {name!r}", hint="only cuda takes an index: cuda:0, cuda:1, ..."
        )
    if kind in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if index:
            if int(index) >= count:
                raise ResourceError(f"no CUDA device {index} (this machine has {count})")
            return torch.device("cuda", int(index))
        return torch.device("cuda", _local_rank(local_rank) % count)
    if kind == "cuda":
        raise ResourceError(
            "CUDA was asked for but this torch build or machine has no CUDA device",
            hint="use --device auto or --device cpu, or install a CUDA build of torch",
        )
    if kind in ("auto", "mps") and _mps_available():
        return torch.device("mps")
    if kind == "mps":
        raise ResourceError(
            "MPS (Apple GPU) was asked for but is not available here",
            hint="use --device auto or --device cpu",
        )
    return torch.device("cpu")


def _local_rank(given: int | None) -> int:
    if given is not None:
        return given
    try:
        return int(os.environ.get("LOCAL_RANK", "0") or 0)
    except ValueError:
        raise UsageError(
            f"LOCAL_RANK={os.environ.get('LOCAL_RANK')!r} is not a number",
            hint="torchrun sets it; unset it when not running under torchrun",
        ) from None


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def auto_precision(device: torch.device) -> str:
    """``--precision auto``: bf16 where the device computes it natively (CPUs with AMX or
    AVX512-BF16, CUDA GPUs with bf16), fp32 elsewhere (emulated bf16 is slower than fp32)."""
    import torch

    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """fp32 | bf16 | fp16 | auto -> dtype; fp16 is refused on CPU (slow and unsupported by many
    ops); auto is :func:`auto_precision`."""
    import torch

    precision = (precision or "fp32").strip().lower()
    if precision == "auto":
        precision = auto_precision(device)
    if precision not in PRECISIONS:
        raise UsageError(
            f"unknown precision {precision!r}", hint=f"choose one of {', '.join(PRECISIONS)}"
        )
    if precision == "fp16" and device.type == "cpu":
        raise UsageError(
            "fp16 runs only on a GPU (cuda or mps)",
            hint="on a CPU use --precision bf16 (fast where the CPU has AVX512-BF16/AMX) or fp32",
        )
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where unavailable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); otherwise it is emulated."""
    flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def emulated_bf16_warning(slower: str) -> str | None:
    """The warning for bf16 on a CPU that emulates it (``slower``: how it compares with fp32),
    or None where the CPU has it natively."""
    if cpu_has_native_bf16():
        return None
    return (
        f"this CPU has no AVX512-BF16/AMX: bf16 is emulated and {slower} than fp32 here "
        "(use --precision fp32)"
    )


def check_threads(threads: int | None) -> None:
    """Refuse thread counts torch cannot run with (0, or so many that OpenMP crashes)."""
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    cores = os.cpu_count() or 1
    limit = max(4 * cores, 8)  # more threads than cores never helps; far more crashes OpenMP
    if threads > limit:
        raise UsageError(
            f"--threads {threads} is more than this machine can use (at most {limit}: "
            f"4 x its {cores} cores)",
            hint="leave --threads out to use one thread per core",
        )


def set_threads(threads: int | None) -> None:
    """Intra-op threads of torch on CPU (None keeps torch's default: one per core)."""
    if threads is None:
        return
    check_threads(threads)
    import torch

    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# Memory and tile size
# --------------------------------------------------------------------------------------------


def available_memory(device: torch.device) -> int:
    """Bytes the activations may use on ``device`` before the budget fraction is applied."""
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        mps = getattr(torch, "mps", None)
        recommended = getattr(mps, "recommended_max_memory", None)
        allocated = getattr(mps, "driver_allocated_memory", None)
        if recommended is not None and allocated is not None:
            with contextlib.suppress(RuntimeError):
                return max(int(recommended()) - int(allocated()), 0)
    return _available_ram()


def _available_ram() -> int:
    """MemAvailable from /proc/meminfo, bounded by a cgroup limit; 4 GiB when unknown."""
    available: int | None = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    if available is None:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if available is None or available <= 0:
        available = 4 * 2**30
    with contextlib.suppress(OSError, ValueError):
        limit_text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used_text = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit_text != "max":
            available = min(available, int(limit_text) - int(used_text))
    return max(available, 0)


def memory_budget(device: torch.device) -> int:
    """Bytes one forward pass may use for activations on ``device`` (conservative)."""
    free = available_memory(device)
    if device.type == "cuda":
        return int(free * GPU_MEMORY_FRACTION)
    budget = int(free * CPU_MEMORY_FRACTION)
    if device.type == "cpu":
        budget = min(budget, CPU_ACTIVATION_CAP)
    return budget


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
        with torch.inference_mode(), _autocast(device, dtype):
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
    budget = memory_budget(device) if budget is None else budget
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
    """Overlap between neighbouring tiles in packed px: 4 network strides, 16 to 64."""
    return int(min(max(4 * multiple_of, 16), 64))


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
    axes = []
    for size in (height, width):
        options, count = [], 1
        while True:
            axis = plan_axis(size, count, overlap, m)
            if axis.count == count:
                options.append(axis)
            smallest = axis.length <= _round_up(overlap, m) + m
            if smallest or axis.count < count or count > axis.padded // m:
                break
            count += 1
        axes.append(options)
    best: tuple[tuple[int, int], TilePlan] | None = None
    for rows in axes[0]:
        for cols in axes[1]:
            plan = TilePlan(rows, cols, overlap, 1)
            if rows.length > max_side or cols.length > max_side or plan.tile_pixels > max_pixels:
                continue
            key = (rows.computed * cols.computed, plan.count)
            if best is None or key < best[0]:
                best = (key, plan)
    # when nothing fits the budget: the smallest tiles there are
    plan = TilePlan(axes[0][-1], axes[1][-1], overlap, 1) if best is None else best[1]
    if batch is None:
        batch = max_pixels // plan.tile_pixels
    return TilePlan(plan.rows, plan.cols, overlap, max(1, min(batch, MAX_BATCH, plan.count)))


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


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    import torch

    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


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
    dev = device if isinstance(device, torch.device) else choose_device(device)
    dtype = resolve_precision(precision, dev)
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
        if dev.type == "cpu":  # cache-sized tiles run fastest there (CPU_TILE_SIDE)
            side = max(min(side, CPU_TILE_SIDE // multiple_of * multiple_of), multiple_of)
        # the budget bounds the area; elongated tiles (up to 2x the side) may fit it better
        max_side = min(2 * side, MAX_TILE_SIDE)
        if max_pixels is None:
            max_pixels = side * side
            if dev.type != "cpu":
                max_pixels = max(int(memory_budget(dev) / bpp), max_pixels)
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

    from rawdenoise.layout import to_device_layout

    _channels, height, width = x.shape
    rows, cols = plan.rows, plan.cols
    wy, wx = axis_weights(rows), axis_weights(cols)
    row_of = {y: (i, _source_index(rows, y), *_inside(rows, y)) for i, y in enumerate(rows.starts)}
    col_of = {c: (i, _source_index(cols, c), *_inside(cols, c)) for i, c in enumerate(cols.starts)}
    positions = list(plan.tiles())
    out: np.ndarray | None = None
    done = 0
    if progress is not None:
        progress(0, len(positions))
    with torch.inference_mode():
        for first in range(0, len(positions), plan.batch):
            group = positions[first : first + plan.batch]
            stack = np.stack([x[:, row_of[y][1]][:, :, col_of[c][1]] for y, c in group])
            inp = to_device_layout(torch.from_numpy(stack).to(device, non_blocking=True), device)
            with _autocast(device, dtype), contextlib.redirect_stdout(sys.stderr):
                pred = network(inp)  # a plugin's print() must not reach stdout (--json)
            _check_output(pred, inp)
            del inp
            pred = pred.float().cpu().numpy()
            if out is None:
                out = np.zeros((pred.shape[1], height, width), dtype=np.float32)
            for k, (y, c) in enumerate(group):
                iy, _, ty, sy = row_of[y]
                ix, _, tx, sx = col_of[c]
                weight = wy[iy][ty, None] * wx[ix][None, tx]
                out[:, sy, sx] += pred[k][:, ty, tx] * weight
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


def _coverage(axis: AxisTiles, weights: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(axis.size, dtype=np.float32)
    for start, w in zip(axis.starts, weights, strict=True):
        t, s = _inside(axis, start)
        total[s] += w[t]
    return total
