"""The physical noise components (method.md §5.2), each in DN on packed (N, 4, H, W) tensors.

Every sampler takes an optional :class:`torch.Generator`; random numbers are drawn on the
generator's device (pass one on the batch's device for speed) and moved to the batch's device.
Per-image parameters are (N,) tensors broadcast over channels and pixels.
"""

from __future__ import annotations

import torch

#: Uniform draws for the Tukey-lambda inverse CDF stay inside (EPS, 1 - EPS) (LED: 1e-10).
EPS = 1e-10
#: |lambda| below this uses the lambda -> 0 limit (logistic) instead of dividing by lambda.
_LAMBDA_ZERO = 1e-6


def _device_of(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


def rand(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Uniform [0, 1) on ``device`` drawn from ``generator`` (whatever device it lives on)."""
    out = torch.rand(shape, generator=generator, device=_device_of(generator, device), dtype=dtype)
    return out.to(device)


def randn(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal on ``device`` drawn from ``generator``."""
    out = torch.randn(shape, generator=generator, device=_device_of(generator, device), dtype=dtype)
    return out.to(device)


def per_image(value: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1, 1) for broadcasting over (N, C, H, W)."""
    return value.reshape(-1, 1, 1, 1)


def shot_noise(
    signal_dn: torch.Tensor, k: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``poisson(x / K) * K - x``: photon shot noise of a signal in DN with gain K (DN/e-)."""
    k4 = per_image(k.to(signal_dn.dtype))
    electrons = (signal_dn / k4).clamp_min(0)
    gen_device = _device_of(generator, signal_dn.device)
    counts = torch.poisson(electrons.to(gen_device), generator=generator).to(signal_dn.device)
    return counts * k4 - signal_dn


def tukey_lambda_noise(
    shape: tuple[int, ...],
    sigma: torch.Tensor,
    lam: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device,
) -> torch.Tensor:
    """Tukey-lambda samples by the inverse CDF ``sigma * (U^l - (1-U)^l) / l``, per image.

    ``sigma`` is the distribution's scale (what ELD's calibration measures), not its standard
    deviation. At ``lam`` = 0 it is the logistic ``sigma * log(U / (1 - U))``. ``U`` < 1 always
    (``torch.rand`` excludes 1), so only the lower end needs the EPS clamp in float32.
    """
    u = rand(shape, generator=generator, device=device).clamp_(EPS, 1 - EPS)
    log_u = torch.log(u)
    log_v = torch.log1p(-u)
    lam4 = per_image(lam.to(device=device, dtype=torch.float32))
    # (U^l - (1-U)^l) / l written with expm1: exact as l -> 0, where it tends to the logistic.
    lam4 = torch.where(lam4.abs() < _LAMBDA_ZERO, torch.full_like(lam4, _LAMBDA_ZERO), lam4)
    y = (torch.expm1(lam4 * log_u) - torch.expm1(lam4 * log_v)) / lam4
    return y * per_image(sigma.to(device=device, dtype=torch.float32))


def gaussian_noise(
    shape: tuple[int, ...],
    sigma: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device,
) -> torch.Tensor:
    """``N(0, sigma)`` per image."""
    return randn(shape, generator=generator, device=device) * per_image(sigma.to(device))


def row_noise(
    shape: tuple[int, ...],
    sigma: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device,
) -> torch.Tensor:
    """One ``N(0, sigma)`` value per full-Bayer row, broadcast along the row.

    In packed order (R, G1, B, G2) channels 0 and 1 come from the same sensor rows and share
    the values of the even Bayer rows; channels 2 and 3 share those of the odd rows (LED).
    Returned shape (N, 4, H, 1) broadcasts against (N, 4, H, W).
    """
    n, c, h = shape[0], shape[1], shape[2]
    if c != 4:
        raise ValueError(f"row noise needs packed 4-channel input, got {c} channels")
    rows = randn((n, 2, h, 1), generator=generator, device=device) * per_image(sigma.to(device))
    return rows[:, (0, 0, 1, 1)]


def quantization_noise(
    shape: tuple[int, ...], *, generator: torch.Generator | None = None, device: torch.device
) -> torch.Tensor:
    """Uniform(-0.5, 0.5) DN: the rounding error of a 1-DN analog-to-digital converter."""
    return rand(shape, generator=generator, device=device) - 0.5
