"""The training loop shared by ``pretrain`` and ``finetune``.

A run is a list of :class:`Stage` (LED's fine-tune has two: camera alignment, then the
auxiliary convs), each with its own Adam optimizer and learning-rate schedule, over one global
iteration counter. Randomness comes from :func:`~rawdenoise.training.seeding.iteration_rng`,
so a run resumed from a checkpoint ends with exactly the weights of an uninterrupted run.
Ctrl-C or SIGTERM (``timeout``, a batch scheduler) finishes the current step, writes a
checkpoint and stops with exit code 130 (143 for SIGTERM); a second one stops at once.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawdenoise import interrupts
from rawdenoise.errors import ExitCode, RawDenoiseError, UsageError
from rawdenoise.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rawdenoise.training.device import DistContext, any_rank, barrier, wrap
from rawdenoise.training.precision import with_precision
from rawdenoise.training.progress import ProgressSink
from rawdenoise.training.schedule import lr_factor
from rawdenoise.training.seeding import IterationRng, iteration_rng, restore_rng_state, rng_state


class TrainingInterrupted(RawDenoiseError):
    """Stopped by Ctrl-C or SIGTERM after writing a checkpoint."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, hint: str | None = None, *, signal_name: str = "") -> None:
        super().__init__(message, hint)
        if signal_name == "SIGTERM":
            self.exit_code = ExitCode.TERMINATED


@dataclass
class Stage:
    """``iterations`` Adam steps on the parameters ``enter()`` returns (it also sets the
    module's trainable state for the stage)."""

    name: str
    iterations: int
    lr: float
    enter: Callable[[], Iterable[nn.Parameter]]
    schedule: str = "constant"
    warmup: int = 0
    final_lr_factor: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


#: One training step: ``step(model, iteration, rng) -> scalar loss`` (model may be DDP-wrapped).
#: With a ``prepare`` function, ``step(model, iteration, batch)`` gets what it prepared.
StepFn = Callable[[nn.Module, int, Any], torch.Tensor]
#: ``prepare(iteration, rng) -> batch``: the data of one iteration, made without the network
#: (crops, noise), so that the loop can make the next one while the network trains.
PrepareFn = Callable[[int, IterationRng], Any]


@dataclass
class LoopConfig:
    seed: int
    device: torch.device
    dist: DistContext = field(default_factory=DistContext)
    checkpoint: Path | None = None
    checkpoint_every: int = 0  #: 0: only when interrupted
    resume: bool = False
    fingerprint: dict[str, Any] = field(default_factory=dict)
    progress: ProgressSink | None = None
    description: str = "training"
    #: called on rank 0 after each periodic checkpoint with the iteration (e.g. validation)
    on_checkpoint: Callable[[int], None] | None = None
    #: stop (and checkpoint) after this many iterations in this session; for tests and
    #: time-sliced runs. None: run to the end.
    stop_after: int | None = None
    #: pause (with a checkpoint) once this iteration of the run is done, not an error:
    #: ``--stop-at`` for time-sliced runs; ``--resume`` continues. None: run to the end.
    stop_at: int | None = None
    #: saved in every checkpoint beside the weights: what loading one as a model needs
    #: (architecture, options, virtual cameras), see :func:`rawdenoise.weights.load_model`
    extra: dict[str, Any] = field(default_factory=dict)
    #: DDP: some trainable parameters may be unused in a step (one RepNR branch per iteration)
    find_unused_parameters: bool = False
    #: "fp32", or "bf16": the forward pass under autocast (:mod:`rawdenoise.training.precision`)
    precision: str = "fp32"
    #: make the next batch in a worker thread during the step (with ``prepare``); False: make
    #: it just before the step, in the main thread; None: where it pays (:func:`prefetch_pays`)
    prefetch: bool | None = None


def prefetch_pays(device: torch.device) -> bool:
    """Whether making batches in a worker thread speeds a step up on ``device``.

    On a GPU the worker uses the idle CPU. On a CPU whose cores all run torch's threads, the
    worker takes a core from them in the middle of their parallel regions, and every thread
    then waits for the one it displaced: measured on a 2-core Xeon with AMX (2 threads, bf16,
    the default's recipe), ``pretrain`` ran 3.5 it/s with the worker and 4.4 it/s making each
    batch in turn.
    """
    from rawdenoise.core_share import usable_cores

    if device.type != "cpu":
        return True
    return usable_cores() > torch.get_num_threads()


