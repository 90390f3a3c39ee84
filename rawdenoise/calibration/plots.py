"""PNG plots of every calibration fit, so that a user can check them (matplotlib, Agg).

- ``*_mean_variance.png``: photon transfer per ISO (binned tile points per channel, the fit).
- ``*_noise_fits.png``: log sigma against log K for the Tukey-lambda scale, the Gaussian sigma
  and the row noise (points, fit, +-residual band), and lambda against log K.
- ``*_ppcc.png``: the Tukey-lambda probability-plot correlation curve of each ISO.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rawdenoise.atomic import atomic_path
from rawdenoise.calibration.results import CalibrationResult

CHANNELS = (("R", "tab:red"), ("G1", "tab:green"), ("B", "tab:blue"), ("G2", "olive"))
PLOT_KINDS = ("mean_variance", "noise_fits", "ppcc")


def plot_paths(profile_path: Path) -> dict[str, Path]:
    """Where the plots of ``profile_path`` go: beside it, named after it."""
    stem = profile_path.with_suffix("")
    return {kind: stem.parent / f"{stem.name}_{kind}.png" for kind in PLOT_KINDS}


def _figure(**kwargs):
    """A pyplot-free figure (no global state, no GUI backend): renders with Agg."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig, path: Path, overwrite: bool) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def write_plots(result: CalibrationResult, paths: dict[str, Path], *, overwrite: bool) -> None:
    title = f"{result.profile.make} {result.profile.model} ({result.profile.id})"
    _save(_mean_variance(result, title), paths["mean_variance"], overwrite)
    _save(_noise_fits(result, title), paths["noise_fits"], overwrite)
    _save(_ppcc(result, title), paths["ppcc"], overwrite)


def _mean_variance(result: CalibrationResult, title: str):
    from matplotlib.ticker import MaxNLocator

    n = len(result.isos)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = _figure(figsize=(4 * cols, 3.4 * rows), layout="tight")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, r in zip(axes.ravel(), result.isos, strict=False):
        top = 0.0
        for c, (label, colour) in enumerate(CHANNELS):
            x, y = r.ptc_points[c]
            if x.size:
                ax.plot(x, y, ".", color=colour, ms=3, alpha=0.7)
                top = max(top, float(x.max()))
            fit = r.ptc[c]
            xs = np.array([0.0, top or 1.0])
            ax.plot(
                xs,
                fit.slope * xs + fit.intercept,
                "-",
                color=colour,
                lw=1,
                label=f"{label}: K={fit.slope:.4g}, r²={fit.r2:.3f}",
            )
        ax.set_title(f"ISO {r.iso:g}: K = {r.k:.4g} DN/e⁻" + (" (spatial)" if r.spatial else ""))
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_xlabel("mean signal above black (DN)")
        ax.set_ylabel("temporal variance (DN²)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: photon transfer (variance = K x signal + read variance)")
    return fig


def _noise_fits(result: CalibrationResult, title: str):
    k = np.array([r.k for r in result.isos])
    lk = np.log(k)
    xs = np.linspace(lk.min(), lk.max(), 50)
    series = (
        ("tukey", "Tukey-lambda scale σ_TL", [r.tl_sigma for r in result.isos]),
        ("gaussian", "Gaussian read σ", [r.read_sigma for r in result.isos]),
        ("row", "row noise σ_r", [max(r.row_sigma, 1e-6) for r in result.isos]),
    )
    fig = _figure(figsize=(10, 7.5), layout="tight")
    axes = fig.subplots(2, 2)
    for ax, (key, label, values) in zip(axes.ravel(), series, strict=False):
        fit = result.fits[key]
        ys = fit.slope * xs + fit.intercept
        logs = np.log(np.maximum(values, 1e-6))  # as the fit's residuals: no log(0)
        ax.plot(lk, logs, "o", color="tab:blue")
        ax.plot(
            xs,
            ys,
            "-",
            color="tab:orange",
            label=f"slope {fit.slope:.3f}, bias {fit.intercept:.3f}, σ {fit.residual_sigma:.3f}, "
            f"r² {fit.r2:.3f}",
        )
        ax.fill_between(
            xs, ys - fit.residual_sigma, ys + fit.residual_sigma, color="tab:orange", alpha=0.2
        )
        for r, x, y in zip(result.isos, lk, logs, strict=True):
            ax.annotate(f"{r.iso:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("log K")
        ax.set_ylabel(f"log {label}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ax = axes[1, 1]
    ax.plot(lk, [r.tl_lambda for r in result.isos], "o-", color="tab:purple")
    ax.set_xlabel("log K")
    ax.set_ylabel("Tukey λ (PPCC maximum)")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: noise against system gain")
    return fig


def _ppcc(result: CalibrationResult, title: str):
    from matplotlib import colormaps

    fig = _figure(figsize=(7, 4.5), layout="tight")
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    n = len(result.isos)
    for i, r in enumerate(result.isos):
        colour = cmap(i / max(n - 1, 1))
        ax.plot(r.ppcc_lambdas, r.ppcc_values, "-", color=colour, label=f"ISO {r.iso:g}")
        ax.plot([r.tl_lambda], [r.ppcc_max], "o", color=colour)
    ax.set_xlabel("Tukey λ")
    ax.set_ylabel("probability-plot correlation")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}: Tukey-lambda PPCC (dots: maxima)")
    return fig
