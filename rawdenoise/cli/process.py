"""``rawdenoise process``: denoise files and folders of RAW images at full resolution."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import (
    complete_arch,
    complete_device,
    complete_format,
    complete_model,
    complete_precision,
)
from rawdenoise.cli._console import emit_json, info, out_console, state, warn
from rawdenoise.cli._errors import handle_errors, print_error


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
        metavar="MODEL",
        autocompletion=complete_model,
        help="Model: a name (see 'rawdenoise models list'), a .safetensors or an LED .pth file. "
        "Default: the bundled 'default' model.",
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        metavar="NAME",
        help="Architecture of a checkpoint that does not say (e.g. an LED .pth of a NAFNet).",
        autocompletion=complete_arch,
    ),
    option: list[str] | None = typer.Option(
        None,
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="Architecture option KEY=VALUE (repeatable).",
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
        metavar="FORMAT",
        autocompletion=complete_format,
        help="png | tiff (16/8-bit sRGB) | jpeg (8-bit sRGB) | dng (denoised CFA mosaic).",
    ),
    bit_depth: int | None = typer.Option(
        None, "--bit-depth", metavar="8|16", help="8 or 16 (png, tiff; default 16; jpeg is 8-bit)."
    ),
    quality: int | None = typer.Option(
        None, "--quality", help="JPEG quality 1-100 (default 95; jpeg only)."
    ),
    ratio: str | None = typer.Option(
        None,
        "--ratio",
        metavar="N|auto",
        help="Digital gain applied before the network (default 1), or 'auto': the model's "
        "target exposure / (ISO x seconds).",
    ),
    target_exposure: float | None = typer.Option(
        None,
        "--target-exposure",
        metavar="E",
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
        "auto",
        "--device",
        metavar="DEVICE",
        autocompletion=complete_device,
        help="auto (cuda, then mps, then cpu), cpu, cuda[:N], mps.",
    ),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        metavar="fp32|bf16|fp16|auto",
        autocompletion=complete_precision,
        help="fp32 | bf16 | fp16 (GPU only) | auto (bf16 where the CPU or GPU has it natively, "
        "else fp32).",
    ),
    ensemble: int = typer.Option(
        1,
        "--ensemble",
        help="Average N mirrored copies (1, 2, 4 or 8): N times the time, less noise left.",
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look into sub-folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(
        False,
        "--skip-existing",
        help="Keep existing outputs and count them as done (exit 0): resumes a batch.",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="I/N",
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
    memory, and written atomically as `<stem><suffix>.<ext>`. An existing output is kept, the
    others are written, and the exit code is 5 at the end (--overwrite replaces it,
    --skip-existing counts it as done); a bad file is reported and the others continue (exit 3
    at the end).
    """
    from rawdenoise import pipeline
    from rawdenoise.errors import UsageError

    if overwrite and skip_existing:
        raise UsageError("give either --overwrite or --skip-existing, not both")
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

    preload("numpy", "rawpy")  # a Ctrl-C waits for them: see preload (torch: below)
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
    recorded = None
    if dry_run or (ratio is not None and ratio.strip().lower() == "auto"):
        recorded = _model_info(model_ref)
    rule = pipeline.ratio_rule(
        ratio,
        target_exposure,
        recorded.target_exposure if recorded is not None else None,
        recorded.auto_level if recorded is not None else None,
        recorded.ratio_range if recorded is not None else None,
    )

    if dry_run:
        from rawdenoise.cli._dry_run import dry_run as show_plan

        code = show_plan(
            jobs,
            rule,
            overwrite=overwrite,
            skip_existing=skip_existing,
            json_out=json_out,
            ratio_range=recorded.ratio_range if recorded is not None else None,
        )
        if code:
            raise typer.Exit(code)
        return
    runner = _Runner(
        jobs, rule, overwrite=overwrite, skip_existing=skip_existing, json_out=json_out
    )
    from rawdenoise.batch import Batch

    # the first file is read while torch and the model load
    batch = Batch(jobs, rule, overwrite=overwrite, skip_existing=skip_existing, debug=state.debug)
    try:
        preload("torch")
        runner.setup(
            model_ref, arch, option, device, precision, threads, tile, overlap,
            fmt=fmt, bit_depth=bit_depth, quality=95 if quality is None else quality,
            ensemble=ensemble,
        )  # fmt: skip
        code = runner.run(batch)
    finally:
        batch.close()
    if code:
        raise typer.Exit(code)