@dataclass
class LoopResult:
    iterations: int  #: total iterations of the run
    resumed_from: int  #: 0 for a fresh run
    seconds: float  #: wall time of this session's iterations
    iterations_per_second: float
    last_loss: float
    smoothed_loss: float  #: exponential moving average (~100 iterations)
    #: the iteration the run paused at (``stop_at``) with a checkpoint; None: it finished
    paused_at: int | None = None


class _Paused(Exception):
    """Internal: ``stop_at`` reached, checkpoint written; leaves the stage loops."""


class _StopRequest:
    """Turns the first SIGINT/SIGTERM into a flag checked between steps."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:  # asked twice: stop now (cleanup still runs)
            interrupts.raise_or_defer(interrupts.interruption(signum))
            return
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._handler)
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def make_batch(prepare: PrepareFn, config: LoopConfig, it: int) -> Any:
    """The batch of iteration ``it``: it depends only on (seed, iteration, rank)."""
    return prepare(it, iteration_rng(config.seed, it, config.dist.rank, config.device))


class _Prefetcher:
    """Makes the batch of the next iteration in a worker thread while the network trains.

    A batch depends only on (seed, iteration, rank) (:mod:`rawdenoise.training.seeding`), so
    making it ahead changes nothing in the result. The worker's torch operations (Poisson
    sampling is single-threaded on CPU) release the GIL and fill the gaps the network's
    convolutions leave on the cores.
    """

    def __init__(self, prepare: PrepareFn, config: LoopConfig) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.prepare, self.config = prepare, config
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rawdenoise-prefetch")
        self.pending: tuple[int, Any] | None = None

    def _make(self, it: int) -> Any:
        return make_batch(self.prepare, self.config, it)

    def get(self, it: int, following: int | None) -> Any:
        """The batch of iteration ``it``; starts making ``following``'s (None: nothing)."""
        if self.pending is not None and self.pending[0] == it:
            batch = self.pending[1].result()
        else:
            if self.pending is not None:
                self.pending[1].cancel()
            batch = self._make(it)
        self.pending = None
        if following is not None:
            self.pending = (following, self.pool.submit(self._make, following))
        return batch

    def close(self) -> None:
        if self.pending is not None:
            self.pending[1].cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)


