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
