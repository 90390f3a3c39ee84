"""``calibrate --learn-noise``: train the dark-noise generator and write it, with the profile
and the plots, all or nothing (:mod:`rawdenoise.jobs.calibrate` decides when)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rawdenoise.jobs.calibrate_options import (
    CalibrateEvents,
    CalibrateOptions,
    CalibrateReport,
    learned_path,
)

if TYPE_CHECKING:
    from rawdenoise.calibration.learn import LearnResult


def learn_plot_targets(dark: Path, target: Path) -> dict[float, Path]:
    """The learned-noise plots --learn-noise will write (one per ISO of the dark frames)."""
    from rawdenoise.calibration.frames import find_raw_files, read_infos
    from rawdenoise.calibration.learn_plots import learn_plot_paths

    isos = sorted({f.iso for f in read_infos(find_raw_files(dark, "dark"), "dark")})
    return learn_plot_paths(target, isos)


def learn(
    opts: CalibrateOptions, name: str, checkpoint: Path, events: CalibrateEvents
) -> LearnResult:
    """Train the generator on the dark frames (checkpointed; ``--resume`` continues)."""
    from rawdenoise.calibration.learn import learn_noise
    from rawdenoise.devices import choose_device
    from rawdenoise.noise.learn_train import LearnConfig
    from rawdenoise.training.device import cpu_threads

    assert opts.dark is not None
    config = LearnConfig(iterations=opts.iterations, seed=opts.seed)
    sink = events.training

    def progress(done: int, total: int, losses: dict[str, float]) -> None:
        if sink is not None:
            sink.update(done, losses["stat"], config.lr)

    with cpu_threads(opts.threads):
        dev = choose_device(opts.device)
        if sink is not None:
            sink.start(opts.iterations, 0, "learning the dark noise")
        try:
            return learn_noise(
                opts.dark,
                config,
                device=dev,
                checkpoint=checkpoint,
                resume=opts.resume,
                progress=progress,
                say=sink.message if sink is not None else None,
            )
        finally:
            if sink is not None:
                sink.close()


def learn_only(
    opts: CalibrateOptions, name: str, target: Path, events: CalibrateEvents
) -> CalibrateReport:
    """``--learn-noise`` without ``--flat``: add the learned model to an existing profile."""
    from rawdenoise.atomic import atomic_paths, check_output
    from rawdenoise.calibration.learn_plots import learn_plot_paths, write_learn_plots
    from rawdenoise.errors import InputError, UsageError
    from rawdenoise.specs import CameraProfile
    from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint

    assert opts.dark is not None
    if not target.is_file():
        raise UsageError(
            f"no camera profile {target} to add the learned noise to",
            hint="calibrate with --flat as well, or name an existing profile with --out FILE",
        )
    try:
        profile = CameraProfile.from_dict(json.loads(target.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the camera profile {target}: {exc}") from None
    weights = learned_path(target)
    plots = learn_plot_targets(opts.dark, target) if opts.plots_on else {}
    for path in (weights, *plots.values()):  # before minutes of training
        check_output(path, overwrite=opts.overwrite)
    ckpt = checkpoint_path("calibrate", name)
    refuse_stale_checkpoint(
        ckpt, "noise learning", name, resume=opts.resume, start_over=opts.overwrite
    )
    learned = learn(opts, name, ckpt, events)
    isos = [j.iso for j in learned.judgements]
    plots = learn_plot_paths(target, isos) if opts.plots_on else {}
    profile = dataclasses.replace(profile, learned_noise=weights.name)
    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    # the profile itself is updated (it must exist): only the new files need --overwrite
    with atomic_paths([weights, *plots.values()], overwrite=opts.overwrite) as tmps:
        tmps[0].write_bytes(learned.model.to_bytes())
        if plots:
            paths = dict(zip(plots, tmps[1:], strict=True))
            write_learn_plots(learned.judgements, paths, f"{profile.make} {profile.model}")
    with atomic_paths([target], overwrite=True) as (tmp,):
        tmp.write_text(text, encoding="utf-8")
    ckpt.unlink(missing_ok=True)
    return CalibrateReport("learn", target, learned=learned, learn_plots=plots, profile=profile)


def write_calibration(report: CalibrateReport, *, overwrite: bool, plots_on: bool) -> None:
    """Write the profile, its plots and the learned noise model all or nothing: every file is
    written to a temporary name first, and renamed only when all are written; on failure none
    of the files this call would have created is left behind, and existing ones are replaced
    only once all are written."""
    from rawdenoise.atomic import atomic_paths
    from rawdenoise.calibration.plots import write_plots

    result, target, plots, learned = report.result, report.target, report.plots, report.learned
    assert target is not None
    profile = result.profile
    targets = [target, *plots.values()]
    learn_plots: dict[float, Path] = {}
    if learned is not None:
        from rawdenoise.calibration.learn_plots import learn_plot_paths

        weights = learned_path(target)
        profile = dataclasses.replace(profile, learned_noise=weights.name)
        if plots_on:
            learn_plots = learn_plot_paths(target, [j.iso for j in learned.judgements])
        targets += [weights, *learn_plots.values()]
    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    kinds = list(plots)
    with atomic_paths(targets, overwrite=overwrite) as tmps:
        tmps[0].write_text(text, encoding="utf-8")
        if plots:
            write_plots(
                result, dict(zip(kinds, tmps[1 : 1 + len(kinds)], strict=True)), overwrite=True
            )
        if learned is not None:
            from rawdenoise.calibration.learn_plots import write_learn_plots

            rest = tmps[1 + len(kinds) :]
            rest[0].write_bytes(learned.model.to_bytes())
            if learn_plots:
                title = f"{profile.make} {profile.model}"
                paths = dict(zip(learn_plots, rest[1:], strict=True))
                write_learn_plots(learned.judgements, paths, title)
    report.profile, report.learn_plots = profile, learn_plots
