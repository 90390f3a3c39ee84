"""Per-image noise parameters and the parametric camera that samples them (method.md §5.2).

A :class:`ParametricCamera` is one camera's noise model: system gain K drawn log-uniformly in
``[k_min, k_max]`` (or fixed), read and row noise standard deviations from log-linear relations
against log K with their residual spread, a Tukey lambda drawn from a list, and a colour bias
picked by linear K bin. :meth:`ParametricCamera.sample` turns it into a :class:`NoiseSample`:
one value per image of the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rawdenoise.noise.components import rand, randn
from rawdenoise.specs import CameraProfile, IsoPoint, LogLinear

READ_KINDS = ("tukey", "gaussian")


@dataclass
class NoiseSample:
    """Parameters drawn for one batch: (N,) tensors in DN (K in DN per electron).

    ``independent`` is a data-driven signal-independent noise tensor (N, 4, H, W) in DN (the
    dark-frame bank); when present it replaces the parametric read, row and colour-bias terms.
    """

    k: torch.Tensor
    camera: int = 0
    read_sigma: torch.Tensor | None = None
    tl_lambda: torch.Tensor | None = None
    row_sigma: torch.Tensor | None = None
    color_bias: torch.Tensor | None = None  #: (N, 4), packed order R, G1, B, G2
    independent: torch.Tensor | None = None
    iso: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> NoiseSample:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return NoiseSample(
            k=self.k.to(device),
            camera=self.camera,
            read_sigma=move(self.read_sigma),
            tl_lambda=move(self.tl_lambda),
            row_sigma=move(self.row_sigma),
            color_bias=move(self.color_bias),
            independent=move(self.independent),
            iso=move(self.iso),
        )


def sample_log_linear(
    fit: LogLinear,
    log_k: torch.Tensor,
    *,
    generator: torch.Generator | None,
    spread: bool = True,
) -> torch.Tensor:
    """``exp(N(slope * log K + bias, sigma))`` per image (natural logs)."""
    mean = fit.slope * log_k + fit.bias
    if spread and fit.sigma > 0:
        mean = mean + fit.sigma * randn(
            tuple(log_k.shape), generator=generator, device=log_k.device, dtype=log_k.dtype
        )
    return torch.exp(mean)


def color_bias_bins(
    k: torch.Tensor, k_min: float, k_max: float, biases: torch.Tensor
) -> torch.Tensor:
    """LED's colour bias lookup: ``floor((K - Kmin) / ((Kmax - Kmin) / count))``, linear in K."""
    count = biases.shape[0]
    if k_max > k_min:
        idx = torch.floor((k - k_min) / ((k_max - k_min) / count)).long()
    else:
        idx = torch.zeros_like(k, dtype=torch.long)
    return biases[idx.clamp(0, count - 1)]


