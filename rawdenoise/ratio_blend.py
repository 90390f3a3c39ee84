"""Models whose weights depend on the ratio: two weight sets of one network, blended by it.

A network trained at ratios 1-300 keeps colour and geometry at low ratios but under-denoises
at high ones; continued at ratios 100-300 it denoises better there and forgets ratio 1. Both
descend from the same weights, so their weights can be interpolated (network interpolation,
Wang et al., "Deep Network Interpolation for Continuous Imagery Effect Transition", CVPR 2019):
a blend model holds the low-ratio set (its ordinary tensors) and the high-ratio set (the same
tensors under :data:`HIGH_PREFIX`), with ``ratio_blend = (low, high)`` in its metadata. At a
ratio ``r`` its weights are ``lerp(low set, high set, t)`` with ``t`` the position of ``log r``
between ``log low`` and ``log high``, clipped to [0, 1]: the low set at and below ``low``, the
high set at and above ``high``. The blend is taken on the stored (RepNR) state and then
deployed, a few milliseconds for the bundled UNet; each weight ``t`` used is kept.

``process`` knows each file's ratio, ``evaluate`` each pair's: they run the network at that
ratio (:func:`network_at`). ``finetune``/``pretrain --init`` start from the blend at the pairs'
ratio (:meth:`RatioBlend.module_for`).
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import ModelFileError, UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Prefix of the high-ratio set's tensors in a blend model's file.
HIGH_PREFIX = "ratio_high."
#: Blend weights are rounded to this step: ratios a hair apart share one deployed network.
WEIGHT_STEP = 1e-3
_KEPT = 8  #: deployed networks kept (a folder of photos at a few exposures)


def blend_weight(ratio: float, low: float, high: float) -> float:
    """The high set's share at ``ratio``: 0 at and below ``low``, 1 at and above ``high``,
    linear in ``log(ratio)`` between (rounded to :data:`WEIGHT_STEP`)."""
    if ratio <= low:
        return 0.0
    if ratio >= high:
        return 1.0
    t = math.log(ratio / low) / math.log(high / low)
    return round(t / WEIGHT_STEP) * WEIGHT_STEP


def check_range(low: float, high: float) -> tuple[float, float]:
    """``(low, high)`` as floats, refused unless finite and ``0 < low < high``."""
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise UsageError(f"invalid ratio blend range {low!r}-{high!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise UsageError(f"invalid ratio blend range {lo:g}-{hi:g}", hint="it needs 0 < LOW < HIGH")
    return lo, hi


def split_state(
    state: Mapping[str, torch.Tensor], path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A blend file's tensors as (low set, high set); the two must hold the same tensors."""
    low = {k: v for k, v in state.items() if not k.startswith(HIGH_PREFIX)}
    high = {k[len(HIGH_PREFIX) :]: v for k, v in state.items() if k.startswith(HIGH_PREFIX)}
    if not high:
        raise ModelFileError(f"{path.name} says it blends two weight sets but holds one")
    differ = sorted(
        k for k in low.keys() | high.keys()
        if k not in low or k not in high or low[k].shape != high[k].shape
    )  # fmt: skip
    if differ:
        shown = ", ".join(differ[:4]) + (", ..." if len(differ) > 4 else "")
        raise ModelFileError(f"{path.name}: its two weight sets differ ({shown})")
    return low, high


class RatioBlend:
    """The two sets of a loaded blend model and the networks deployed from them.

    ``low_module`` and ``high_module`` are the loaded modules (RepNR wrappers or plain
    networks, same structure); ``deploy`` turns one into the plain network that runs.
    """

    def __init__(
        self,
        low_module: nn.Module,
        high_module: nn.Module,
        low: float,
        high: float,
        deploy: Callable[[nn.Module], nn.Module],
        low_network: nn.Module,
    ) -> None:
        self.low, self.high = check_range(low, high)
        self.low_module, self.high_module = low_module, high_module
        #: turns a module of the stored kind into the plain network that runs
        self.deploy = deploy
        self._low_state = {k: v.detach().float() for k, v in low_module.state_dict().items()}
        self._high_state = {k: v.detach().float() for k, v in high_module.state_dict().items()}
        self._networks: OrderedDict[float, nn.Module] = OrderedDict({0.0: low_network})

    def weight(self, ratio: float) -> float:
        return blend_weight(ratio, self.low, self.high)

    def module_for(self, ratio: float) -> nn.Module:
        """A new module (the stored kind: RepNR or plain) holding the weights at ``ratio``."""
        import torch

        t = self.weight(ratio)
        module = copy.deepcopy(self.low_module)
        with torch.no_grad():
            state = {
                k: torch.lerp(v, self._high_state[k], t) if v.is_floating_point() else v
                for k, v in self._low_state.items()
            }
            module.load_state_dict(state, strict=True)
        return module

    def network_for(self, ratio: float) -> nn.Module:
        """The deployed network at ``ratio`` (eval mode), made once per blend weight."""
        t = self.weight(ratio)
        network = self._networks.get(t)
        if network is None:
            network = self.deploy(self.module_for(ratio)).eval()
            self._networks[t] = network
            while len(self._networks) > _KEPT:
                self._networks.popitem(last=False)
        self._networks.move_to_end(t)
        return network

    def high_tensors(self) -> dict[str, torch.Tensor]:
        """The high set under :data:`HIGH_PREFIX`, as a blend file stores it."""
        state = self.high_module.state_dict()
        return {HIGH_PREFIX + k: v.detach().contiguous() for k, v in state.items()}

    def describe(self) -> str:
        return (
            f"weights blended by ratio: one set up to {self.low:g}, another from {self.high:g}, "
            "interpolated between"
        )


def network_at(network: Any, ratio: float) -> Any:
    """The network to run at ``ratio``: ``network`` itself, or for a loaded model (anything
    with ``network_for``, such as :class:`~rawdenoise.weights.LoadedModel`) its network there."""
    pick = getattr(network, "network_for", None)
    return pick(ratio) if callable(pick) else network
