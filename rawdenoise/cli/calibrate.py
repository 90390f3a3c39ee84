"""``rawdenoise calibrate``: measure a camera's noise model from dark and flat frames."""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import complete_device
from rawdenoise.cli._console import emit_json, err_console, out_console, state, warn
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
    from rawdenoise.interrupts import preload

    preload("numpy", "rawpy", "scipy.optimize", "scipy.stats")  # Ctrl-C waits: see preload
    from rawdenoise.atomic import check_output
    from rawdenoise.calibration.core import calibrate_camera, slugify
    from rawdenoise.calibration.frames import find_raw_files
    from rawdenoise.dirs import profiles_dir
    from rawdenoise.errors import UsageError
    from rawdenoise.exif import read_exif
    from rawdenoise.specs import _NAME_RE

    if name is not None and not _NAME_RE.match(name):
        raise UsageError(
            f"invalid --name {name!r}",
            hint="use letters, digits, '.', '_', '+' and '-', starting with a letter or digit",
        )
    if sample is not None:
        if dark is not None or flat is not None or learn:
            raise UsageError(
                "--sample does not calibrate: leave out --dark, --flat and --learn-noise"
            )
        _sample(sample, iso, count, noise, size, seed, out, overwrite=overwrite, json_out=json_out)
        return
    if dark is None:
        raise UsageError("missing option --dark", hint="see rawdenoise calibrate --help")
    if flat is None and not learn:
        raise UsageError(
            "missing option --flat",
            hint="flat frames give the system gain K; without them only --learn-noise runs "
            "(adding a learned noise model to an existing profile)",
        )
    if resume and not learn:
        raise UsageError(
            "--resume continues an interrupted --learn-noise", hint="add --learn-noise"
        )
    if name is None:  # the default id comes from the camera: read one file's EXIF first
        name = slugify(read_exif(find_raw_files(dark, "dark")[0]).camera)
    target = _target(out, name, profiles_dir())
    if flat is None:
        _learn_only(dark, name, target, iterations=iterations, seed=seed, device=device,
                    threads=threads, resume=resume, overwrite=overwrite, plots_on=plots_on,
                    json_out=json_out)  # fmt: skip
        return
    from rawdenoise.calibration.plots import plot_paths

    plots = plot_paths(target) if plots_on else {}
    extra: list[Path] = []
    if learn:
        from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint

        extra.append(learned_path(target))
        if plots_on:
            extra.extend(_learn_plots(dark, target).values())
        ckpt = checkpoint_path("calibrate", name)
        refuse_stale_checkpoint(ckpt, "noise learning", name, resume=resume, start_over=overwrite)
    for path in (target, *plots.values(), *extra):  # before calibrating: a folder in the way...
        check_output(path, overwrite=overwrite)

    if state.quiet:
        result = calibrate_camera(dark, flat, name=name)
    else:  # a transient spinner: nothing is left on stderr but warnings and errors
        with err_console().status("calibrating") as status:
            result = calibrate_camera(dark, flat, name=name, progress=status.update)
    learned = None
    if learn:
        learned = _learn(
            dark,
            name,
            iterations=iterations,
            seed=seed,
            device=device,
            threads=threads,
            checkpoint=ckpt,
            resume=resume,
        )
    owner = _other_owner(name) if target.parent == profiles_dir() else None
    _write(result, target, plots, overwrite=overwrite, learned=learned, plots_on=plots_on)
    if learned is not None:
        from rawdenoise.training.checkpoint import checkpoint_path

        checkpoint_path("calibrate", name).unlink(missing_ok=True)
    for message in result.warnings:
        warn(message)
    if owner is not None:
        warn(
            f"{owner[0]} also has a profile named {name!r}: that name now picks yours "
            f"(theirs stays reachable as {owner[1]!r}); use another --name to avoid that"
        )
    if json_out:
        payload = _payload(result, target, plots)
        if learned is not None:
            payload["learned_noise"] = _learned_payload(learned, target, plots_on)
        emit_json(payload)
    else:
        _render(result, target, plots)
        if learned is not None:
            _render_learned(learned, target, plots_on)


