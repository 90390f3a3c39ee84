"""NAFNet ("Simple Baselines for Image Restoration", Chen et al., ECCV 2022) for packed RAW.

Written from the paper's ideas, not copied: a U-shaped stack of blocks without nonlinear
activations, where

* a *simple gate* splits the channels in two halves and multiplies them,
* *simplified channel attention* scales channels by a 1x1 conv of their global average,
* a channel-wise *layer norm* precedes both halves of each block, and
* learnable per-channel scales (initialised to zero) weight each residual branch, so a fresh
  block is the identity.

Input and output are packed Bayer tensors (N, 4, H, W). The network pads H and W to a multiple
of 2**len(enc_blocks) (16 by default) with zeros, adds the input back (global residual) and
crops, so any size works. Resampling modules are named ``downconv`` and ``upconv`` and the last
conv ``ending`` so that RepNR can leave them plain, as LED does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of an (N, C, H, W) tensor, with affine parameters."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them (replaces GELU and friends)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class SimplifiedChannelAttention(nn.Module):
    """``x * conv1x1(global_average(x))``: channel attention without sigmoid or bottleneck."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.proj(self.pool(x))


class NAFBlock(nn.Module):
    """Spatial mixing half (1x1, depthwise 3x3, gate, attention, 1x1) then a gated FFN half."""

    def __init__(self, channels: int, dw_expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = channels * dw_expand
        ffn = channels * ffn_expand
        self.norm1 = ChannelLayerNorm(channels)
        self.pwconv1 = nn.Conv2d(channels, dw, 1)
        self.dwconv = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.sca = SimplifiedChannelAttention(dw // 2)
        self.pwconv2 = nn.Conv2d(dw // 2, channels, 1)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn1 = nn.Conv2d(channels, ffn, 1)
        self.ffn2 = nn.Conv2d(ffn // 2, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv1(self.norm1(x))
        y = self.sca(self.gate(self.dwconv(y)))
        x = x + self.pwconv2(y) * self.beta
        y = self.ffn2(self.gate(self.ffn1(self.norm2(x))))
        return x + y * self.gamma


class Down(nn.Module):
    """Halve the resolution, double the channels (2x2 conv, stride 2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.downconv = nn.Conv2d(channels, channels * 2, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downconv(x)


class Up(nn.Module):
    """Double the resolution, halve the channels (1x1 conv to 2C, then pixel shuffle)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.upconv = nn.Conv2d(channels, channels * 2, 1, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.upconv(x))


class NAFNet(nn.Module):
    """NAFNet mapping (N, in_channels, H, W) to (N, out_channels, H, W) for any H, W.

    ``width`` is the channel count of the first stage (doubled at each of the
    ``len(enc_blocks)`` downsamplings); ``enc_blocks``/``dec_blocks`` are the NAF blocks per
    stage and ``middle_blocks`` those at the lowest resolution. The defaults are LED's NAFNet
    configuration (width 32, [2, 2, 2, 2], 2, [2, 2, 2, 2]).
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        width: int = 32,
        enc_blocks: Sequence[int] = (2, 2, 2, 2),
        middle_blocks: int = 2,
        dec_blocks: Sequence[int] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks need the same number of stages")
        if width < 1:
            raise ValueError("width must be positive")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*(NAFBlock(c) for _ in range(n))))
            self.downs.append(Down(c))
            c *= 2
        self.middle = nn.Sequential(*(NAFBlock(c) for _ in range(middle_blocks)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in dec_blocks:
            self.ups.append(Up(c))
            c //= 2
            self.decoders.append(nn.Sequential(*(NAFBlock(c) for _ in range(n))))
        self.ending = nn.Conv2d(width, out_channels, 3, padding=1)
        self.multiple_of = 2 ** len(enc_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple_of
        pad_h, pad_w = (-h) % m, (-w) % m
        inp = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
        y = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            y = encoder(y)
            skips.append(y)
            y = down(y)
        y = self.middle(y)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips), strict=True):
            y = decoder(up(y) + skip)
        y = self.ending(y)
        if self.in_channels == self.out_channels:
            y = y + inp
        return y[..., :h, :w]
