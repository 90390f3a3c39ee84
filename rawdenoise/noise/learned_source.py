"""The learned dark noise as a pair generator's source: shot noise with K plus learned noise.

LRD's synthesis (method.md §9.2): the signal-dependent part is physics (Poisson with the
profile's system gain K), the signal-independent part is the learned generator's sample. Each
image of a batch gets an ISO drawn log-uniformly over the model's calibrated range (ISOs
between the calibrated ones interpolate through the generator's conditioning), or a fixed one.
"""

from __future__ import annotations

import math

import torch

from rawdenoise.noise.darkbank import KSource, _k_lookup
from rawdenoise.noise.learned import LearnedNoise
from rawdenoise.noise.params import NoiseSample


class LearnedDarkNoise:
    """Noise source for :class:`~rawdenoise.noise.NoisyPairGenerator` (one camera)."""

    def __init__(self, model: LearnedNoise, k_for_iso: KSource, *, iso: float | None = None):
        self.model = model
        self.iso = iso
        self._k = _k_lookup(k_for_iso)
        lo, hi = min(model.isos), max(model.isos)
        for value in (lo, hi) if iso is None else (iso,):
            self._k(value)  # fail early when K is unknown
        self.log_range = (math.log(lo), math.log(hi))

    @property
    def num_cameras(self) -> int:
        return 1

    def sample_params(
        self,
        n: int,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> NoiseSample:
        if self.iso is not None:
            isos = torch.full((n,), float(self.iso))
        else:
            gen_device = generator.device if generator is not None else torch.device("cpu")
            u = torch.rand((n,), generator=generator, device=gen_device).cpu()
            lo, hi = self.log_range
            isos = torch.exp(lo + u.double() * (hi - lo)).float()
        if self.model._device() != torch.device(device):
            self.model.generator.to(device)
        noise = self.model.sample_dn(
            isos.tolist(), height, width, generator=generator, device=device
        ).to(device)
        k = torch.tensor([self._k(float(i)) for i in isos.tolist()], device=noise.device)
        return NoiseSample(k=k, independent=noise, iso=isos.to(noise.device))
