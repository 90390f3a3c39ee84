"""The batch job behind ``rawdenoise process``, reporting through events instead of a screen.

:class:`ProcessJob` checks the options, finds the inputs and names the outputs when it is
made; :meth:`ProcessJob.dry_run` then says what a run would do, or :meth:`ProcessJob.start`
loads the model (reading the first file meanwhile) and :meth:`ProcessJob.run` denoises every
file. Messages, warnings and per-file progress go to the :class:`ProcessEvents` callbacks;
the outcome is a :class:`ProcessReport`. The command line draws the progress bar and the
summary table from the same events and report (:mod:`rawdenoise.cli.process`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawdenoise.errors import ExitCode, RawDenoiseError
from rawdenoise.inputs import Job
from rawdenoise.jobs.process_options import ProcessOptions
from rawdenoise.pipeline import FileResult, RatioRule, batch_exit_code


def _ignore(*_args: Any) -> None:
    return None


@dataclass
class ProcessEvents:
    """Callbacks of a run; each defaults to doing nothing.

    ``info`` and ``warning`` get one message line; ``file_started(index, job)`` and
    ``tiles(index, done, total)`` come while a file is denoised; ``file_done(completed,
    result)`` once per input, in the inputs' order (``completed`` counts from 1).
    """

    info: Callable[[str], None] = _ignore
    warning: Callable[[str], None] = _ignore
    file_started: Callable[[int, Job], None] = _ignore
    tiles: Callable[[int, int, int], None] = _ignore
    file_done: Callable[[int, FileResult], None] = _ignore


@dataclass
class ProcessReport:
    """The outcome of a run (or of a dry run: statuses ``would write``, ``skip (exists)``)."""

    results: list[FileResult] = field(default_factory=list)
    model: str | None = None  #: the model file, None when none was loaded
    architecture: str | None = None
    device: str | None = None
    precision: str | None = None
    ensemble: int = 1
    level_lock: bool = True
    fmt: str = "png"
    #: the run's wall time from its start (the model's loading included): each file's counts
    #: from when its reading began, so the first one's overlaps the loading
    seconds: float = 0.0
    dry_run: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def exit_code(self) -> int:
        """The command's exit code for these results (:func:`batch_exit_code`)."""
        return batch_exit_code(self.results)

    @property
    def kept(self) -> list[FileResult]:
        """Existing outputs left in place that count as a failure (exit 5)."""
        return [r for r in self.results if r.status == "skipped" and r.exit_code]

    @property
    def megapixels(self) -> float:
        return sum(r.megapixels for r in self.results if r.status == "done")

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary of ``rawdenoise process --json``."""
        files = [r.to_dict() for r in self.results]
        if self.dry_run:
            return {"dry_run": True, "files": files}
        return {
            "model": self.model,
            "architecture": self.architecture,
            "device": self.device,
            "precision": self.precision,
            "ensemble": self.ensemble,
            "level_lock": self.level_lock,
            "format": self.fmt,
            "files": files,
            "processed": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "megapixels": round(self.megapixels, 3),
            "seconds": round(self.seconds, 3),
        }


def recorded_model_info(ref: str) -> Any:
    """The model's recorded ModelInfo, read from metadata without building the network.

    ``None`` for files that record none in a header (LED ``.pth`` files, training checkpoints).
    """
    from rawdenoise import weights

    path = weights.resolve_model(ref)
    if not weights.is_safetensors(path):
        return None
    return weights.read_model_info(path)


class ProcessJob:
    """One ``process`` run: made from options, then :meth:`dry_run`, or :meth:`start` and
    :meth:`run`, and :meth:`close` (a ``with`` block closes it).

    ``debug``: an unexpected error in a file is raised (a traceback) instead of failing that
    file and going on.
    """

    def __init__(
        self, options: ProcessOptions, events: ProcessEvents | None = None, *, debug: bool = False
    ) -> None:
        from rawdenoise import inputs
        from rawdenoise.interrupts import preload
        from rawdenoise.pipeline import ratio_rule

        self.events = events or ProcessEvents()
        self.debug = debug
        self.options = opts = options.validated()
        preload("numpy", "rawpy")  # a Ctrl-C waits for them: see preload (torch: in start)
        shard = opts.check_runtime()
        collected = inputs.collect_inputs(opts.paths, recursive=opts.recursive, out_dir=opts.out)
        planned = inputs.plan_jobs(collected, out_dir=opts.out, suffix=opts.suffix, fmt=opts.fmt)
        self.jobs: list[Job] = inputs.take_shard(planned, shard)
        if collected.ignored:
            self.events.info(f"ignored {collected.ignored} file(s) without a RAW extension")
        if shard:
            self.events.info(f"shard {shard[0]}/{shard[1]}: {len(self.jobs)} file(s)")
        self.recorded = None
        if opts.dry_run or opts.ratio_is_auto:
            self.recorded = recorded_model_info(opts.model_ref)
        recorded = self.recorded
        ratio = None if opts.ratio is None else str(opts.ratio)
        self.rule: RatioRule = ratio_rule(
            ratio,
            opts.target_exposure,
            recorded.target_exposure if recorded is not None else None,
            recorded.auto_level if recorded is not None else None,
            recorded.ratio_range if recorded is not None else None,
        )
        self.batch: Any = None
        self.loaded: Any = None
        self.settings: Any = None
        #: perf_counter() when start() began: the first file is read while torch and the
        #: model load, so the run's time counts from there, like each file's
        self.began = 0.0

    def __enter__(self) -> ProcessJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dry_run(self) -> ProcessReport:
        """What a real run would write, with each file's ratio (each file is decoded)."""
        from rawdenoise.pipeline import ratio_range_warning

        opts = self.options
        results = [plan_file(j, self.rule, opts.overwrite, opts.skip_existing) for j in self.jobs]
        ratio_range = self.recorded.ratio_range if self.recorded is not None else None
        if self.rule.fixed is not None:  # once, as a real run warns once it has the model
            checks = [(self.rule.fixed, "")]
        else:
            checks = [(r.ratio, r.source.name) for r in results if r.ratio is not None]
        for ratio, name in checks:
            message = ratio_range_warning(ratio, ratio_range, self.rule, name)
            if message and self.rule.fixed is not None:
                from rawdenoise.weights import resolve_model

                message += _bundled_alternative(resolve_model(opts.model_ref), ratio)
            if message:
                self.events.warning(message)
        return ProcessReport(results, fmt=opts.fmt, dry_run=True)

    def start(self) -> None:
        """Start reading the first file, then load torch and the model (unless no file needs
        it) and settle the device, precision and tiling."""
        from rawdenoise import devices, heap, tiling, weights
        from rawdenoise.batch import Batch
        from rawdenoise.interrupts import preload
        from rawdenoise.pipeline import RunSettings, ratio_range_warning

        opts = self.options
        self.began = time.perf_counter()
        heap.keep_freed_memory()  # before the reader thread: one heap, reused tile after tile
        self.batch = Batch(
            self.jobs, self.rule, overwrite=opts.overwrite, skip_existing=opts.skip_existing,
            debug=self.debug,
        )  # fmt: skip
        preload("torch")
        devices.set_threads(opts.threads)
        dev = devices.choose_device(opts.device)
        devices.resolve_precision(opts.precision, dev)  # refuse fp16 on CPU before loading
        precision = opts.precision
        if precision.strip().lower() == "auto":
            precision = devices.auto_precision(dev)
        if precision == "bf16" and dev.type == "cpu":
            slow = devices.emulated_bf16_warning("runs many times slower")
            if slow:
                self.events.warning(slow)
        if any(j.error is None for j in self.jobs):  # an empty or all-bad run needs no model
            options = weights.parse_options(list(opts.option))
            ref, arch = opts.model_ref, opts.arch
            self.loaded = weights.load_model(ref, arch=arch, options=options or None)
            tiling.check_tiling(opts.tile, opts.overlap, self.loaded.spec.multiple_of)
            if self.rule.fixed is not None:
                ratio_range = self.loaded.info.ratio_range
                outside = ratio_range_warning(self.rule.fixed, ratio_range, self.rule)
                if outside:
                    self.events.warning(
                        outside + _bundled_alternative(self.loaded.path, self.rule.fixed)
                    )
        spec = self.loaded.spec if self.loaded else None
        assert opts.bit_depth is not None and opts.quality is not None  # validated()
        self.settings = RunSettings(
            multiple_of=spec.multiple_of if spec else 1, fmt=opts.fmt, bit_depth=opts.bit_depth,
            quality=opts.quality, tile=opts.tile, overlap=opts.overlap, device=dev,
            precision=precision, overwrite=opts.overwrite, ensemble=opts.ensemble,
            level_lock=opts.level_lock, architecture=spec,
        )  # fmt: skip

    def run(self) -> ProcessReport:
        """Denoise every job (after :meth:`start`); failed files are in the report."""
        from rawdenoise.batch import BatchEvents

        if self.batch is None:
            self.start()
        network = self.loaded  # its network at each file's ratio (a ratio blend's differ)
        events = BatchEvents(file_started=self.events.file_started, tiles=self.events.tiles)
        results: list[FileResult] = []
        for index, result in self.batch.run(network, self.settings, events):
            self._warn_ratio(result)
            results.append(result)
            self.events.file_done(index + 1, result)
        return ProcessReport(
            results,
            model=str(self.loaded.path) if self.loaded else None,
            architecture=self.loaded.spec.name if self.loaded else None,
            device=str(self.settings.device),
            precision=self.settings.precision,
            ensemble=self.settings.ensemble,
            level_lock=self.settings.level_lock,
            fmt=self.settings.fmt,
            seconds=time.perf_counter() - self.began,
        )

    def close(self) -> None:
        """Stop the reader and writer threads (a run interrupted midway publishes nothing)."""
        if self.batch is not None:
            self.batch.close()

    def _warn_ratio(self, result: FileResult) -> None:
        """A per-file ratio (from EXIF) outside the model's range: one warning."""
        from rawdenoise.pipeline import ratio_range_warning

        if result.status != "done" or self.rule.target_exposure is None or result.ratio is None:
            return
        odd = ratio_range_warning(
            result.ratio, self.loaded.info.ratio_range, self.rule, result.source.name
        )
        if odd:
            self.events.warning(odd)