def run(
    module: nn.Module,
    stages: list[Stage],
    step: StepFn,
    config: LoopConfig,
    prepare: PrepareFn | None = None,
) -> LoopResult:
    """Train ``module`` through ``stages``; resumes from ``config.checkpoint`` if asked.

    ``prepare``: a step's data made separately (``step`` then gets the batch instead of the
    generators), one iteration ahead in a worker thread.
    """
    total = sum(s.iterations for s in stages)
    ctx, device = config.dist, config.device
    progress = config.progress if ctx.is_main else None
    start, ckpt = 0, None
    if config.resume and config.checkpoint is not None:
        if config.checkpoint.exists():
            ckpt = load_checkpoint(config.checkpoint, config.fingerprint)
            module.load_state_dict(ckpt.model)
            restore_rng_state(ckpt.rng)
            start = min(ckpt.iteration, total)
            if progress:
                progress.message(f"resuming from iteration {start} ({config.checkpoint})")
        elif progress:
            progress.message("no checkpoint to resume from: starting at iteration 0")

    last_loss = smoothed = float("nan")
    done = start
    paused_at = None
    t0 = time.perf_counter()
    if progress:
        progress.start(total, start, config.description)
    ahead = prefetch_pays(device) if config.prefetch is None else config.prefetch
    prefetch = _Prefetcher(prepare, config) if prepare is not None and ahead else None
    try:
        if config.stop_at is not None and config.stop_at <= start < total:
            raise _Paused  # resumed at or past the pause point: nothing to do this time
        interrupts.check()  # one that arrived while the data loaded and was swallowed
        with _StopRequest().installed() as stop:
            offset = 0
            for index, stage in enumerate(stages):
                if offset + stage.iterations <= start:
                    offset += stage.iterations
                    continue
                params = [p for p in stage.enter() if p.requires_grad]
                if not params:
                    raise UsageError(f"stage {stage.name!r} has no trainable parameters")
                net = wrap(module, ctx, device, find_unused=config.find_unused_parameters)
                net = with_precision(net, config.precision, device)
                net.train()
                optimizer = adam(
                    params, lr=stage.lr, betas=stage.betas, weight_decay=stage.weight_decay
                )
                if ckpt is not None and ckpt.stage == index and ckpt.optimizer is not None:
                    optimizer.load_state_dict(ckpt.optimizer)
                for local in range(max(start - offset, 0), stage.iterations):
                    it = offset + local
                    lr = stage.lr * lr_factor(
                        stage.schedule,
                        local,
                        stage.iterations,
                        warmup=stage.warmup,
                        final=stage.final_lr_factor,
                    )
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.zero_grad(set_to_none=True)
                    if prefetch is not None:
                        following = it + 1 if local + 1 < stage.iterations else None
                        loss = step(net, it, prefetch.get(it, following))
                    elif prepare is not None:
                        loss = step(net, it, make_batch(prepare, config, it))
                    else:
                        loss = step(net, it, iteration_rng(config.seed, it, ctx.rank, device))
                    loss.backward()
                    optimizer.step()
                    done = it + 1
                    last_loss = float(loss.detach())
                    if not math.isfinite(last_loss):
                        raise UsageError(
                            f"training diverged: the loss is {last_loss} at iteration {done}",
                            hint="lower the learning rate (--lr)",
                        )
                    smoothed = (
                        last_loss if math.isnan(smoothed) else 0.99 * smoothed + 0.01 * last_loss
                    )
                    if progress:
                        progress.update(done, smoothed, lr)
                    session_done = done - start
                    halt = stop.requested or (
                        config.stop_after is not None and session_done >= config.stop_after
                    )
                    halt = any_rank(ctx, halt, device)
                    periodic = (
                        config.checkpoint_every > 0
                        and done % config.checkpoint_every == 0
                        and done < total
                    )
                    pause = config.stop_at is not None and config.stop_at <= done < total
                    if config.checkpoint is not None and (periodic or halt or pause):
                        _write(config, module, optimizer, index, done)
                        if periodic and config.on_checkpoint is not None and ctx.is_main:
                            config.on_checkpoint(done)
                    if pause and not halt:
                        raise _Paused
                    if halt:
                        raise TrainingInterrupted(
                            f"stopped at iteration {done}/{total}"
                            + (f" ({stop.signal_name})" if stop.signal_name else "")
                            + (
                                f"; checkpoint saved to {config.checkpoint}"
                                if config.checkpoint is not None
                                else ""
                            ),
                            hint="run the same command with --resume to continue"
                            if config.checkpoint is not None
                            else None,
                            signal_name=stop.signal_name,
                        )
                offset += stage.iterations
    except _Paused:
        paused_at = done
    finally:
        if prefetch is not None:
            prefetch.close()
        if progress:
            progress.close()
    seconds = time.perf_counter() - t0
    ran = done - start
    return LoopResult(
        iterations=total,
        resumed_from=start,
        seconds=seconds,
        iterations_per_second=ran / seconds if seconds > 0 and ran else 0.0,
        last_loss=last_loss,
        smoothed_loss=smoothed,
        paused_at=paused_at,
    )


def adam(params: list[nn.Parameter], **settings: Any) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch has it for the parameters' device (one
    step of the default's UNet: 4 ms instead of 11 on a 2-core CPU); else the usual loop."""
    try:
        return torch.optim.Adam(params, fused=True, **settings)
    except (RuntimeError, TypeError, ValueError):  # older torch, or no fused kernel there
        return torch.optim.Adam(params, **settings)


def _write(
    config: LoopConfig, module: nn.Module, optimizer: torch.optim.Optimizer, stage: int, done: int
) -> None:
    assert config.checkpoint is not None
    if config.dist.is_main:
        save_checkpoint(
            config.checkpoint,
            Checkpoint(
                iteration=done,
                stage=stage,
                model=module.state_dict(),
                optimizer=optimizer.state_dict(),
                fingerprint=config.fingerprint,
                rng=rng_state(),
                extra=config.extra,
            ),
        )
    barrier(config.dist)


def remove_checkpoint(config: LoopConfig) -> None:
    """Delete the checkpoint after the final model is saved (rank 0)."""
    if config.checkpoint is not None and config.dist.is_main:
        config.checkpoint.unlink(missing_ok=True)
