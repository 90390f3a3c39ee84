"""Classical baseline for the quality benchmark: BM3D with a variance-stabilizing transform.

Generalized Anscombe transform for Poisson-Gaussian raw noise (gain ``k`` in DN per electron,
signal-independent standard deviation ``sigma`` in DN), BM3D with unit noise in the stabilized
domain, then the closed-form approximation of the exact unbiased inverse (Mäkitalo & Foi,
IEEE TIP 2011/2013). Applied to each packed Bayer channel separately.

Needs the optional ``bm3d`` package (`pip install bm3d`; its licence allows non-commercial
use only, so it is a benchmark-only dependency, never imported by rawdenoise itself).
"""

from __future__ import annotations

import numpy as np


def gat_forward(z: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """DN (above black) -> stabilized domain with unit noise variance."""
    zt = z / k
    st = sigma / k
    return 2.0 * np.sqrt(np.maximum(zt + 3.0 / 8.0 + st * st, 0.0))


def gat_inverse(d: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of :func:`gat_forward`."""
    d = np.maximum(d, 0.8)  # the approximation is only valid away from zero
    s32 = np.sqrt(1.5)
    exact = 0.25 * d**2 + 0.25 * s32 / d - 11.0 / 8.0 / d**2 + 5.0 / 8.0 * s32 / d**3 - 1.0 / 8.0
    st = sigma / k
    return (exact - st * st) * k


def bm3d_vst_denoise(noisy_dn: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """Denoise a packed (4, H, W) image in DN above black; returns DN above black."""
    import bm3d

    out = np.empty_like(noisy_dn, dtype=np.float64)
    for c in range(noisy_dn.shape[0]):
        stabilized = gat_forward(noisy_dn[c].astype(np.float64), k, sigma)
        denoised = bm3d.bm3d(stabilized, sigma_psd=1.0)
        out[c] = gat_inverse(np.asarray(denoised, dtype=np.float64), k, sigma)
    return out


def estimate_poisson_gaussian(noisy_dn: np.ndarray, tile: int = 8) -> tuple[float, float]:
    """Blind ``(k, sigma)`` of a packed (4, H, W) noisy image in DN: no calibration needed.

    A single-image estimate in the spirit of Foi et al. (IEEE TIP 2008): diagonal pixel
    differences (which keep shot, read and row noise and cancel smooth signal) give a noise
    variance per ``tile`` x ``tile`` block, paired with the block's mean level; the blocks
    are grouped in equal-count bins of level, each bin's median variance (flat blocks dominate
    it, edges do not; the sample variance, not a MAD, because read noise is heavy-tailed) is
    one point, and ``var = k * level + sigma^2`` is
    fitted through them with both terms kept positive.
    """
    from scipy.optimize import nnls

    levels, variances = [], []
    for z in np.asarray(noisy_dn, dtype=np.float64):
        d = (z[1:, 1:] - z[:-1, :-1]) / np.sqrt(2.0)
        m = 0.25 * (z[1:, 1:] + z[:-1, :-1] + z[1:, :-1] + z[:-1, 1:])
        h, w = (d.shape[0] // tile) * tile, (d.shape[1] // tile) * tile
        dt = d[:h, :w].reshape(h // tile, tile, w // tile, tile).transpose(0, 2, 1, 3)
        mt = m[:h, :w].reshape(h // tile, tile, w // tile, tile).transpose(0, 2, 1, 3)
        variances.append(dt.reshape(-1, tile * tile).var(axis=1, ddof=1))
        levels.append(mt.reshape(-1, tile * tile).mean(axis=1))
    level = np.concatenate(levels)
    var = np.concatenate(variances)
    order = np.argsort(level)
    groups = [g for g in np.array_split(order, 24) if g.size]
    x = np.array([np.median(level[g]) for g in groups])
    y = np.array([np.median(var[g]) for g in groups])
    x_pos = np.maximum(x, 0.0)  # shot noise needs a positive level; a dark bin is read noise
    solution, _ = nnls(np.stack([x_pos, np.ones_like(x_pos)], axis=1), y)
    k, s2 = float(solution[0]), float(solution[1])
    return max(k, 1e-3), float(np.sqrt(max(s2, 1e-6)))
