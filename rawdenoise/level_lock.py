"""Keep the network's output at the input's local level: a low-frequency correction.

A denoiser should change a frame's noise, not its level: averaged over a neighbourhood, the
noisy input is an unbiased estimate of the clean scene (shot, read and quantization noise have
zero mean, and the input is not clipped at black), so a difference between the output's local
mean and the input's is a level the network moved. Networks do: trained with L1 they estimate
a median, which sits below the mean at a few electrons (dark areas come out darker), and one
trained on too little content learns its colour and level statistics (the bundled default
turns a blue stage light slate: up to 63% off per Bayer plane on held-out crops).

:func:`lock_level` averages ``input - output`` per channel over windows of (2 ``radius`` + 1)
blocks of ``block`` packed px a side (48 px by default), one window around each block, and adds
that field back, interpolated bilinearly between block centres: a smooth correction, nothing at
the pixel scale (detail, noise removal and sharpness stay the network's). Pixels the output
puts near white are left out of the averages: the input clips at white, and a clipped noisy
input's mean is biased low there.

What it costs: the window mean of the input carries the input's noise divided by the window's
side (48). Measured on held-out crops with A7S2 noise (`tests/benchmarks/fidelity.py`,
`quality.py`; the model cards): `faithful`, whose network keeps the level already, moves by
0.07 dB at most; the default gains 1.1-3.7 dB on content unlike its training frames. A network
trained to remove a constant offset (a black-level error, LED's "colour bias") gets that
offset back: the default loses 0.4-4.4 dB where the benchmark adds the A7S2's; ``process
--no-level-lock`` keeps the network's output as it is. 0.08-0.14 s per 24 MP frame on 2 cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: Block side (packed px) and window radius (blocks) of the correction: windows of 48 px.
BLOCK = 16
RADIUS = 1
#: Output values at or above this are left out of the averages (the input clips at 1.0, and
#: below this level a noisy input rarely reaches it).
NEAR_WHITE = 0.8
#: A window with fewer usable pixels than this gets no correction (a clipped highlight).
MIN_PIXELS = 16


def _block_sums(plane: torch.Tensor, block: int) -> torch.Tensor:
    """(1, h, w) sums of ``plane`` (H, W) over blocks of ``block`` px, the last ones partial."""
    import torch.nn.functional as F

    return F.avg_pool2d(plane[None, None], block, ceil_mode=True, divisor_override=1)[0]


def _block_areas(h: int, w: int, block: int) -> torch.Tensor:
    """(1, h, w) pixel counts of the blocks :func:`_block_sums` sums over."""
    import torch

    rows = torch.full((-(-h // block),), float(block))
    cols = torch.full((-(-w // block),), float(block))
    rows[-1], cols[-1] = h - block * (len(rows) - 1), w - block * (len(cols) - 1)
    return torch.outer(rows, cols)[None]


def lock_level(
    noisy: np.ndarray,
    output: np.ndarray,
    *,
    low: float = 0.0,
    block: int = BLOCK,
    radius: int = RADIUS,
) -> np.ndarray:
    """``output`` (C, H, W) moved in place to ``noisy``'s local level, then clipped to [``low``,
    1]. Both arrays are float32 on the network's scale (normalized, times the ratio)."""
    import torch
    import torch.nn.functional as F

    if noisy.shape != output.shape or noisy.ndim != 3:
        raise ValueError(f"expected two (C, H, W) arrays, got {noisy.shape} and {output.shape}")
    h, w = output.shape[1:]
    window = 2 * radius + 1
    for c in range(output.shape[0]):  # one plane at a time: a few plane-sized temporaries
        x = torch.from_numpy(noisy[c])
        y = torch.from_numpy(output[c])  # shares memory: corrected in place
        diff = x - y
        if float(y.max()) >= NEAR_WHITE:  # else (most dark frames) every pixel counts
            usable = y < NEAR_WHITE
            diff = torch.where(usable, diff, 0.0)
            counts = _block_sums(usable.float(), block)
        else:
            counts = _block_areas(h, w, block)
        # sums per block (the last row and column of blocks may be partial), then per window
        # of blocks, blocks outside the frame counting zero
        blocks = torch.cat([_block_sums(diff, block), counts])
        sums = F.avg_pool2d(blocks[None].double(), window, stride=1, padding=radius,
                            divisor_override=1)[0]  # fmt: skip
        total, count = sums[0], sums[1]
        field = torch.where(count >= MIN_PIXELS, total / count.clamp_min(1.0), 0.0)
        smooth = F.interpolate(
            field[None, None].float(), scale_factor=block, mode="bilinear", align_corners=False
        )
        y.add_(smooth[0, 0, :h, :w]).clamp_(low, 1.0)
    return output
