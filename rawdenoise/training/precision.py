"""Mixed-precision training (``--precision bf16``): the network's forward pass under autocast.

Weights, optimizer state, the noise synthesis and the loss stay float32; only the network's
convolutions and matrix products run in bfloat16, which CPUs with AMX / AVX512-BF16 and recent
GPUs compute several times faster. float16 is not offered for training: it needs loss scaling
to keep small gradients, and bfloat16 has float32's range without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rawdenoise.errors import UsageError

if TYPE_CHECKING:
    import torch

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
    import torch

    from rawdenoise.inference import cpu_has_native_bf16

    if device.type == "cpu":
        if not cpu_has_native_bf16():
            return (
                "this CPU has no AVX512-BF16/AMX: bf16 is emulated and trains slower than fp32 "
                "here (use --precision fp32)"
            )
        return None
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise UsageError(
                f"{torch.cuda.get_device_name(device)} has no bf16", hint="use --precision fp32"
            )
        return None
    raise UsageError(
        f"bf16 training runs on cpu and cuda, not {device.type}", hint="use --precision fp32"
    )


def with_precision(module: Any, precision: str, device: torch.device) -> Any:
    """``module`` itself for fp32; else a wrapper running its forward under autocast and
    returning float32 (so that the loss is computed in float32)."""
    if precision == "fp32":
        return module
    import torch

    class Autocast(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = self.inner(*args, **kwargs)
            return out.float()

    return Autocast(module)