def _sample(spec, iso, count, noise, size, seed, out, *, overwrite: bool, json_out: bool) -> None:
    from rawdenoise.calibration.sample import SampleSpec, parse_size, resolve_profile, write_samples
    from rawdenoise.errors import UsageError

    if iso is None or not iso > 0:
        raise UsageError("--sample needs --iso N (a positive ISO)")
    if out is None:
        raise UsageError("--sample needs --out DIR (the folder for the DNG files)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; --sample writes into a folder")
    profile = resolve_profile(spec)
    wanted = SampleSpec(
        iso=float(iso),
        count=count,
        noise=noise,
        size=parse_size(size) if size is not None else None,
        seed=seed,
    )
    paths = write_samples(profile, wanted, out, overwrite=overwrite)
    if json_out:
        emit_json(
            {"profile": profile.id, "iso": iso, "noise": noise, "files": [str(p) for p in paths]}
        )
    else:
        console = out_console()
        for path in paths:
            console.print(str(path), soft_wrap=True)


def _learn_only(
    dark: Path, name: str, target: Path, *, iterations, seed, device, threads, resume,
    overwrite: bool, plots_on: bool, json_out: bool,
) -> None:  # fmt: skip
    """``--learn-noise`` without ``--flat``: add the learned model to an existing profile."""
    import dataclasses
    import json

    from rawdenoise.atomic import atomic_paths, check_output
    from rawdenoise.calibration.learn_plots import learn_plot_paths, write_learn_plots
    from rawdenoise.errors import InputError, UsageError
    from rawdenoise.specs import CameraProfile
    from rawdenoise.training.checkpoint import checkpoint_path, refuse_stale_checkpoint

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
    plots = _learn_plots(dark, target) if plots_on else {}
    for path in (weights, *plots.values()):  # before minutes of training
        check_output(path, overwrite=overwrite)
    ckpt = checkpoint_path("calibrate", name)
    refuse_stale_checkpoint(ckpt, "noise learning", name, resume=resume, start_over=overwrite)
    learned = _learn(
        dark, name, iterations=iterations, seed=seed, device=device, threads=threads,
        checkpoint=ckpt, resume=resume,
    )  # fmt: skip
    plots = learn_plot_paths(target, [j.iso for j in learned.judgements]) if plots_on else {}
    profile = dataclasses.replace(profile, learned_noise=weights.name)
    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    # the profile itself is updated (it must exist): only the new files need --overwrite
    with atomic_paths([weights, *plots.values()], overwrite=overwrite) as tmps:
        tmps[0].write_bytes(learned.model.to_bytes())
        if plots:
            paths = dict(zip(plots, tmps[1:], strict=True))
            write_learn_plots(learned.judgements, paths, f"{profile.make} {profile.model}")
    with atomic_paths([target], overwrite=True) as (tmp,):
        tmp.write_text(text, encoding="utf-8")
    ckpt.unlink(missing_ok=True)
    if json_out:
        emit_json(
            {"profile": str(target), "learned_noise": _learned_payload(learned, target, plots_on)}
        )
    else:
        _render_learned(learned, target, plots_on)
        out_console().print(f"profile: {target}  (id {profile.id})", soft_wrap=True)


def _learn_plots(dark: Path, target: Path) -> dict[float, Path]:
    """The learned-noise plots --learn-noise will write (one per ISO of the dark frames)."""
    from rawdenoise.calibration.frames import find_raw_files, read_infos
    from rawdenoise.calibration.learn_plots import learn_plot_paths

    isos = sorted({f.iso for f in read_infos(find_raw_files(dark, "dark"), "dark")})
    return learn_plot_paths(target, isos)


def learned_path(profile_path: Path) -> Path:
    """The learned noise model's weights beside the profile."""
    return profile_path.with_name(profile_path.stem + "_noise.safetensors")


