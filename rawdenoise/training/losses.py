"""Training losses for ``pretrain``.

``l1`` is LED's loss. ``l2`` is the mean squared error: the loss PSNR measures, whose
minimizer is the mean of what the noise leaves possible (L1's is the median, below the mean
at a few electrons); with heavy-tailed noise it weighs the rare large errors more than L1.

Averaged over a batch, L1 is dominated by the noisiest crops (their errors are the largest;
L2 the more so), so a network trained briefly learns one strong smoothing and blurs
the detail of low-noise, bright crops. ``log-l1`` averages the log of each crop's L1 instead:
each crop's error counts relatively, in decibels, the way the benchmark's mean PSNR counts it.

``log-l1-level`` adds, inside each crop's log, the L1 of the crop's 8x8-pixel block means. A
per-pixel L1 loss trains the network towards the median of what the noise leaves possible, and
at a few electrons that median sits below the mean: dark areas come out darker than they are
(measured: 8% at ratio 100 on held-out crops). The noise of a block mean of 64 pixels is close
to symmetric, so its L1 pulls towards the mean level, while the per-pixel term keeps the
detail. Both terms weigh each pixel alike.

``log-l1-level-grid`` adds, also inside the log, the crop's periodic error: the error folded
onto 2x2 and 4x4 cells (the mean error at each position modulo 2 and 4 packed px) and its
deviation from the cell's mean. That is the signature of the dot grid that an up-sampling
network leaves on flat areas and the fidelity benchmark measures; per-pixel L1 hardly sees it
(a 1% grid is a small part of a crop's error). Measured, 1,500 iterations from the same
checkpoint each: the added grid on the real ARW went from 0.80% to 0.54% of the local level.

``log-l1-level-grid-shift`` adds, also inside the log, the part of each plane's error that a
sub-pixel displacement of that plane explains: the error projected onto the clean plane's two
gradients (least squares, as the fidelity benchmark measures a plane's shift), as an RMS. In a
dark crop a network builds a plane too noisy to trust partly from the other planes' structure,
which puts its edges where the green's are: colour fringes, which per-pixel L1 tolerates
because the displacement is a small part of a noisy crop's error.

``l1-level-grid`` averages the terms of ``log-l1-level-grid`` without the log. The log divides
each crop's gradient by the crop's own error, so a crop at x250 from a high ISO gets about a
twentieth of a low-noise crop's, and a residual network learns to leave much of such noise in
(``faithful``'s model card: its worst quality-benchmark crop). Linear, the noisiest crops
weigh the most, as in ``l1``, with the level and grid terms kept.

``soft-log-l1-level-grid`` takes the log of each crop's error plus :data:`SOFT_FLOOR`: a crop
whose error is far below the floor (a low-noise crop, where a dot grid shows) counts nearly
linearly with a large weight, one far above it (x250 from a high ISO) in dB, so the weights
of the two kinds differ a few times instead of twenty (log) or not at all (linear).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The per-crop losses: the terms each adds to a crop's per-pixel L1, and how the crops are
#: averaged: ``"log"`` (each counts relatively, in dB), ``"linear"`` (the noisiest weigh most)
#: or ``"soft-log"`` (the log of the error plus :data:`SOFT_FLOOR`: between the two).
_PER_CROP: dict[str, tuple[tuple[str, ...], str]] = {
    "log-l1": ((), "log"),
    "log-l1-level": (("level",), "log"),
    "log-l1-level-grid": (("level", "grid"), "log"),
    "log-l1-level-grid-shift": (("level", "grid", "shift"), "log"),
    "l1-level-grid": (("level", "grid"), "linear"),
    "soft-log-l1-level-grid": (("level", "grid"), "soft-log"),
}
LOSSES = ("l1", "l2", *_PER_CROP)

#: side of the blocks whose means ``log-l1-level`` compares (packed pixels)
LEVEL_BLOCK = 8
#: weight of the block-mean term against the per-pixel one (1: both weigh each pixel alike)
LEVEL_WEIGHT = 1.0

#: the periods (packed px) whose folded error ``log-l1-level-grid`` counts, and its weight
GRID_PERIODS = (2, 4)
GRID_WEIGHT = 8.0

#: weight of the displacement term of ``log-l1-level-grid-shift``
SHIFT_WEIGHT = 8.0

#: what ``soft-log-l1-level-grid`` adds to each crop's error inside the log (of white, on the
#: network's scale): a crop whose error is well below it counts about linearly, one well above
#: it in dB. A ratio-1 crop's error is ~0.003, a crop at x250 from a high ISO ~0.03-0.1.
SOFT_FLOOR = 0.01

#: keeps log() finite for a crop that is already reproduced exactly
_EPS = 1e-6


def check_output_shape(output: object, target: torch.Tensor) -> None:
    """A network that does not return a tensor of its target's shape is refused: broadcasting
    in the loss would train it on something else, or fail deep inside torch."""
    from rawdenoise.errors import NetworkOutputError

    if not isinstance(output, torch.Tensor):
        raise NetworkOutputError(f"the network returned a {type(output).__name__}, not a tensor")
    if output.shape != target.shape:
        raise NetworkOutputError(
            f"the network returned shape {tuple(output.shape)} for an input of shape "
            f"{tuple(target.shape)}; it must return its input's shape"
        )


def training_loss(name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The scalar loss ``name`` of a batch (N, C, H, W)."""
    check_output_shape(output, target)
    if name == "l1":
        return F.l1_loss(output, target)
    if name == "l2":
        return F.mse_loss(output, target)
    if name in _PER_CROP:
        terms, averaging = _PER_CROP[name]
        per_crop = (output - target).abs().flatten(1).mean(dim=1)
        if "level" in terms:
            per_crop = per_crop + LEVEL_WEIGHT * _block_mean_l1(output, target)
        if "grid" in terms:
            per_crop = per_crop + GRID_WEIGHT * periodic_error(output, target)
        if "shift" in terms:
            per_crop = per_crop + SHIFT_WEIGHT * displacement_error(output, target)
        if averaging == "linear":
            return per_crop.mean()
        return torch.log(per_crop + (SOFT_FLOOR if averaging == "soft-log" else _EPS)).mean()
    raise ValueError(f"unknown loss {name!r} (choose from {', '.join(LOSSES)})")


