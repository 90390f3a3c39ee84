"""A tiny 2-level UNet for fast tests (architecture ``tiny``); not for real denoising."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rawdenoise.networks.padding import crop_padding, pad_to_multiple

#: Two poolings: input height and width are padded internally to a multiple of 4.
MULTIPLE_OF = 4


class TinyNet(nn.Module):
    """``channels`` -> ``2*channels`` -> ``4*channels`` UNet with a 1x1 output conv ``conv_out``.

    ``bias=False`` builds bias-free 3x3 convs (RepNR's deploy must then add biases; tests use it).
    """

    def __init__(
        self, in_channels: int = 4, out_channels: int = 4, channels: int = 8, bias: bool = True
    ) -> None:
        super().__init__()
        c = int(channels)
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=bias)
        self.conv2 = nn.Conv2d(c, 2 * c, 3, 1, 1, bias=bias)
        self.conv3 = nn.Conv2d(2 * c, 4 * c, 3, 1, 1, bias=bias)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.conv4 = nn.Conv2d(4 * c, 2 * c, 3, 1, 1, bias=bias)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.conv5 = nn.Conv2d(2 * c, c, 3, 1, 1, bias=bias)
        self.conv_out = nn.Conv2d(c, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pads = pad_to_multiple(x, MULTIPLE_OF)
        c1 = F.leaky_relu(self.conv1(x), 0.2)
        c2 = F.leaky_relu(self.conv2(F.max_pool2d(c1, 2)), 0.2)
        c3 = F.leaky_relu(self.conv3(F.max_pool2d(c2, 2)), 0.2)
        c4 = F.leaky_relu(self.conv4(torch.cat([self.up2(c3), c2], 1)), 0.2)
        c5 = F.leaky_relu(self.conv5(torch.cat([self.up1(c4), c1], 1)), 0.2)
        return crop_padding(self.conv_out(c5), pads)