def _learn(dark: Path, name: str, *, iterations, seed, device, threads, checkpoint, resume):
    from rawdenoise.calibration.learn import learn_noise
    from rawdenoise.inference import choose_device
    from rawdenoise.noise.learn_train import LearnConfig
    from rawdenoise.training.device import cpu_threads
    from rawdenoise.training.progress import make_progress

    config = LearnConfig(iterations=iterations, seed=seed)
    sink = make_progress(None if state.quiet else err_console())

    def progress(done: int, total: int, losses: dict[str, float]) -> None:
        if sink is not None:
            sink.update(done, losses["stat"], config.lr)

    with cpu_threads(threads):
        dev = choose_device(device)
        if sink is not None:
            sink.start(iterations, 0, "learning the dark noise")
        try:
            return learn_noise(
                dark,
                config,
                device=dev,
                checkpoint=checkpoint,
                resume=resume,
                progress=progress,
                say=sink.message if sink is not None else None,
            )
        finally:
            if sink is not None:
                sink.close()


def _other_owner(name: str) -> tuple[str, str] | None:
    """(plugin, qualified name) when a built-in or plugin profile already has this id."""
    from rawdenoise.plugins import USER
    from rawdenoise.registry import camera_profile_owner

    found = camera_profile_owner(name)
    if found is None or found[0].kind == USER:
        return None
    what = "rawdenoise" if found[0].kind != "plugin" else f"the plugin {found[0].name}"
    return what, found[1]


def _target(out: Path | None, name: str, default_dir: Path) -> Path:
    if out is None:
        return default_dir / f"{name}.json"
    if out.is_dir():
        return out / f"{name}.json"
    return out if out.suffix.lower() == ".json" else out.with_name(out.name + ".json")


def _write(
    result,
    target: Path,
    plots: dict[str, Path],
    *,
    overwrite: bool,
    learned=None,
    plots_on: bool = True,
) -> None:
    """Write the profile, its plots and the learned noise model all or nothing: every file is
    written to a temporary name first, and renamed only when all are written; on failure none
    of the files this call would have created is left behind, and existing ones are replaced
    only once all are written."""
    import dataclasses
    import json

    from rawdenoise.atomic import atomic_paths
    from rawdenoise.calibration.plots import write_plots

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


def _learned_payload(learned, target: Path, plots_on: bool) -> dict:
    from rawdenoise.calibration.learn_plots import learn_plot_paths

    isos = [j.iso for j in learned.judgements]
    plots = learn_plot_paths(target, isos) if plots_on else {}
    return {
        "weights": str(learned_path(target)),
        "iterations": learned.model.info.get("iterations"),
        "per_iso": [j.to_json() for j in learned.judgements],
        "plots": {f"{iso:g}": str(p) for iso, p in plots.items()},
    }


def _render_learned(learned, target: Path, plots_on: bool) -> None:
    from rich.table import Table

    from rawdenoise.calibration.learn_plots import learn_plot_paths

    console = out_console()
    table = Table(title="learned vs parametric dark noise on held-out frames (lower is closer)")
    for header in ("ISO", "statistic", "real", "learned", "parametric", "closer"):
        table.add_column(header, justify="right")
    for j in learned.judgements:
        a, b = j.learned_stats, j.parametric_stats
        rows = (
            ("histogram KL", "", a.kl, b.kl),
            ("row-mean std", f"{a.real_row_std:.3g}", a.row_std, b.row_std),
            ("col-mean std", f"{a.real_col_std:.3g}", a.col_std, b.col_std),
            ("log spectrum", "", a.spectrum, b.spectrum),
        )
        for (label, real, x, y), closer in zip(rows, j.wins().values(), strict=True):
            table.add_row(
                f"{j.iso:g}",
                label,
                real,
                f"{x:.4g}",
                f"{y:.4g}",
                "learned" if closer else "parametric",
            )
    console.print(table)
    console.print(f"learned noise: {learned_path(target)}", soft_wrap=True)
    if plots_on:
        for iso, path in learn_plot_paths(target, [j.iso for j in learned.judgements]).items():
            console.print(f"plot:    {path}  (learned noise, ISO {iso:g})", soft_wrap=True)