def _block_mean_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per crop: the mean L1 between the two tensors' ``LEVEL_BLOCK`` block means (a crop
    smaller than a block is compared as one block)."""
    side = min(LEVEL_BLOCK, output.shape[-2], output.shape[-1])
    diff = F.avg_pool2d(output - target, side)
    return diff.abs().flatten(1).mean(dim=1)


def periodic_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per crop: for each period p of :data:`GRID_PERIODS`, the error averaged over every
    p x p cell of the crop (one value per position in the cell), less its mean over the cell,
    in absolute value, averaged; summed over the periods. Zero for an error without a
    regular pattern of those periods, however large."""
    err = (output - target).float()
    n, c, h, w = err.shape
    total = err.new_zeros(n)
    for p in GRID_PERIODS:
        hh, ww = h // p * p, w // p * p
        if hh == 0 or ww == 0:
            continue
        cell = err[..., :hh, :ww].reshape(n, c, hh // p, p, ww // p, p).mean(dim=(2, 4))
        total = total + (cell - cell.mean(dim=(-2, -1), keepdim=True)).abs().flatten(1).mean(1)
    return total


def displacement_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per crop: the RMS of the error that displacing each plane explains, averaged over planes.

    A plane moved by a small (dy, dx) differs from the clean one by about ``-(dy, dx) . grad``;
    the least-squares fit of the error on the clean plane's two gradients (central differences,
    the border pixel left out, with an intercept so that a level error does not count) is the
    displacement's part of it. Near zero for an error with no component along the gradients
    (noise, blur of symmetric detail), however large.
    """
    err = (output - target).float()[..., 1:-1, 1:-1]
    ref = target.float()
    gy = ((ref[..., 2:, 1:-1] - ref[..., :-2, 1:-1]) / 2).flatten(2)
    gx = ((ref[..., 1:-1, 2:] - ref[..., 1:-1, :-2]) / 2).flatten(2)
    e = err.flatten(2)
    if e.shape[-1] == 0:
        return err.new_zeros(err.shape[0])
    # with an intercept: a level error (the level term's) is not a displacement
    e, gy, gx = (t - t.mean(-1, keepdim=True) for t in (e, gy, gx))
    # normal equations per crop and plane: [[yy, yx], [yx, xx]] d = [ye, xe]
    yy, xx, yx = (gy * gy).sum(-1), (gx * gx).sum(-1), (gy * gx).sum(-1)
    ye, xe = (gy * e).sum(-1), (gx * e).sum(-1)
    eps = 1e-6 * (yy + xx) + 1e-12  # a flat plane: no displacement to explain
    yy, xx = yy + eps, xx + eps
    det = yy * xx - yx * yx
    # (A^T e)' (A^T A)^-1 (A^T e): the squared norm of e's projection onto the gradients
    explained = (xx * ye * ye - 2 * yx * ye * xe + yy * xe * xe) / det
    return (explained.clamp_min(0) / e.shape[-1] + 1e-12).sqrt().mean(dim=1)
