"""``rawdenoise process``: denoise files and folders of RAW images at full resolution."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import complete_arch
from rawdenoise.cli._console import emit_json, err_console, info, state, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def process(
    paths: list[Path] = typer.Argument(
        ...,
        help="RAW files and folders of RAW files.",
        show_default=False,
        readable=False,  # an unreadable file is a bad file of the batch, not a usage error
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model: a name (see 'rawdenoise models list'), a .safetensors or an LED .pth file. "
        "Default: the bundled 'default' model.",
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        help="Architecture of a checkpoint that does not say (e.g. an LED .pth of a NAFNet).",
        autocompletion=complete_arch,
    ),
    option: list[str] | None = typer.Option(
        None, "--option", "-O", help="Architecture option KEY=VALUE (repeatable)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output folder (default: a 'denoised' folder beside each input).",
    ),
    suffix: str = typer.Option(
        "", "--suffix", help="Added to each output name: `<stem><suffix>.<ext>`."
    ),
    fmt: str = typer.Option(
        "png",
        "--format",
        "-f",
        help="png | tiff (16/8-bit sRGB) | jpeg (8-bit sRGB) | dng (denoised CFA mosaic).",
    ),
    bit_depth: int | None = typer.Option(
        None, "--bit-depth", help="8 or 16 (png, tiff; default 16; jpeg is 8-bit)."
    ),
    quality: int | None = typer.Option(
        None, "--quality", help="JPEG quality 1-100 (default 95; jpeg only)."
    ),
    ratio: str | None = typer.Option(
        None,
        "--ratio",
        help="Digital gain applied before the network (default 1), or 'auto': the model's "
        "target exposure / (ISO x seconds).",
    ),
    target_exposure: float | None = typer.Option(
        None,
        "--target-exposure",
        help="Per file ratio = E / (ISO x seconds) from EXIF (LED's --target_exposure).",
    ),
    tile: int | None = typer.Option(
        None,
        "--tile",
        help="Largest tile side in packed pixels (default: from free memory; 0: whole frame).",
    ),
    overlap: int | None = typer.Option(
        None, "--overlap", help="Tile overlap in packed pixels (default 64 for the UNet)."
    ),
    device: str = typer.Option(
        "auto", "--device", help="auto (cuda, then mps, then cpu), cpu, cuda[:N], mps."
    ),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | fp16 (GPU only)."),
    ensemble: int = typer.Option(
        1,
        "--ensemble",
        help="Average N mirrored copies (1, 2, 4 or 8): N times the time, less noise left.",
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look into sub-folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="I/N: process the I-th of N shares of the sorted file list (torchrun's RANK and "
        "WORLD_SIZE do the same).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be written (and the ratio) without denoising."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Denoise RAW files: 16-bit PNG (default), TIFF, JPEG or a denoised DNG for raw editors.

    Each frame is normalized with its black/white levels, multiplied by the ratio, clipped at 1
    (as LED does), denoised at full resolution in overlapping tiles that fit the device's
    memory, and written atomically as `<stem><suffix>.<ext>`. Existing outputs are skipped unless
    --overwrite; a bad file is reported and the others continue (exit 3 at the end).
    """
    from rawdenoise import pipeline
    from rawdenoise.errors import UsageError

    fmt = fmt.strip().lower()
    fmt = {"tif": "tiff", "jpg": "jpeg"}.get(fmt, fmt)
    if fmt not in pipeline.EXTENSIONS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose png, tiff, jpeg or dng")
    if bit_depth is not None and bit_depth not in (8, 16):
        raise UsageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
    if fmt == "dng" and bit_depth not in (None, 16):
        raise UsageError("--bit-depth applies to png and tiff; a DNG keeps the RAW's 16-bit data")
    if fmt == "jpeg" and bit_depth not in (None, 8):
        raise UsageError("JPEG is 8-bit", hint="use --format png or tiff for 16-bit output")
    bit_depth = 8 if fmt == "jpeg" else bit_depth or 16
    if quality is not None and fmt != "jpeg":
        raise UsageError("--quality applies to --format jpeg only")
    if quality is not None and not 1 <= quality <= 100:
        raise UsageError(f"--quality must be 1-100, got {quality}")
    from rawdenoise.interrupts import preload

    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.ensemble import check_ensemble
    from rawdenoise.inference import check_threads, check_tiling

    check_threads(threads)
    check_ensemble(ensemble)
    check_tiling(tile, overlap, 1)  # the signs now; the network's stride once it is loaded
    if "/" in suffix or "\\" in suffix:
        raise UsageError(f"--suffix must not contain a path separator: {suffix!r}")
    shard_spec = pipeline.parse_shard(shard) if shard else pipeline.shard_from_env()
    if out is not None:
        from rawdenoise.atomic import check_output_folder

        check_output_folder(out)  # a file where the folder should be: exit 5, as for any output

    collected = pipeline.collect_inputs(paths, recursive=recursive, out_dir=out)
    jobs = pipeline.take_shard(
        pipeline.plan_jobs(collected, out_dir=out, suffix=suffix, fmt=fmt), shard_spec
    )
    if collected.ignored:
        info(f"ignored {collected.ignored} file(s) without a RAW extension")
    if shard_spec:
        info(f"shard {shard_spec[0]}/{shard_spec[1]}: {len(jobs)} file(s)")

    model_ref = model if model is not None else "default"
    model_target = None
    if ratio is not None and ratio.strip().lower() == "auto":
        model_target = _model_target_exposure(model_ref)
    rule = pipeline.ratio_rule(ratio, target_exposure, model_target)

    if dry_run:
        code = _dry_run(jobs, rule, overwrite, json_out)
        if code:
            raise typer.Exit(code)
        return
    runner = _Runner(jobs, rule, overwrite=overwrite, json_out=json_out)
    runner.setup(
        model_ref, arch, option, device, precision, threads, tile, overlap,
        fmt=fmt, bit_depth=bit_depth, quality=95 if quality is None else quality,
        ensemble=ensemble,
    )  # fmt: skip
    code = runner.run()
    if code:
        raise typer.Exit(code)