def _model_info(ref: str):
    """The model's recorded ModelInfo, read from metadata without building the network.

    ``None`` for files that record none in a header (LED ``.pth`` files, training checkpoints).
    """
    from rawdenoise import weights

    path = weights.resolve_model(ref)
    if not weights.is_safetensors(path):
        return None
    return weights.read_model_info(path)


class _Runner:
    """Loads the model once, then denoises every job with progress and a summary."""

    def __init__(self, jobs, rule, *, overwrite: bool, skip_existing: bool, json_out: bool) -> None:
        self.jobs = jobs
        self.rule = rule
        self.overwrite = overwrite
        self.skip_existing = skip_existing
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
        from rawdenoise.pipeline import RunSettings, ratio_range_warning

        inference.set_threads(threads)
        dev = inference.choose_device(device)
        inference.resolve_precision(precision, dev)  # refuse fp16 on CPU before loading
        if precision.strip().lower() == "auto":
            precision = inference.auto_precision(dev)
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
            if self.rule.fixed is not None:
                ratio_range = self.loaded.info.ratio_range
                outside = ratio_range_warning(self.rule.fixed, ratio_range, self.rule)
                if outside:
                    warn(outside)
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

    def run(self, batch) -> int:
        import time

        from rawdenoise.batch import BatchEvents
        from rawdenoise.cli._file_progress import FileProgress
        from rawdenoise.pipeline import batch_exit_code

        start = time.perf_counter()
        network = self.loaded.network if self.loaded else None
        with FileProgress(len(self.jobs)) as bar:
            events = BatchEvents(
                file_started=lambda index, job: bar.start_file(index, job.source.name),
                tiles=bar.tiles,
            )
            for index, result in batch.run(network, self.settings, events):
                self._warn_ratio(result)
                self.results.append(result)
                bar.file_done(index + 1, result)
        elapsed = time.perf_counter() - start
        if self.json_out:
            emit_json(self._payload(elapsed))
        else:  # the result: on stdout, -q or not
            self._summary(elapsed)
        _report_kept(self.results)
        return batch_exit_code(self.results)

    def _warn_ratio(self, result) -> None:
        """A per-file ratio (from EXIF) outside the model's range: one warning."""
        from rawdenoise.pipeline import ratio_range_warning

        if result.status != "done" or self.rule.target_exposure is None or result.ratio is None:
            return
        odd = ratio_range_warning(
            result.ratio, self.loaded.info.ratio_range, self.rule, result.source.name
        )
        if odd:
            warn(odd)

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
        table.add_column("file", overflow="fold")
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
                str(r.source),
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
        out_console().print(table)


def _report_kept(results) -> None:
    """One error line for the existing outputs that were kept (exit 5), after the batch."""
    kept = [r for r in results if r.status == "skipped" and r.exit_code]
    if kept:
        n = len(kept)
        others = "; the other files were processed" if len(results) > n else ""
        print_error(
            f"{n} output{'s' if n != 1 else ''} existed and {'were' if n != 1 else 'was'} kept "
            f"(first: {kept[0].output}){others}",
            hint="pass --overwrite to replace them, or --skip-existing to count them as done",
        )


def _short_error(result) -> str:
    """The error without the leading "<file name>: " (the table names the file already)."""
    text = result.error or ""
    prefix = f"{result.source.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