def _bundled_alternative(model: Path, ratio: float) -> str:
    """When a bundled model runs outside its ratios: another bundled model trained for
    ``ratio``, if there is one (the default covers 100-300; a normally exposed photo is 1)."""
    from rawdenoise.model_file import read_model_info
    from rawdenoise.model_names import bundled_models

    bundled = bundled_models()
    if model not in bundled.values():
        return ""
    for name, path in bundled.items():
        info = read_model_info(path) if path != model and path.is_file() else None
        if info is not None and info.ratio_range is not None:
            lo, hi = info.ratio_range
            if lo <= ratio <= hi:
                trained = f"was trained for {lo:g}-{hi:g}"
                return f"; the bundled '{name}' model {trained} (--model {name})"
    return ""


def plan_file(job: Job, rule: RatioRule, overwrite: bool, skip_existing: bool) -> FileResult:
    """The dry-run result of one job: decoded (no denoising) and its ratio computed, so that a
    file a real run would fail on is listed as failed."""
    from rawdenoise.atomic import check_output
    from rawdenoise.rawio import read_raw
    from rawdenoise.render import read_metadata

    if job.error is not None:
        code = int(job.error.exit_code)
        return FileResult(job.source, None, "failed", error=job.error.message, exit_code=code)
    assert job.output is not None
    exists = job.output.is_file() and not overwrite
    status = "skip (exists)" if exists else "would write"
    in_the_way = int(ExitCode.RESOURCE) if exists and not skip_existing else 0
    try:
        check_output(job.output, overwrite=True)  # a folder or file in the way fails
        frame = read_raw(job.source)  # what a real run decodes first
        packed = frame.normalized() if rule.needs_pixels else None
        value = rule.ratio_for(job.source, read_metadata(job.source, frame), packed)
    except RawDenoiseError as exc:
        code = int(exc.exit_code)
        return FileResult(
            job.source, job.output, "failed", error=exc.message, hint=exc.hint, exit_code=code
        )
    return FileResult(job.source, job.output, status, ratio=value, exit_code=in_the_way)


def process(
    options: ProcessOptions, events: ProcessEvents | None = None, *, debug: bool = False
) -> ProcessReport:
    """Run ``rawdenoise process`` with ``options`` (a dry run when ``options.dry_run``).

    Bad options raise :class:`~rawdenoise.errors.UsageError` (or another
    :class:`~rawdenoise.errors.RawDenoiseError`) before any file is touched; a bad file is a
    failed result in the report, and the others are processed.
    """
    with ProcessJob(options, events, debug=debug) as job:
        return job.dry_run() if job.options.dry_run else job.run()
