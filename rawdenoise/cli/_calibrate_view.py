"""How ``rawdenoise calibrate`` shows its report: tables of the fits and of the learned noise,
and the files written (stdout)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rawdenoise.cli._console import emit_json, err_console, out_console


def show_report(report: Any, json_out: bool) -> None:
    if json_out:
        emit_json(report.to_dict())
    elif report.mode == "sample":
        console = out_console()
        for path in report.files:
            console.print(str(path), soft_wrap=True)
    elif report.mode == "learn":
        _render_learned(report)
        out_console().print(f"profile: {report.target}  (id {report.profile.id})", soft_wrap=True)
    else:
        _render(report.result, report.target, report.plots)
        if report.learned is not None:
            _render_learned(report)


def _render_learned(report: Any) -> None:
    from rich.table import Table

    from rawdenoise.jobs.calibrate_options import learned_path

    learned, target = report.learned, report.target
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
    for iso, path in report.learn_plots.items():
        console.print(f"plot:    {path}  (learned noise, ISO {iso:g})", soft_wrap=True)


def _render(result: Any, target: Path, plots: dict[str, Path]) -> None:
    from rich.table import Table

    from rawdenoise.jobs.calibrate_options import residuals

    console = out_console()
    camera = f"{result.profile.make} {result.profile.model}"
    values = Table(title=f"{camera}: noise per ISO (DN)")
    for header in ("ISO", "dark/flat", "K (DN/e-)", "read σ", "TL σ", "λ", "row σ", "PTC r²"):
        values.add_column(header, justify="right")
    extra = Table(title="colour bias (DN) and log-linear fit residuals (log σ) per ISO")
    for header in ("ISO", "bias R", "G1", "B", "G2", "resid TL", "Gauss", "row"):
        extra.add_column(header, justify="right")
    for r, resid in zip(result.isos, residuals(result), strict=True):
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


@contextlib.contextmanager
def spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A transient status line on stderr; yields the function that changes its text."""
    with err_console().status(text) as status:
        yield status.update