@dataclass(frozen=True)
class ParametricCamera:
    """One camera's physics noise model.

    ``read`` is the Tukey-lambda scale fit when ``read_kind == "tukey"`` and the Gaussian sigma
    fit when ``"gaussian"``. ``k_fixed`` pins K (a given ISO); ``point`` additionally pins the
    per-ISO measured values (no log-linear spread), as LRD's per-ISO sampling does.
    """

    k_min: float
    k_max: float
    read: LogLinear
    row: LogLinear
    read_kind: str = "tukey"
    tukey_lambdas: tuple[float, ...] = (0.14,)
    color_bias: tuple[tuple[float, float, float, float], ...] = ()
    k_fixed: float | None = None
    point: IsoPoint | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.read_kind not in READ_KINDS:
            raise ValueError(f"read_kind must be one of {READ_KINDS}, got {self.read_kind!r}")
        if not 0 < self.k_min <= self.k_max:
            raise ValueError(f"need 0 < k_min <= k_max, got {self.k_min}, {self.k_max}")
        if self.k_fixed is not None and self.k_fixed <= 0:
            raise ValueError(f"K must be positive, got {self.k_fixed}")
        if self.read_kind == "tukey" and not self.tukey_lambdas:
            raise ValueError("a Tukey-lambda read noise needs at least one lambda")

    @property
    def num_cameras(self) -> int:
        return 1

    @classmethod
    def from_profile(
        cls,
        profile: CameraProfile,
        *,
        iso: float | None = None,
        k: float | None = None,
        read_kind: str = "tukey",
    ) -> ParametricCamera:
        """The calibrated camera of ``profile``, over its whole K range or at one ISO / K.

        At an ``iso`` the profile measured itself, its per-ISO values are used as they are;
        at another ISO, K comes from :meth:`CameraProfile.k_for_iso` and the noise levels from
        the log-linear fits (with their residual spread).
        """
        noise = profile.noise
        fit = noise.tukey if read_kind == "tukey" else noise.gaussian
        lambdas = noise.tukey_lambdas or (0.14,)
        point = None
        if iso is not None and k is None:
            point = _matching_point(profile.iso_points, iso)
            k = point.k if point is not None else profile.k_for_iso(iso)
            if k is None:
                raise ValueError(
                    f"camera profile {profile.id!r} has no per-ISO points, so K at ISO {iso:g} "
                    "is unknown; pass k= (DN per electron) instead"
                )
        return cls(
            k_min=noise.k_min,
            k_max=noise.k_max,
            read=fit,
            row=noise.row,
            read_kind=read_kind,
            tukey_lambdas=lambdas,
            color_bias=noise.color_bias,
            k_fixed=k,
            point=point,
            name=profile.id,
        )

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        camera: int = 0,
    ) -> NoiseSample:
        """Draw K, sigmas, lambda and colour bias for ``n`` images."""
        device = torch.device(device)
        if self.k_fixed is not None:
            log_k = torch.full((n,), math.log(self.k_fixed), dtype=torch.float64, device=device)
        else:
            lo, hi = math.log(self.k_min), math.log(self.k_max)
            u = rand((n,), generator=generator, device=device, dtype=torch.float64)
            log_k = lo + (hi - lo) * u
        k = torch.exp(log_k)
        point = self.point
        read = _point_value(point, self.read_kind, n, device)
        if read is None:
            read = sample_log_linear(self.read, log_k, generator=generator)
        row = _point_value(point, "row", n, device)
        if row is None:
            row = sample_log_linear(self.row, log_k, generator=generator)
        lam = None
        if point is not None and point.tl_lambda is not None:
            lam = torch.full((n,), float(point.tl_lambda), dtype=torch.float64, device=device)
        if lam is None:
            choices = torch.tensor(self.tukey_lambdas, dtype=torch.float64, device=device)
            idx = (rand((n,), generator=generator, device=device) * len(choices)).long()
            lam = choices[idx.clamp_max(len(choices) - 1)]
        bias = None
        if point is not None and point.color_bias is not None:
            bias = torch.tensor(point.color_bias, dtype=torch.float32, device=device).expand(n, 4)
        elif self.color_bias:
            table = torch.tensor(self.color_bias, dtype=torch.float32, device=device)
            bias = color_bias_bins(k.float(), self.k_min, self.k_max, table)
        return NoiseSample(
            k=k.float(),
            camera=camera,
            read_sigma=read.float(),
            tl_lambda=lam.float(),
            row_sigma=row.float(),
            color_bias=bias,
        )


def _matching_point(points: Sequence[IsoPoint], iso: float) -> IsoPoint | None:
    for p in points:
        if p.iso > 0 and abs(p.iso - iso) <= 0.01 * iso:
            return p
    return None


def _point_value(
    point: IsoPoint | None, what: str, n: int, device: torch.device
) -> torch.Tensor | None:
    if point is None:
        return None
    value = {"tukey": point.tl_sigma, "gaussian": point.read_sigma, "row": point.row_sigma}[what]
    if value is None:
        return None
    return torch.full((n,), float(value), dtype=torch.float64, device=device)
