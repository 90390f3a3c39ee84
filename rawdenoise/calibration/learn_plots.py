"""One PNG per ISO for ``calibrate --learn-noise``: real vs learned vs parametric dark noise.

Left: the pixel-value histograms (log scale, so that heavy tails and hot pixels show); middle:
the radially averaged power spectra; right: the spectra of the row means and of the column
means (banding and column pattern). Held-out real frames against both models' samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rawdenoise.calibration.learn import IsoJudgement

SERIES = (("real", "black"), ("learned", "tab:orange"), ("parametric", "tab:blue"))


def learn_plot_paths(profile_path: Path, isos) -> dict[float, Path]:
    stem = profile_path.with_suffix("")
    return {
        float(iso): stem.parent / f"{stem.name}_learned_noise_iso{float(iso):g}.png" for iso in isos
    }


def _line_power(frames: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    means = frames.mean(axis=axis)  # (N, 4, L)
    means = means - means.mean(axis=-1, keepdims=True)
    power = (np.abs(np.fft.rfft(means, axis=-1)) ** 2 / means.shape[-1]).mean(axis=(0, 1))
    return np.fft.rfftfreq(means.shape[-1])[1:], power[1:]


def learn_figure(j: IsoJudgement, title: str):
    from matplotlib.figure import Figure

    from rawdenoise.noise.noise_stats import radial_spectrum

    fig = Figure(figsize=(15, 4), layout="tight")
    ax_hist, ax_spec, ax_lines = fig.subplots(1, 3)
    frames = {"real": j.real, "learned": j.learned, "parametric": j.parametric}
    stats = {"learned": j.learned_stats, "parametric": j.parametric_stats}
    lo, hi = np.quantile(j.real, [0.0001, 0.9999])
    edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5)
    if edges.size > 300:
        edges = np.linspace(edges[0], edges[-1], 301)
    for name, colour in SERIES:
        x = frames[name]
        label = name if name == "real" else f"{name} (KL {stats[name].kl:.3f})"
        ax_hist.hist(x.ravel(), edges, histtype="step", density=True, color=colour, label=label)
        f, p = radial_spectrum(x)
        label = name if name == "real" else f"{name} (dist {stats[name].spectrum:.3f})"
        ax_spec.plot(f, p, color=colour, label=label)
        for axis, style in ((3, "-"), (2, ":")):
            lf, lp = _line_power(x, axis)
            ax_lines.loglog(
                lf,
                lp + 1e-12,
                style,
                color=colour,
                label=f"{name}, rows" if axis == 3 else f"{name}, columns",
            )
    ax_hist.set_yscale("log")
    ax_hist.set(xlabel="DN above black", ylabel="density", title="pixel values")
    ax_spec.set(xlabel="cycles / packed pixel", ylabel="log10 power", title="2-D power spectrum")
    ax_lines.set(
        xlabel="cycles / packed pixel",
        ylabel="power",
        title=(
            f"row means (std real {j.learned_stats.real_row_std:.2f}, learned "
            f"{j.learned_stats.row_std:.2f}, param. {j.parametric_stats.row_std:.2f})\n"
            f"column means (real {j.learned_stats.real_col_std:.2f}, learned "
            f"{j.learned_stats.col_std:.2f}, param. {j.parametric_stats.col_std:.2f})"
        ),
    )
    for ax in (ax_hist, ax_spec, ax_lines):
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: dark noise at ISO {j.iso:g}, held-out frames")
    return fig


def write_learn_plots(judgements: list[IsoJudgement], paths: dict[float, Path], title: str) -> None:
    """Write each ISO's figure to its path (temporary names from the caller's atomic group)."""
    for j in judgements:
        learn_figure(j, title).savefig(paths[j.iso], dpi=100, format="png")
