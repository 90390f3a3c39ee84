"""``rawdenoise calibrate``: measure a camera's noise model from dark and flat frames."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import complete_device
from rawdenoise.cli._console import err_console, state, warn
from rawdenoise.cli._errors import handle_errors
from rawdenoise.cli._paths import path_parser


@handle_errors
def calibrate(
    dark: Path | None = typer.Option(
        None,
        "--dark",
        parser=path_parser(),
        metavar="DIR",
        help="Folder of dark frames (lens cap on): at least 2 per ISO (sub-folders are searched). "
        "Required unless --sample.",
        show_default=False,
    ),
    flat: Path | None = typer.Option(
        None,
        "--flat",
        parser=path_parser(),
        metavar="DIR",
        help="Folder of flat frames (evenly lit, unclipped): pairs at the same exposure, one or "
        "more brightness levels, per ISO. Without it, --learn-noise adds a learned noise model "
        "to the camera's existing profile.",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        parser=path_parser(),
        metavar="PATH",
        help="Profile JSON to write (a folder: NAME.json inside it). Default: the profiles "
        "folder, where rawdenoise finds it by the camera's EXIF make and model.",
        show_default=False,
    ),
    name: str | None = typer.Option(
        None, "--name", metavar="ID", help="Profile id. Default: from the camera's make and model."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing profile."),
    plots_on: bool = typer.Option(
        True, "--plots/--no-plots", help="Save PNG plots of every fit beside the profile."
    ),
    learn: bool = typer.Option(
        False,
        "--learn-noise",
        help="Also learn the camera's signal-independent noise from the dark frames (LRD): a "
        "generator saved beside the profile, judged on held-out dark frames.",
    ),
    iterations: int = typer.Option(
        800, "--iterations", min=1, help="Training iterations of --learn-noise."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Random seed of --learn-noise (same seed, same model)."
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        metavar="DEVICE",
        autocompletion=complete_device,
        help="Device of --learn-noise: auto, cpu, cuda, cuda:N or mps.",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch (default: one per core)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted --learn-noise from its checkpoint."
    ),
    sample: str | None = typer.Option(
        None,
        "--sample",
        metavar="PROFILE",
        help="Instead of calibrating: write synthetic dark frames (DNG) of a profile (JSON file "
        "or id) into --out, to compare with real ones in a raw editor.",
        show_default=False,
    ),
    iso: float | None = typer.Option(
        None, "--iso", help="ISO of --sample (between calibrated ISOs: interpolated)."
    ),
    count: int = typer.Option(4, "--count", min=1, help="Frames --sample writes."),
    noise: str = typer.Option(
        "learned", "--noise", metavar="learned|parametric", help="Noise model of --sample."
    ),
    size: str | None = typer.Option(
        None,
        "--size",
        metavar="SIZE",
        help="Frame size of --sample, WxH in RAW pixels (e.g. 1024x768). Default: the dark "
        "frames' size (at most 4096x4096), or 1024x1024.",
        show_default=False,
    ),
) -> None:
    """Calibrate your camera's noise: system gain K, read, row and Tukey-lambda noise per ISO.

    Shoot, at every ISO you want to cover (3 or more): dark frames with the lens cap on, and
    flat frames of an evenly lit surface (defocused, 10-80% of the white level) in pairs at
    the same exposure. Frames are grouped by their EXIF ISO. The profile (log-linear fits of
    the noise against K, LED/ELD layout) and PNG plots of every fit are written side by side.

    With --learn-noise a generator of the dark noise (column pattern, banding, heavy tails, hot
    pixels that the parametric model misses) is trained on the dark frames of all ISOs, the last
    dark frame of each ISO held out to judge it against the parametric model; Ctrl-C writes a
    checkpoint that --resume continues.
    """
    from rawdenoise.cli._calibrate_view import show_report, spinner
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.calibrate import CalibrateEvents, calibrate
    from rawdenoise.jobs.calibrate_options import CalibrateOptions
    from rawdenoise.training.progress import make_progress

    options = options_from(CalibrateOptions, locals())
    events = CalibrateEvents(warning=warn)
    if not state.quiet:  # a transient spinner: nothing is left on stderr but warnings and errors
        events.stage = spinner
    if options.learn:
        events.training = make_progress(None if state.quiet else err_console())
    show_report(calibrate(options, events), json_out)
