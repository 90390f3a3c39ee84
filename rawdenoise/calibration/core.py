"""Calibrate a camera's noise model from its dark and flat frames -> :class:`CameraProfile`.

Per ISO (method.md §6, with the fixes listed in :mod:`rawdenoise.calibration.stats`):
K from the photon transfer of flat-frame pairs (temporal variance, clipped tiles dropped, dark
pairs as the zero-signal anchor), read noise, Tukey lambda, row noise and colour bias from the
dark frames. Across ISOs: log-linear fits of log sigma against log K with their residual
spread (ELD/LED's ``camera_params``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rawdenoise.calibration import stats
from rawdenoise.calibration.frames import (
    FrameInfo,
    FrameLoader,
    check_one_camera,
    find_raw_files,
    group_by_iso,
    read_infos,
)
from rawdenoise.calibration.per_iso import calibrate_iso, slugify
from rawdenoise.calibration.results import (
    BIAS_BINS,
    MIN_R2,
    CalibrationResult,
    IsoResult,
)
from rawdenoise.specs import CameraProfile, IsoPoint, LogLinear, NoiseParams


def _fit_warnings(
    name: str, fit: stats.LineFit, isos: Sequence[float], k: np.ndarray, sigma: np.ndarray
) -> list[str]:
    """Poor linearity (r^2), and ISOs far off the line fitted to the others (leave-one-out)."""
    out = []
    if fit.n >= 3 and fit.r2 < MIN_R2:
        out.append(f"{name}: log sigma is not linear in log K (r^2 {fit.r2:.2f}); check the plot")
    if fit.n >= 4:
        x, y = np.log(k), np.log(np.maximum(sigma, 1e-12))
        for i, iso in enumerate(isos):
            others = np.arange(x.size) != i
            slope, bias = np.polyfit(x[others], y[others], 1)
            rms = float(np.sqrt(np.mean((y[others] - slope * x[others] - bias) ** 2)))
            r = float(y[i] - (slope * x[i] + bias))
            if abs(r) > max(0.3, 4 * rms):
                out.append(
                    f"{name}: ISO {iso:g} is an outlier of the fit ({r:+.2f} in log sigma from "
                    "the line through the other ISOs); check its frames"
                )
    return out


def _bias_bins(results: Sequence[IsoResult], k_min: float, k_max: float) -> tuple:
    """LED's colour-bias list: BIAS_BINS bins linear in K, each the nearest ISO's bias."""
    ks = np.array([r.k for r in results])
    width = (k_max - k_min) / BIAS_BINS
    out = []
    for j in range(BIAS_BINS):
        centre = k_min + (j + 0.5) * width
        nearest = results[int(np.argmin(np.abs(ks - centre)))]
        out.append(tuple(float(v) for v in nearest.color_bias))
    return tuple(out)


def calibrate_camera(
    dark_dir: Path,
    flat_dir: Path,
    *,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> CalibrationResult:
    """Calibrate from two folders of RAW frames; raises :class:`InputError` on bad input."""
    say = progress or (lambda _msg: None)
    dark_infos = read_infos(find_raw_files(Path(dark_dir), "dark"), "dark")
    flat_infos = read_infos(find_raw_files(Path(flat_dir), "flat"), "flat")
    every: list[FrameInfo] = dark_infos + flat_infos
    check_one_camera(every)
    groups, notes = group_by_iso(dark_infos, flat_infos)
    warnings = list(notes)
    loader = FrameLoader()
    rng = np.random.default_rng(seed)
    results = []
    for g in groups:
        say(f"ISO {g.iso:g}: {len(g.darks)} dark, {len(g.flats)} flat frames")
        results.append(calibrate_iso(g, loader, warnings=warnings, rng=rng))

    isos = [r.iso for r in results]
    k = np.array([r.k for r in results])
    series = {
        "tukey": np.array([r.tl_sigma for r in results]),
        "gaussian": np.array([r.read_sigma for r in results]),
        "row": np.array([max(r.row_sigma, 1e-6) for r in results]),
    }
    fits = {key: stats.fit_log_linear(k, values) for key, values in series.items()}
    labels = {
        "tukey": "Tukey-lambda read noise",
        "gaussian": "Gaussian read noise",
        "row": "row noise",
    }
    for key, fit in fits.items():
        # the Gaussian sigma of Tukey-lambda noise moves with lambda: only its r^2 is judged
        found = _fit_warnings(labels[key], fit, isos, k, series[key])
        warnings.extend(w for w in found if key != "gaussian" or "outlier" not in w)
    if any(r.row_sigma <= 1e-6 for r in results):
        warnings.append("row noise was not measurable at some ISOs (set to ~0)")
    order = np.argsort(k)
    ratios = k / np.array(isos)
    if ratios.max() > 1.5 * ratios.min() and len(results) >= 2:
        warnings.append(
            "K is not proportional to ISO across the ISOs "
            f"({ratios.min():.3g} to {ratios.max():.3g} DN/e- per ISO unit); fine for dual-gain "
            "sensors, otherwise check the flats"
        )
    first = every[0]
    k_min, k_max = float(k.min()), float(k.max())
    noise = NoiseParams(
        k_min=k_min,
        k_max=k_max,
        tukey=_loglinear(fits["tukey"]),
        gaussian=_loglinear(fits["gaussian"]),
        row=_loglinear(fits["row"]),
        tukey_lambdas=tuple(float(results[i].tl_lambda) for i in order),
        color_bias=_bias_bins(results, k_min, k_max),
    )
    from rawdenoise import __version__

    profile = CameraProfile(
        id=name or slugify(first.camera),
        make=first.make or "unknown",
        model=first.model or "unknown",
        cfa=loader.cfa,
        noise=noise,
        iso_points=tuple(
            IsoPoint(
                iso=r.iso,
                k=r.k,
                read_sigma=r.read_sigma,
                tl_sigma=r.tl_sigma,
                tl_lambda=r.tl_lambda,
                row_sigma=r.row_sigma,
                color_bias=tuple(float(v) for v in r.color_bias),
            )
            for r in results
        ),
        source=(
            f"rawdenoise {__version__} calibrate: {len(dark_infos)} dark and {len(flat_infos)} "
            f"flat frames at ISO {', '.join(f'{i:g}' for i in isos)}"
        ),
    )
    assert loader.shape is not None and loader.cfa is not None
    return CalibrationResult(profile, results, fits, warnings, loader.cfa, loader.shape)


def _loglinear(fit: stats.LineFit) -> LogLinear:
    return LogLinear(slope=fit.slope, bias=fit.intercept, sigma=fit.residual_sigma)
