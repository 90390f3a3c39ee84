"""The ``process`` batch as a three-stage pipeline: read ahead, denoise, write behind.

While the network runs on one file (main thread), a reader thread decodes the next file and
makes its network input, and a writer thread writes the previous file's output (back to DN,
unpacked, rendered and encoded, published atomically). Decoding with LibRaw, the numpy work and
zlib/JPEG encoding release the GIL, so on a CPU they fill the gaps the network leaves and on a
GPU they run beside it. At most one file is read ahead and one is being written, so memory
stays bounded whatever the folder's size; results come back in the jobs' order.

Reading starts when the batch is created, before the caller loads the model: the first file is
decoded while torch is imported (about a second either way on a laptop CPU).

A file that fails in any stage becomes a failed :class:`~rawdenoise.pipeline.FileResult` and the
batch goes on (:func:`failure`); ``debug`` re-raises instead, for a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rawdenoise.core_share import CoreShare
from rawdenoise.errors import ExitCode, RawDenoiseError
from rawdenoise.inputs import Job
from rawdenoise.pipeline import (
    FileResult,
    Prepared,
    RatioRule,
    RunSettings,
    read_job,
    run_network,
    write_job,
)
from rawdenoise.ratio_blend import network_at


def failure(job: Job, exc: BaseException, *, debug: bool = False) -> FileResult:
    """A failed result for ``job`` from the exception one of its stages raised.

    A :class:`RawDenoiseError` keeps its message, hint and exit code; running out of memory is
    exit 5 with a hint; anything else is a bug, reported as an internal error (exit 1) so that
    the other files are still processed. ``debug``: re-raise (the CLI's ``--debug``).
    """
    from rawdenoise import interrupts

    if not isinstance(exc, Exception):
        raise exc
    interrupts.check()  # after a Ctrl-C that library code swallowed, a failure is its doing
    if debug:
        raise exc
    if isinstance(exc, RawDenoiseError):
        return FileResult(
            job.source, job.output, "failed", error=naming(job.source.name, exc.message),
            hint=exc.hint, exit_code=int(exc.exit_code),
        )  # fmt: skip
    if isinstance(exc, MemoryError):
        return FileResult(
            job.source, job.output, "failed", error=f"{job.source.name}: out of memory",
            hint="use a smaller --tile, or --precision bf16/fp16", exit_code=int(ExitCode.RESOURCE),
        )  # fmt: skip
    return FileResult(
        job.source, job.output, "failed",
        error=f"{job.source.name}: internal error: {type(exc).__name__}: {exc}",
        hint="this is a bug; run again with --debug for the traceback and report it",
        exit_code=1,
    )  # fmt: skip


def naming(name: str, message: str) -> str:
    """``message`` with the file it is about in front, unless it names it already."""
    return message if name in message else f"{name}: {message}"


def precheck(job: Job, overwrite: bool, skip_existing: bool = False) -> FileResult | None:
    """The result of a job that needs no work: a bad input, or an output already there (kept:
    a file in the way, exit 5, unless ``skip_existing`` counts it as done)."""
    if job.error is not None:
        return FileResult(
            job.source, None, "failed", error=job.error.message, hint=job.error.hint,
            exit_code=int(job.error.exit_code),
        )  # fmt: skip
    if job.output is not None and job.output.is_file() and not overwrite:
        code = 0 if skip_existing else int(ExitCode.RESOURCE)
        return FileResult(
            job.source, job.output, "skipped", error=f"{job.output} exists", exit_code=code
        )
    return None


@dataclass
class BatchEvents:
    """What a batch reports while it runs (all optional; called on the caller's thread)."""

    #: a file's network pass begins: (index in the jobs, job)
    file_started: Callable[[int, Job], None] | None = None
    #: tiles done of a file's network pass: (index, done, total)
    tiles: Callable[[int, int, int], None] | None = None


class Batch:
    """Denoise ``jobs`` in order; reading of the first runnable job starts at once."""

    def __init__(
        self,
        jobs: Sequence[Job],
        rule: RatioRule,
        *,
        overwrite: bool,
        skip_existing: bool = False,
        debug: bool = False,
    ) -> None:
        self.jobs = list(jobs)
        self.rule = rule
        self.overwrite = overwrite
        self.debug = debug
        self.ready = [precheck(job, overwrite, skip_existing) for job in self.jobs]
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="rawdenoise-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="rawdenoise-write")
        self._reads: dict[int, Future] = {}
        self._stopping = threading.Event()  # set when the run unwinds: writes are abandoned
        self._share = CoreShare()  # on a CPU the network leaves the reader and writer a core
        self._read_from(0)

    @property
    def runnable(self) -> int:
        """How many jobs need the network (the caller may skip loading a model when none)."""
        return sum(r is None for r in self.ready)

    def _read_from(self, start: int) -> None:
        """Start reading the first runnable job at or after ``start`` (one read ahead)."""
        for index in range(start, len(self.jobs)):
            if self.ready[index] is None:
                read = self._share.working(read_job)
                self._reads[index] = self._reader.submit(read, self.jobs[index], self.rule)
                return

    def run(
        self, network: Any, settings: RunSettings, events: BatchEvents | None = None
    ) -> Iterator[tuple[int, FileResult]]:
        """(index, result) of every job, in order, as each file is finished.

        ``network``: a network, or a loaded model whose weights depend on each file's ratio
        (:func:`~rawdenoise.ratio_blend.network_at`)."""
        from rawdenoise import interrupts

        events = events or BatchEvents()
        writing: tuple[int, Future] | None = None
        import torch

        if torch.device(settings.device).type == "cpu":
            self._share.start(torch.get_num_threads())
        write = self._share.working(write_job)
        try:
            for index, job in enumerate(self.jobs):
                interrupts.check()  # a Ctrl-C that library code swallowed still stops the batch
                if self.ready[index] is not None:
                    if writing is not None:  # keep the order of results
                        yield writing[0], self._written(*writing)
                        writing = None
                    yield index, self.ready[index]
                    continue
                future = self._reads.pop(index)
                self._read_from(index + 1)
                try:
                    prepared = future.result()
                    y = self._denoise(index, prepared, network, settings, events)
                except BaseException as exc:
                    if writing is not None:
                        yield writing[0], self._written(*writing)
                        writing = None
                    yield index, failure(job, exc, debug=self.debug)
                    continue
                if writing is not None:  # one write in flight: bounded memory
                    yield writing[0], self._written(*writing)
                writing = (
                    index,
                    self._writer.submit(write, prepared, y, settings, self._stopping.is_set),
                )
                del prepared, y
            if writing is not None:
                yield writing[0], self._written(*writing)
                writing = None
        except BaseException:
            self._stopping.set()  # interrupted (or a bug): a write in progress leaves nothing
            raise
        finally:
            self._share.restore()
            self.close()

    def _denoise(
        self,
        index: int,
        prepared: Prepared,
        network: Any,
        settings: RunSettings,
        events: BatchEvents,
    ) -> Any:
        if events.file_started is not None:
            events.file_started(index, prepared.job)

        def on_tiles(done: int, total: int) -> None:
            prepared.tiles = total
            self._share.apply()  # for the next tile: a stage may have started or finished
            if events.tiles is not None:
                events.tiles(index, done, total)

        self._share.apply()
        assert prepared.x is not None
        x, prepared.x = prepared.x, None  # freed as soon as the network is done with it
        return run_network(network_at(network, prepared.ratio), x, settings, on_tiles)

    def _written(self, index: int, future: Future) -> FileResult:
        try:
            return future.result()
        except BaseException as exc:
            return failure(self.jobs[index], exc, debug=self.debug)

    def close(self) -> None:
        """Stop reading ahead; wait for a write in progress (it publishes a whole file or,
        when the run is unwinding, nothing)."""
        for future in self._reads.values():
            future.cancel()
        self._reads.clear()
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True)
