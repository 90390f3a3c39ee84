"""Where and how a network runs: the device (``--device``), the precision (``--precision``),
CPU threads, and how much memory its activations may use there.

Free memory is CUDA's ``mem_get_info`` on a GPU and the available RAM on a CPU (capped so that
a CPU run stays well under 2 GB); :func:`memory_budget` is the share the activations may use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rawdenoise.errors import ResourceError, UsageError

if TYPE_CHECKING:
    import torch


DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")

#: activations of one CPU forward pass are kept under this (the whole run stays < 2 GB at 24 MP)
CPU_ACTIVATION_CAP = 1536 * 2**20
#: fraction of free memory the activations may use (CPU: of available RAM)
GPU_MEMORY_FRACTION = 0.6
CPU_MEMORY_FRACTION = 0.25


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


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Run the block in ``dtype`` (bf16/fp16 autocast) on ``device``; fp32 runs as is."""
    import torch

    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
