"""The job behind ``rawdenoise calibrate``: a camera profile from dark and flat frames, a
learned dark-noise model (``--learn-noise``), or synthetic dark frames of a profile
(``--sample``).

:func:`calibrate` checks :class:`CalibrateOptions` as the command does, refuses unusable
outputs before any work, and writes the profile, its plots and the learned model all or
nothing. Progress goes to :class:`CalibrateEvents`; the outcome is a :class:`CalibrateReport`.
"""

from __future__ import annotations

from pathlib import Path

from rawdenoise.jobs.calibrate_learn import (
    learn,
    learn_only,
    learn_plot_targets,
    write_calibration,
)
from rawdenoise.jobs.calibrate_options import (
    CalibrateEvents,
    CalibrateOptions,
    CalibrateReport,
    learned_path,
    profile_target,
)


def calibrate(options: CalibrateOptions, events: CalibrateEvents | None = None) -> CalibrateReport:
    """Run ``rawdenoise calibrate`` with ``options``."""
    from rawdenoise.interrupts import preload

    events = events or CalibrateEvents()
    preload("numpy", "rawpy", "scipy.optimize", "scipy.stats")  # Ctrl-C waits: see preload
    from rawdenoise.calibration.frames import find_raw_files
    from rawdenoise.calibration.per_iso import slugify
    from rawdenoise.dirs import profiles_dir
    from rawdenoise.exif import read_exif

    opts = options.validated()
    if opts.sample is not None:
        return _sample(opts)
    assert opts.dark is not None
    name = opts.name
    if name is None:  # the default id comes from the camera: read one file's EXIF first
        name = slugify(read_exif(find_raw_files(opts.dark, "dark")[0]).camera)
    target = profile_target(opts.out, name, profiles_dir())
    if opts.flat is None:
        return learn_only(opts, name, target, events)
    return _calibrate(opts, name, target, events)


def _calibrate(
    opts: CalibrateOptions, name: str, target: Path, events: CalibrateEvents
) -> CalibrateReport:
    from rawdenoise.atomic import check_output
    from rawdenoise.calibration import core
    from rawdenoise.calibration.plots import plot_paths
    from rawdenoise.dirs import profiles_dir
    from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint

    assert opts.dark is not None and opts.flat is not None
    plots = plot_paths(target) if opts.plots_on else {}
    extra: list[Path] = []
    ckpt = checkpoint_path("calibrate", name)
    if opts.learn:
        extra.append(learned_path(target))
        if opts.plots_on:
            extra.extend(learn_plot_targets(opts.dark, target).values())
        refuse_stale_checkpoint(
            ckpt, "noise learning", name, resume=opts.resume, start_over=opts.overwrite
        )
    for path in (target, *plots.values(), *extra):  # before calibrating: a folder in the way
        check_output(path, overwrite=opts.overwrite)
    with events.stage("calibrating") as update:
        result = core.calibrate_camera(opts.dark, opts.flat, name=name, progress=update)
    learned = learn(opts, name, ckpt, events) if opts.learn else None
    owner = _other_owner(name) if target.parent == profiles_dir() else None
    report = CalibrateReport("calibrate", target, result, plots, learned)
    write_calibration(report, overwrite=opts.overwrite, plots_on=opts.plots_on)
    if learned is not None:
        ckpt.unlink(missing_ok=True)
    for message in result.warnings:
        events.warning(message)
    if owner is not None:
        events.warning(
            f"{owner[0]} also has a profile named {name!r}: that name now picks yours "
            f"(theirs stays reachable as {owner[1]!r}); use another --name to avoid that"
        )
    return report


def _sample(opts: CalibrateOptions) -> CalibrateReport:
    from rawdenoise.calibration.sample import SampleSpec, parse_size, resolve_profile, write_samples

    assert opts.sample is not None and opts.out is not None and opts.iso is not None
    profile = resolve_profile(opts.sample)
    wanted = SampleSpec(
        iso=float(opts.iso),
        count=opts.count,
        noise=opts.noise,
        size=parse_size(opts.size) if opts.size is not None else None,
        seed=opts.seed,
    )
    paths = write_samples(profile, wanted, opts.out, overwrite=opts.overwrite)
    about = {"profile": profile.id, "iso": opts.iso, "noise": opts.noise}
    return CalibrateReport("sample", files=list(paths), sample=about, profile=profile)


def _other_owner(name: str) -> tuple[str, str] | None:
    """(plugin, qualified name) when a built-in or plugin profile already has this id."""
    from rawdenoise.plugin_records import USER
    from rawdenoise.registry import camera_profile_owner

    found = camera_profile_owner(name)
    if found is None or found[0].kind == USER:
        return None
    what = "rawdenoise" if found[0].kind != "plugin" else f"the plugin {found[0].name}"
    return what, found[1]