def _model_target_exposure(ref: str) -> float | None:
    """The model's recorded target exposure, read from metadata without building the network."""
    from rawdenoise import weights

    path = weights.resolve_model(ref)
    if not weights.is_safetensors(path):  # LED .pth files and training checkpoints record none
        return None
    info_ = weights.read_model_info(path)
    return info_.target_exposure if info_ is not None else None


def _batch_exit_code(results) -> int:
    """A batch's exit code: 0, or its failures' code (1 wins; 4 or 5 when every failure has
    that code: a broken plugin, a full disk; otherwise 3)."""
    codes = {r.exit_code for r in results if r.status == "failed"}
    if not codes:
        return 0
    if 1 in codes:
        return 1
    return codes.pop() if len(codes) == 1 and codes <= {4, 5} else 3


def _dry_run(jobs, rule, overwrite: bool, json_out: bool) -> int:
    """Show the plan; the exit code says which files a real run would already fail on."""
    from rawdenoise.atomic import check_output
    from rawdenoise.errors import RawDenoiseError
    from rawdenoise.exif import read_exif
    from rawdenoise.pipeline import FileResult
    from rawdenoise.render import OutputMetadata

    results = []
    for job in jobs:
        if job.error is not None:
            code = int(job.error.exit_code)
            results.append(
                FileResult(job.source, None, "failed", error=job.error.message, exit_code=code)
            )
            continue
        status = "skip (exists)" if job.output.is_file() and not overwrite else "would write"
        try:
            check_output(job.output, overwrite=True)  # a folder or file in the way fails
            ex = read_exif(job.source)
            meta = OutputMetadata(iso=ex.iso, exposure_time=ex.exposure_time)
            value = rule.ratio_for(job.source, meta)
            results.append(FileResult(job.source, job.output, status, ratio=value))
        except RawDenoiseError as exc:
            code = int(exc.exit_code)
            results.append(
                FileResult(job.source, job.output, "failed", error=exc.message, exit_code=code)
            )
    if json_out:
        emit_json({"dry_run": True, "files": [r.to_dict() for r in results]})
        return _batch_exit_code(results)
    from rich.table import Table

    table = Table(title="rawdenoise process --dry-run", title_justify="left")
    for col in ("input", "output", "ratio", "status"):
        table.add_column(col, justify="right" if col == "ratio" else "left")
    for r in results:
        table.add_row(
            str(r.source),
            str(r.output or ""),
            f"{r.ratio:.4g}" if r.ratio is not None else "",
            r.status if r.error is None else f"error: {r.error}",
        )
    from rawdenoise.cli._console import out_console

    out_console().print(table)
    return _batch_exit_code(results)


