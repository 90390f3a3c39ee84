"""``rawdenoise ratio``: exposure levels, the ratio (digital gain) and the capture plan."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._console import emit_json, out_console, warn
from rawdenoise.cli._errors import handle_errors


@handle_errors
def ratio(
    bright: Path | None = typer.Argument(
        None, help="The well-exposed (clean) RAW file.", show_default=False, readable=False
    ),
    dark: Path | None = typer.Argument(
        None, help="The under-exposed (noisy) RAW file.", show_default=False, readable=False
    ),
    bright_iso: float | None = typer.Option(
        None, metavar="ISO", help="ISO of the bright frame (overrides EXIF)."
    ),
    bright_time: str | None = typer.Option(
        None, metavar="SECONDS", help='Shutter time of the bright frame: 1/10, 0.1, 2s or 30".'
    ),
    dark_iso: float | None = typer.Option(
        None, metavar="ISO", help="ISO of the dark frame (overrides EXIF)."
    ),
    dark_time: str | None = typer.Option(
        None, metavar="SECONDS", help="Shutter time of the dark frame."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Exposure levels (ISO x seconds), their ratio, and the extra captures LED needs.

    Give two RAW files, or the numbers: `rawdenoise ratio --bright-iso 100 --bright-time 30
    --dark-iso 6400 --dark-time 1/10`. LED fine-tunes each ratio from a low-ISO (<= 500) and a
    high-ISO (>= 3200) pair at the same dark exposure level; the plan says what to add.
    """
    from rawdenoise.exposure import capture_plan

    b = _exposure("bright", bright, bright_iso, bright_time)
    d = _exposure("dark", dark, dark_iso, dark_time)
    plan = capture_plan(b, d)
    warnings = _camera_mismatch(bright, dark)
    for message in warnings:
        warn(message)
    if json_out:
        emit_json({**plan.to_dict(), "warnings": warnings})
        return
    console = out_console()
    console.print(f"bright: {b.describe()}")
    console.print(f"dark:   {d.describe()}")
    console.print(f"ratio:  {plan.ratio:.6g}  (bright / dark = {b.level:g} / {d.level:g})")
    for s in plan.suggestions:
        console.print(f"plan:   {s.describe()}")
    for note in plan.notes:
        console.print(f"note:   {note}")


def _camera_mismatch(bright: Path | None, dark: Path | None) -> list[str]:
    """A warning when the two RAW files come from different cameras (EXIF make and model)."""
    from rawdenoise.exif import read_exif

    if bright is None or dark is None:
        return []
    cameras = (read_exif(bright).camera, read_exif(dark).camera)
    if cameras[0].casefold() == cameras[1].casefold():
        return []
    shown = [c or "an unknown camera" for c in cameras]
    return [
        f"{bright.name} comes from {shown[0]} and {dark.name} from {shown[1]}: a noisy/clean "
        "pair for fine-tuning must come from one camera (the same sensor, the same scene)"
    ]


def _exposure(label: str, path: Path | None, iso: float | None, time: str | None):
    import math

    from rawdenoise.errors import UsageError
    from rawdenoise.exif import read_exif
    from rawdenoise.exposure import Exposure, exposure_level, parse_shutter
    from rawdenoise.rawio import read_raw

    if iso is not None and not (math.isfinite(iso) and iso > 0):
        raise UsageError(f"--{label}-iso must be a positive, finite number, got {iso:g}")
    if path is not None:
        read_raw(path)  # refuse non-RAW, truncated and non-Bayer files before trusting EXIF
    seconds = parse_shutter(time) if time is not None else None
    if path is not None and (iso is None or seconds is None):
        info = read_exif(path)
        info.require(*(n for n, v in (("iso", iso), ("exposure_time", seconds)) if v is None))
        iso = iso if iso is not None else info.iso
        seconds = seconds if seconds is not None else info.exposure_time
    if iso is None or seconds is None:
        raise UsageError(
            f"the {label} frame needs a RAW file or both --{label}-iso and --{label}-time",
        )
    try:
        exposure_level(float(iso), seconds)  # ISO x seconds must be a positive, finite number
    except UsageError as exc:
        raise UsageError(f"the {label} frame: {exc.message}", hint=exc.hint) from None
    return Exposure(float(iso), seconds)