def _residuals(result) -> list[dict[str, float]]:
    import math

    out = []
    for r in result.isos:
        lk = math.log(r.k)
        row = {}
        for key, value in (("tukey", r.tl_sigma), ("gaussian", r.read_sigma), ("row", r.row_sigma)):
            fit = result.fits[key]
            row[key] = math.log(max(value, 1e-6)) - (fit.slope * lk + fit.intercept)
        out.append(row)
    return out


def _payload(result, target: Path, plots: dict[str, Path]) -> dict:
    per_iso = []
    for r, resid in zip(result.isos, _residuals(result), strict=True):
        entry = r.to_json()
        entry["residuals"] = resid
        per_iso.append(entry)
    noise = result.profile.noise
    return {
        "profile": str(target),
        "id": result.profile.id,
        "camera": f"{result.profile.make} {result.profile.model}",
        "cfa": result.cfa,
        "size": [result.shape[1], result.shape[0]],
        "k_range": [noise.k_min, noise.k_max],
        "per_iso": per_iso,
        "fits": {
            key: {"slope": f.slope, "bias": f.intercept, "sigma": f.residual_sigma, "r2": f.r2}
            for key, f in result.fits.items()
        },
        "plots": {kind: str(p) for kind, p in plots.items()},
        "warnings": list(result.warnings),
    }


def _render(result, target: Path, plots: dict[str, Path]) -> None:
    from rich.table import Table

    console = out_console()
    camera = f"{result.profile.make} {result.profile.model}"
    values = Table(title=f"{camera}: noise per ISO (DN)")
    for header in ("ISO", "dark/flat", "K (DN/e-)", "read σ", "TL σ", "λ", "row σ", "PTC r²"):
        values.add_column(header, justify="right")
    extra = Table(title="colour bias (DN) and log-linear fit residuals (log σ) per ISO")
    for header in ("ISO", "bias R", "G1", "B", "G2", "resid TL", "Gauss", "row"):
        extra.add_column(header, justify="right")
    for r, resid in zip(result.isos, _residuals(result), strict=True):
        values.add_row(
            f"{r.iso:g}",
            f"{r.n_dark}/{r.n_flat}",
            f"{r.k:.4g}",
            f"{r.read_sigma:.3g}",
            f"{r.tl_sigma:.3g}",
            f"{r.tl_lambda:+.3f}",
            f"{r.row_sigma:.3g}",
            f"{min(f.r2 for f in r.ptc):.3f}",
        )
        extra.add_row(
            f"{r.iso:g}",
            *(f"{v:+.2f}" for v in r.color_bias),
            *(f"{resid[k]:+.3f}" for k in ("tukey", "gaussian", "row")),
        )
    fits = Table(title="log σ = slope · log K + bias")
    for header in ("noise", "slope", "bias", "residual σ", "r²"):
        fits.add_column(header, justify="right")
    labels = {"tukey": "Tukey-lambda read", "gaussian": "Gaussian read", "row": "row"}
    for key, f in result.fits.items():
        fits.add_row(
            labels[key],
            f"{f.slope:.4f}",
            f"{f.intercept:.4f}",
            f"{f.residual_sigma:.4f}",
            f"{f.r2:.3f}",
        )
    for table in (values, extra, fits):
        console.print(table)
    noise = result.profile.noise
    console.print(f"K range: {noise.k_min:.4g} to {noise.k_max:.4g} DN/e-")
    console.print(f"profile: {target}  (id {result.profile.id})", soft_wrap=True)
    for kind, path in plots.items():
        console.print(f"plot:    {path}  ({kind.replace('_', ' ')})", soft_wrap=True)
