"""The SID/LED UNet for packed 4-channel RAW, with LED's exact module names and shapes.

State-dict keys and shapes equal LED's ``UNetArch`` (method.md §2.1), so LED and LRD checkpoints
load with ``strict=True``. The forward pass pads to a multiple of 16 (reflect, split as LED
does) and crops back, so any input size works.
"""

from __future__ import annotations

import torch
from torch import nn

from rawdenoise.networks.fused import conv_lrelu
from rawdenoise.networks.padding import crop_padding, pad_to_multiple

#: Input height and width are padded internally to a multiple of this (4 poolings).
MULTIPLE_OF = 16


#: LED's activation slope (LED writes max(0.2 x, x): leaky ReLU, the same function)
SLOPE = 0.2


def _block(conv_a: nn.Module, conv_b: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Two convolutions, each followed by the activation (fused on CPU inference).

    ``x`` is the caller's last reference only if the caller passes its result straight in
    (``_block(a, b, torch.cat(...))``): then the input is freed before the second convolution.
    """
    x = conv_lrelu(conv_a, x, SLOPE)
    return conv_lrelu(conv_b, x, SLOPE)


class UNet(nn.Module):
    """SID UNet: 4 poolings, ``channels * (1, 2, 4, 8, 16)`` features.

    ``residual``: add the input to the output (DnCNN's global residual; not in SID or LED, whose
    networks rebuild every detail through the convolutions: the default model, trained so,
    blurs fine texture). No parameters are added, so the state dict is LED's either way.
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        channels: int = 32,
        residual: bool = False,
    ) -> None:
        super().__init__()
        c = int(channels)
        if c < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError("UNet channels must be positive")
        if not isinstance(residual, bool):
            raise ValueError(f"residual must be true or false, not {residual!r}")
        if residual and in_channels != out_channels:
            raise ValueError("a residual UNet needs as many output channels as input channels")
        self.in_channels, self.out_channels, self.channels = in_channels, out_channels, c
        self.residual = residual

        self.conv1_1 = nn.Conv2d(in_channels, c, 3, 1, 1)
        self.conv1_2 = nn.Conv2d(c, c, 3, 1, 1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2_1 = nn.Conv2d(c, 2 * c, 3, 1, 1)
        self.conv2_2 = nn.Conv2d(2 * c, 2 * c, 3, 1, 1)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3_1 = nn.Conv2d(2 * c, 4 * c, 3, 1, 1)
        self.conv3_2 = nn.Conv2d(4 * c, 4 * c, 3, 1, 1)
        self.pool3 = nn.MaxPool2d(2)
        self.conv4_1 = nn.Conv2d(4 * c, 8 * c, 3, 1, 1)
        self.conv4_2 = nn.Conv2d(8 * c, 8 * c, 3, 1, 1)
        self.pool4 = nn.MaxPool2d(2)
        self.conv5_1 = nn.Conv2d(8 * c, 16 * c, 3, 1, 1)
        self.conv5_2 = nn.Conv2d(16 * c, 16 * c, 3, 1, 1)

        self.upv6 = nn.ConvTranspose2d(16 * c, 8 * c, 2, stride=2)
        self.conv6_1 = nn.Conv2d(16 * c, 8 * c, 3, 1, 1)
        self.conv6_2 = nn.Conv2d(8 * c, 8 * c, 3, 1, 1)
        self.upv7 = nn.ConvTranspose2d(8 * c, 4 * c, 2, stride=2)
        self.conv7_1 = nn.Conv2d(8 * c, 4 * c, 3, 1, 1)
        self.conv7_2 = nn.Conv2d(4 * c, 4 * c, 3, 1, 1)
        self.upv8 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.conv8_1 = nn.Conv2d(4 * c, 2 * c, 3, 1, 1)
        self.conv8_2 = nn.Conv2d(2 * c, 2 * c, 3, 1, 1)
        self.upv9 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.conv9_1 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.conv9_2 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv10_1 = nn.Conv2d(c, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Written so that each activation is dropped as soon as nothing needs it (the skips
        # leave their list when concatenated, the concatenation when convolved): in inference
        # the full-resolution tensors are the memory peak, and this lowers it by a quarter in
        # fp32 (a 720x800 tile: 554 -> 409 MB; bf16 271 -> 231 MB). The operations, and so
        # the outputs and gradients, are the plain SID/LED UNet's.
        x, pads = pad_to_multiple(x, MULTIPLE_OF)
        residual = x if self.residual else None
        skips: list[torch.Tensor] = []
        for conv_a, conv_b, pool in self._down:
            x = _block(conv_a, conv_b, x)
            skips.append(x)
            x = pool(x)
        x = _block(self.conv5_1, self.conv5_2, x)
        for upv, conv_a, conv_b in self._up:
            # upsampled first, as in LED; no name holds the concatenation (freed in _block)
            x = _block(conv_a, conv_b, torch.cat([upv(x), skips.pop()], dim=1))
        out = self.conv10_1(x)
        del x
        return crop_padding(out if residual is None else out + residual, pads)

    @property
    def _down(self) -> tuple[tuple[nn.Module, nn.Module, nn.Module], ...]:
        return (
            (self.conv1_1, self.conv1_2, self.pool1),
            (self.conv2_1, self.conv2_2, self.pool2),
            (self.conv3_1, self.conv3_2, self.pool3),
            (self.conv4_1, self.conv4_2, self.pool4),
        )

    @property
    def _up(self) -> tuple[tuple[nn.Module, nn.Module, nn.Module], ...]:
        return (
            (self.upv6, self.conv6_1, self.conv6_2),
            (self.upv7, self.conv7_1, self.conv7_2),
            (self.upv8, self.conv8_1, self.conv8_2),
            (self.upv9, self.conv9_1, self.conv9_2),
        )
