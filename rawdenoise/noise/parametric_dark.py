"""The parametric dark-noise model per ISO, as the learned model's baseline.

Per calibrated ISO, :func:`rawdenoise.calibration.stats.dark_frame_stats` measures what the
project's physics model has: the colour bias, the Tukey-lambda read noise (scale and lambda)
and the row noise. Between ISOs the scales are interpolated log-linearly in log ISO (the
log-linear fits of a profile are in log K, and K is proportional to ISO), lambda and the bias
linearly. Samples are the ``trqc`` components (no shot noise in the dark), rounded as the ADC
does, so that they compare with real frames in :mod:`rawdenoise.noise.noise_stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DarkParams:
    """One ISO's parametric dark noise (DN)."""

    iso: float
    color_bias: tuple[float, float, float, float]
    tl_sigma: float
    tl_lambda: float
    row_sigma: float

    def to_json(self) -> dict:
        return {
            "iso": self.iso,
            "color_bias": list(self.color_bias),
            "tl_sigma": self.tl_sigma,
            "tl_lambda": self.tl_lambda,
            "row_sigma": self.row_sigma,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> DarkParams:
        return cls(
            iso=float(data["iso"]),
            color_bias=tuple(float(v) for v in data["color_bias"]),  # type: ignore[arg-type]
            tl_sigma=float(data["tl_sigma"]),
            tl_lambda=float(data["tl_lambda"]),
            row_sigma=float(data["row_sigma"]),
        )


def fit_dark_params(iso: float, frames: Sequence[np.ndarray]) -> DarkParams:
    """Measure one ISO from packed (4, H, W) dark frames in DN above black."""
    from rawdenoise.calibration.stats import dark_frame_stats

    stats = dark_frame_stats(list(frames))
    return DarkParams(
        iso=float(iso),
        color_bias=tuple(float(v) for v in stats.color_bias),  # type: ignore[arg-type]
        tl_sigma=float(stats.tl_sigma),
        tl_lambda=float(stats.tl_lambda),
        row_sigma=float(stats.row_sigma),
    )


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear, extended linearly past the ends (by the end segments' slopes)."""
    if len(xs) == 1:
        return float(ys[0])
    i = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return float(ys[i] + t * (ys[i + 1] - ys[i]))


def interpolate(params: Sequence[DarkParams], iso: float) -> DarkParams:
    """The parameters at ``iso``: an exact match, else interpolated in log ISO."""
    ordered = sorted(params, key=lambda p: p.iso)
    for p in ordered:
        if math.isclose(p.iso, iso):
            return p
    xs = [math.log(p.iso) for p in ordered]
    x = math.log(iso)

    def log_scale(values: Sequence[float]) -> float:
        return math.exp(_interp(x, xs, [math.log(max(v, 1e-6)) for v in values]))

    return DarkParams(
        iso=float(iso),
        color_bias=tuple(  # type: ignore[arg-type]
            _interp(x, xs, [p.color_bias[c] for p in ordered]) for c in range(4)
        ),
        tl_sigma=log_scale([p.tl_sigma for p in ordered]),
        tl_lambda=_interp(x, xs, [p.tl_lambda for p in ordered]),
        row_sigma=log_scale([p.row_sigma for p in ordered]),
    )


def sample_parametric(
    params: DarkParams, count: int, height: int, width: int, *, seed: int = 0
) -> np.ndarray:
    """``count`` dark frames (count, 4, H, W) in DN above black, rounded like the ADC's."""
    import torch

    from rawdenoise.noise import NoiseSample, synthesize_dn

    gen = torch.Generator().manual_seed(seed)
    sample = NoiseSample(
        k=torch.ones(count),
        read_sigma=torch.full((count,), params.tl_sigma),
        tl_lambda=torch.full((count,), params.tl_lambda),
        row_sigma=torch.full((count,), params.row_sigma),
        color_bias=torch.tensor([params.color_bias] * count, dtype=torch.float32),
    )
    signal = torch.zeros(count, 4, height, width)
    noise = synthesize_dn(signal, sample, "trc", generator=gen)
    return np.rint(noise.double().numpy())