class _Runner:
    """Loads the model once, then denoises every job with progress and a summary."""

    def __init__(self, jobs, rule, *, overwrite: bool, json_out: bool) -> None:
        self.jobs = jobs
        self.rule = rule
        self.overwrite = overwrite
        self.json_out = json_out
        self.results = []

    def setup(
        self,
        model_ref: str,
        arch: str | None,
        option: list[str] | None,
        device: str,
        precision: str,
        threads: int | None,
        tile: int | None,
        overlap: int | None,
        *,
        fmt: str,
        bit_depth: int,
        quality: int,
        ensemble: int = 1,
    ) -> None:
        from rawdenoise import inference, weights
        from rawdenoise.pipeline import RunSettings

        inference.set_threads(threads)
        dev = inference.choose_device(device)
        inference.resolve_precision(precision, dev)  # refuse fp16 on CPU before loading
        if precision == "bf16" and dev.type == "cpu":
            slow = inference.emulated_bf16_warning("runs many times slower")
            if slow:
                warn(slow)
        todo = [j for j in self.jobs if j.error is None]
        self.loaded = None
        if todo:  # an empty or all-bad run does not need a model
            options = weights.parse_options(option)
            self.loaded = weights.load_model(model_ref, arch=arch, options=options or None)
            inference.check_tiling(tile, overlap, self.loaded.spec.multiple_of)
            ratio_range = self.loaded.info.ratio_range
            if ratio_range and self.rule.fixed is not None:
                lo, hi = ratio_range
                if not lo <= self.rule.fixed <= hi:
                    warn(
                        f"ratio {self.rule.fixed:g} is outside the model's range "
                        f"{lo:g}-{hi:g}; results may be poor"
                    )
        self.settings = RunSettings(
            multiple_of=self.loaded.spec.multiple_of if self.loaded else 1,
            fmt=fmt,
            bit_depth=bit_depth,
            quality=quality,
            tile=tile,
            overlap=overlap,
            device=dev,
            precision=precision,
            overwrite=self.overwrite,
            ensemble=ensemble,
            architecture=self.loaded.spec if self.loaded else None,
        )
        self.device, self.precision = dev, precision

    def run(self) -> int:
        import time

        start = time.perf_counter()
        from rawdenoise import interrupts

        with _progress(len(self.jobs)) as bar:
            for index, job in enumerate(self.jobs):
                interrupts.check()  # a Ctrl-C that library code swallowed still stops the batch
                result = self._one(job, index, bar)
                self.results.append(result)
                bar.file_done(index + 1)
                if result.status == "failed":
                    bar.report(result)
        elapsed = time.perf_counter() - start
        if self.json_out:
            emit_json(self._payload(elapsed))
        elif not state.quiet:
            self._summary(elapsed)
        return _batch_exit_code(self.results)

    def _one(self, job, index: int, bar):
        from rawdenoise import interrupts
        from rawdenoise.errors import RawDenoiseError
        from rawdenoise.pipeline import FileResult, process_file

        if job.error is not None:
            return FileResult(
                job.source,
                None,
                "failed",
                error=job.error.message,
                hint=job.error.hint,
                exit_code=int(job.error.exit_code),
            )
        if job.output.is_file() and not self.overwrite:
            return FileResult(job.source, job.output, "skipped", error="output exists")
        bar.start_file(index, job.source.name)
        try:
            return process_file(
                job,
                self.loaded.network,
                self.rule,
                self.settings,
                progress=lambda done, total: bar.tiles(index, done, total),
            )
        except RawDenoiseError as exc:
            interrupts.check()  # after Ctrl-C a failure is the interruption's doing
            if state.debug:
                raise
            return FileResult(
                job.source,
                job.output,
                "failed",
                error=_naming(job.source, exc.message),
                hint=exc.hint,
                exit_code=int(exc.exit_code),
            )
        except MemoryError:
            return FileResult(
                job.source,
                job.output,
                "failed",
                error=f"{job.source.name}: out of memory",
                hint="use a smaller --tile, or --precision bf16/fp16",
                exit_code=5,
            )
        except Exception as exc:  # a bug: report it, keep going with the other files
            interrupts.check()
            if state.debug:
                raise
            return FileResult(
                job.source,
                job.output,
                "failed",
                error=f"{job.source.name}: internal error: {type(exc).__name__}: {exc}",
                hint="this is a bug; run again with --debug for the traceback and report it",
                exit_code=1,
            )

    def _payload(self, elapsed: float) -> dict:
        counts = {
            s: sum(r.status == s for r in self.results) for s in ("done", "skipped", "failed")
        }
        done = [r for r in self.results if r.status == "done"]
        return {
            "model": str(self.loaded.path) if self.loaded else None,
            "architecture": self.loaded.spec.name if self.loaded else None,
            "device": str(self.device),
            "precision": self.precision,
            "ensemble": self.settings.ensemble,
            "format": self.settings.fmt,
            "files": [r.to_dict() for r in self.results],
            "processed": counts["done"],
            "skipped": counts["skipped"],
            "failed": counts["failed"],
            "megapixels": round(sum(r.megapixels for r in done), 3),
            "seconds": round(elapsed, 3),
        }

    def _summary(self, elapsed: float) -> None:
        from rich.table import Table

        table = Table(title="rawdenoise process", title_justify="left")
        table.add_column("file")
        table.add_column("status")
        table.add_column("MP", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("output / error", overflow="fold")
        shown = (
            self.results
            if len(self.results) <= 50
            else [r for r in self.results if r.status == "failed"]
        )
        for r in shown:
            table.add_row(
                r.source.name,
                r.status,
                f"{r.megapixels:.1f}" if r.megapixels else "",
                f"{r.seconds:.1f}" if r.seconds else "",
                str(r.output) if r.status != "failed" else _short_error(r),
            )
        done = [r for r in self.results if r.status == "done"]
        failed = sum(r.status == "failed" for r in self.results)
        skipped = sum(r.status == "skipped" for r in self.results)
        table.add_section()
        table.add_row(
            f"{len(self.results)} file(s)",
            f"{len(done)} done, {skipped} skipped, {failed} failed",
            f"{sum(r.megapixels for r in done):.1f}",
            f"{elapsed:.1f}",
            "",
        )
        err_console().print(table)


def _naming(source, message: str) -> str:
    """``message`` with the file it is about in front, unless it names it already."""
    return message if source.name in message else f"{source.name}: {message}"


def _short_error(result) -> str:
    """The error without the leading "<file name>: " (the table names the file already)."""
    text = result.error or ""
    prefix = f"{result.source.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


class _progress:
    """A rich progress display on stderr (files and tiles, with ETA); silent under --quiet."""

    def __init__(self, files: int) -> None:
        self.files = files
        self.bar = None

    def __enter__(self) -> _progress:
        if state.quiet or self.files == 0:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}", markup=False),  # a file name, not markup
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console(),
            transient=True,
        )
        self.bar.start()
        self.files_task = self.bar.add_task("files", total=self.files)
        self.tiles_task = self.bar.add_task("tiles", total=1, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def start_file(self, index: int, name: str) -> None:
        if self.bar is not None:
            self.bar.update(self.tiles_task, description=name, completed=0, total=1, visible=True)

    def tiles(self, index: int, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tiles_task, completed=done, total=total)
            self.bar.update(self.files_task, completed=index + done / max(total, 1))

    def file_done(self, completed: int) -> None:
        if self.bar is not None:
            self.bar.update(self.files_task, completed=completed)
            self.bar.update(self.tiles_task, visible=False)

    def report(self, result) -> None:
        """A failed file: one error line now (the batch goes on)."""
        console = err_console()
        console.print(f"rawdenoise: error: {result.error}", markup=False, soft_wrap=True)
        if result.hint:
            console.print(f"hint: {result.hint}", markup=False, soft_wrap=True)
