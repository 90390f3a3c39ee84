"""Pad a tensor to a multiple of a size (reflect where possible) and crop it back."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pad_axis(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Reflect-pad one spatial axis by ``before``/``after``, in steps when the axis is short.

    ``F.pad(mode="reflect")`` needs each pad to be smaller than the axis, so short axes are
    padded repeatedly (each step reflects the already padded tensor); an axis of length 1 has
    nothing to reflect and is replicated.
    """
    while before > 0 or after > 0:
        size = x.shape[dim]
        if size == 1:
            pad = (0, 0, before, after) if dim == -2 else (before, after, 0, 0)
            return F.pad(x, pad, mode="replicate")
        b, a = min(before, size - 1), min(after, size - 1)
        pad = (0, 0, b, a) if dim == -2 else (b, a, 0, 0)
        x = F.pad(x, pad, mode="reflect")
        before, after = before - b, after - a
    return x


def pad_to_multiple(
    x: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Reflect-pad (N, C, H, W) so that H and W are multiples of ``multiple``.

    The split follows LED's ``_check_and_padding``: ``dh = (-h) mod m``, top ``dh // 2``, bottom
    the rest (same for the width), so results match LED's UNet for inputs it accepts. Returns the
    padded tensor and ``(top, bottom, left, right)`` for :func:`crop_padding`.
    """
    h, w = x.shape[-2:]
    dh, dw = (-h) % multiple, (-w) % multiple
    top, left = dh // 2, dw // 2
    bottom, right = dh - top, dw - left
    if dh:
        x = _pad_axis(x, top, bottom, -2)
    if dw:
        x = _pad_axis(x, left, right, -1)
    return x, (top, bottom, left, right)


def crop_padding(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    top, bottom, left, right = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
