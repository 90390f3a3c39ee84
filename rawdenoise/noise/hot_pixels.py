"""Hot pixels of a camera's dark frames: found, counted per ISO, and sampled sparsely.

A generator fed Gaussian input rarely makes values 30 standard deviations out, and a few
hundred such pixels per megapixel are what a real dark frame's histogram tail is (and what a
denoiser has to learn to remove). So the learned dark noise keeps them apart: :func:`fit`
finds, per ISO, the pixels far above their neighbourhood, records how many there are and the
distribution of their excess (quantiles), and returns the frames with them replaced by their
neighbourhood's median for the generator to learn the rest; :meth:`HotPixels.sample`
scatters that many at random places with excesses drawn from those quantiles. An ISO between
calibrated ones interpolates in log ISO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: A pixel is hot when it is this many robust standard deviations (1.4826 x MAD) above its
#: channel's median in its frame: Gaussian read noise alone reaches it once in 10^9 pixels.
THRESHOLD = 6.0
#: Points of the excess distribution kept (its quantiles at 0, 1/(Q-1), ..., 1).
QUANTILES = 33


@dataclass(frozen=True)
class HotPixels:
    """Per calibrated ISO: the fraction of hot pixels and the quantiles of their excess (DN
    above their neighbourhood's median)."""

    isos: tuple[float, ...]
    fractions: tuple[float, ...]
    quantiles: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if not self.isos or not len(self.isos) == len(self.fractions) == len(self.quantiles):
            raise ValueError("HotPixels needs one fraction and one quantile list per ISO")

    def at(self, iso: float) -> tuple[float, np.ndarray]:
        """(fraction, excess quantiles) at ``iso``: linear in log ISO between the calibrated
        ones, the nearest outside them."""
        logs = np.log(np.asarray(self.isos, dtype=np.float64))
        order = np.argsort(logs)
        logs = logs[order]
        fractions = np.asarray(self.fractions, dtype=np.float64)[order]
        quantiles = np.asarray(self.quantiles, dtype=np.float64)[order]
        t = math.log(iso)
        fraction = float(np.interp(t, logs, fractions))
        table = np.array([np.interp(t, logs, quantiles[:, q]) for q in range(quantiles.shape[1])])
        return fraction, table

    def level(self, iso: float) -> float:
        """The mean DN that :meth:`sample` adds per pixel at ``iso`` (fraction x mean excess:
        the excess is drawn by interpolating its quantile table, whose mean is the table's
        trapezoid average)."""
        fraction, table = self.at(iso)
        return fraction * float(((table[1:] + table[:-1]) / 2).mean())

    def sample(
        self,
        isos: Sequence[float],
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """(N, 4, H, W) float DN to add to dark noise: zero but at scattered hot pixels."""
        out = torch.zeros(len(isos), 4, height, width)
        for k, iso in enumerate(isos):
            fraction, table = self.at(float(iso))
            if fraction <= 0:
                continue
            mask = torch.rand(4, height, width, generator=generator) < fraction
            count = int(mask.sum())
            if count:
                u = torch.rand(count, generator=generator, dtype=torch.float64).numpy()
                grid = np.linspace(0.0, 1.0, len(table))
                out[k][mask] = torch.from_numpy(np.interp(u, grid, table)).float()
        return out.to(device)

    def to_dict(self) -> dict:
        return {
            "isos": list(self.isos),
            "fractions": list(self.fractions),
            "quantiles": [list(q) for q in self.quantiles],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> HotPixels:
        return cls(
            isos=tuple(float(v) for v in data["isos"]),
            fractions=tuple(float(v) for v in data["fractions"]),
            quantiles=tuple(tuple(float(v) for v in q) for q in data["quantiles"]),
        )


def hot_mask(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, local medians) of (N, 4, H, W) DN frames: which pixels are hot, that is
    :data:`THRESHOLD` robust standard deviations (of the frame's channel, around the local
    median) above the median of their 5x5 neighbourhood. The local median keeps smooth or
    line-shaped structure (amplifier glow, banding) out: only isolated pixels stand out."""
    from scipy.ndimage import median_filter

    x = np.asarray(frames, dtype=np.float64)
    local = median_filter(x, size=(1, 1, 5, 5), mode="reflect")
    residual = x - local
    mad = np.median(np.abs(residual), axis=(2, 3), keepdims=True)
    sigma = np.maximum(1.4826 * mad, 1e-6)
    return residual > THRESHOLD * sigma, local


def fit(frames: Mapping[float, np.ndarray]) -> tuple[HotPixels, dict[float, np.ndarray]]:
    """Hot pixels of dark frames ({ISO: (N, 4, H, W) DN above black}) and the frames with
    them replaced by their neighbourhood's median (what the generator learns from)."""
    isos, fractions, quantiles, cleaned = [], [], [], {}
    grid = np.linspace(0.0, 1.0, QUANTILES)
    for iso in sorted(frames):
        x = np.asarray(frames[iso], dtype=np.float64)
        mask, med = hot_mask(x)
        excess = (x - med)[mask]
        isos.append(float(iso))
        fractions.append(float(mask.mean()))
        quantiles.append(
            tuple(float(v) for v in np.quantile(excess, grid))
            if excess.size
            else (0.0,) * QUANTILES
        )
        clean = np.where(mask, np.broadcast_to(med, x.shape), x)
        cleaned[iso] = clean.astype(np.asarray(frames[iso]).dtype, copy=False)
    return HotPixels(tuple(isos), tuple(fractions), tuple(quantiles)), cleaned
