"""Mixed-precision training (``--precision bf16``): the network's forward pass under autocast.

Weights, optimizer state, the noise synthesis and the loss stay float32; only the network's
convolutions and matrix products run in bfloat16, which CPUs with AMX / AVX512-BF16 and recent
GPUs compute several times faster. float16 is not offered for training: it needs loss scaling
to keep small gradients, and bfloat16 has float32's range without it.
"""

from __future__ import annotations

from typing import Any

import torch

from rawdenoise.errors import UsageError

TRAIN_PRECISIONS = ("fp32", "bf16")


def check_training_precision(precision: str) -> str:
    """``precision`` normalized, or a :class:`UsageError` (before any data is loaded)."""
    value = (precision or "").strip().lower()
    if value == "fp16":
        raise UsageError(
            "fp16 is not offered for training (it needs loss scaling)",
            hint="use --precision bf16: the same speed-up on hardware that has it, float32's range",
        )
    if value not in TRAIN_PRECISIONS:
        raise UsageError(
            f"unknown precision {precision!r}",
            hint=f"choose one of {', '.join(TRAIN_PRECISIONS)}",
        )
    return value


def precision_warning(precision: str, device: torch.device) -> str | None:
    """A :class:`UsageError` where ``device`` cannot train in ``precision``; a warning text
    where it can but slowly; else None."""
    if precision == "fp32":
        return None
    from rawdenoise.devices import emulated_bf16_warning

    if device.type == "cpu":
        return emulated_bf16_warning("trains slower")
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise UsageError(
                f"{torch.cuda.get_device_name(device)} has no bf16", hint="use --precision fp32"
            )
        return None
    raise UsageError(
        f"bf16 training runs on cpu and cuda, not {device.type}", hint="use --precision fp32"
    )


class _FastForward(torch.nn.Module):
    """``inner``'s forward on an input in the device's fast layout (:mod:`rawdenoise.layout`),
    under bf16 autocast when asked; the output in float32 (for the loss)."""

    def __init__(self, inner: torch.nn.Module, device: torch.device, bf16: bool) -> None:
        super().__init__()
        self.inner = inner
        self.device = device
        self.bf16 = bf16

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        from rawdenoise.layout import to_device_layout

        x = to_device_layout(x, self.device)
        if not self.bf16:
            return self.inner(x, *args, **kwargs)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            out = self.inner(x, *args, **kwargs)
        return out.float()


def with_precision(module: torch.nn.Module, precision: str, device: torch.device) -> Any:
    """``module`` wrapped to run its forward pass in the device's fast memory layout and, for
    bf16, under autocast; ``module`` itself where neither applies (fp32 on MPS)."""
    from rawdenoise.layout import prefers_channels_last

    bf16 = precision != "fp32"
    if not bf16 and not prefers_channels_last(device):
        return module
    return _FastForward(module, device, bf16)
