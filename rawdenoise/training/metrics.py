"""PSNR and SSIM in the packed raw domain, LED's protocol (method.md §8).

For a prediction and a target, both packed (4, H, W) in [0, 1]:

1. the prediction is clamped to [0, 1];
2. illumination correction: it is multiplied by the least-squares gain
   ``g = <pred, gt> / <pred, pred>`` over the pixels where ``gt != 1`` (saturated pixels do not
   count), so a global brightness mismatch is not scored as noise;
3. ``crop_border`` (2) pixels are cut from every side;
4. PSNR ``= 10 log10(1 / MSE)`` in float64;
5. SSIM on the values x255 (``C1 = (0.01*255)^2``, ``C2 = (0.03*255)^2``), Gaussian window 11
   with sigma 1.5, "valid" filtering (no padding), averaged over the map and the channels:
   ``SSIM = mean((2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)))``
   with local means ``mu`` and (co)variances ``s`` from the window.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CROP_BORDER = 2


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    t = t.detach().to("cpu", torch.float64)
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"expected (C, H, W), got shape {tuple(t.shape)}")
    return t


def illumination_correct(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``pred`` times the least-squares gain onto ``gt`` over unsaturated target pixels."""
    mask = gt != 1.0
    p, g = pred[mask], gt[mask]
    den = float((p * p).sum())
    if den <= 0:
        return pred
    return pred * (float((p * g).sum()) / den)


def _prepare(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    crop_border: int,
    illumination: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    p, g = _as_tensor(pred).clamp(0, 1), _as_tensor(gt)
    if p.shape != g.shape:
        raise ValueError(f"shapes differ: {tuple(p.shape)} vs {tuple(g.shape)}")
    if illumination:
        p = illumination_correct(p, g)
    if crop_border:
        b = crop_border
        p, g = p[:, b:-b, b:-b], g[:, b:-b, b:-b]
    return p, g


def psnr(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    *,
    crop_border: int = CROP_BORDER,
    illumination: bool = True,
) -> float:
    p, g = _prepare(pred, gt, crop_border, illumination)
    mse = float(((p - g) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim_map_mean(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> float:
    """Mean SSIM of two (C, H, W) float64 images on the 0-255 scale (per channel, averaged)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = window[None, None]
    values = []
    for ch in range(x.shape[0]):  # one channel at a time keeps full-frame memory modest
        a, b = x[ch][None, None], y[ch][None, None]
        mu_a, mu_b = F.conv2d(a, k), F.conv2d(b, k)
        s_aa = F.conv2d(a * a, k) - mu_a**2
        s_bb = F.conv2d(b * b, k) - mu_b**2
        s_ab = F.conv2d(a * b, k) - mu_a * mu_b
        num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
        den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
        values.append(float((num / den).mean()))
    return float(np.mean(values))


def ssim(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    *,
    crop_border: int = CROP_BORDER,
    illumination: bool = True,
) -> float:
    p, g = _prepare(pred, gt, crop_border, illumination)
    window = gaussian_window()
    if min(p.shape[-2:]) < window.shape[0]:
        raise ValueError(f"image too small for SSIM: {tuple(p.shape[-2:])} (need 11x11)")
    return ssim_map_mean(p * 255.0, g * 255.0, window)


def raw_metrics(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    *,
    crop_border: int = CROP_BORDER,
    illumination: bool = True,
) -> tuple[float, float]:
    """(PSNR, SSIM) of ``pred`` against ``gt`` by LED's protocol."""
    p, g = _prepare(pred, gt, crop_border, illumination)
    mse = float(((p - g) ** 2).mean())
    value = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
    return value, ssim_map_mean(p * 255.0, g * 255.0, gaussian_window())
