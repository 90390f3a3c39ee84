"""Training devices: DistributedDataParallel under torchrun (the choice: devices.choose_device).

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; when ``WORLD_SIZE`` > 1 the process
group is initialised (NCCL on CUDA, Gloo on CPU), each process uses ``cuda:LOCAL_RANK`` and
only rank 0 writes checkpoints, models and progress. The user runs the same command line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from rawdenoise.errors import UsageError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly single-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> DistContext:
    """The torchrun environment (a single process when it is absent)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise UsageError(f"invalid torchrun environment: {exc}") from exc
    return DistContext(rank=rank, world_size=max(world, 1), local_rank=local)


def setup(device_name: str = "auto") -> tuple[DistContext, torch.device]:
    """Pick the device and, under torchrun, join the process group."""
    from rawdenoise.devices import choose_device

    ctx = dist_from_env()
    device = choose_device(device_name, local_rank=ctx.local_rank)
    if ctx.enabled:
        import torch.distributed as dist

        if device.type == "mps":
            raise UsageError("multi-process training is not supported on Apple MPS")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
    return ctx, device


def teardown(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def any_rank(ctx: DistContext, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (so all stop together)."""
    if not ctx.enabled:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def wrap(
    module: nn.Module, ctx: DistContext, device: torch.device, *, find_unused: bool = False
) -> nn.Module:
    """DistributedDataParallel around ``module`` under torchrun, else ``module`` itself.

    ``find_unused``: some trainable parameters may get no gradient in a step (pretraining with
    several RepNR branches runs one camera branch per iteration).
    """
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` for the block, then restored (None: unchanged).

    On a busy machine fewer threads than cores can be many times faster: idle-waiting threads
    of a contended thread pool cost more than they compute.
    """
    if threads is None:
        yield
        return
    from rawdenoise.devices import check_threads

    check_threads(threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
