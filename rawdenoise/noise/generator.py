"""Noisy/clean training pairs from clean packed RAW (method.md §5.1).

``img_dark = clean * scale / ratio`` is the expected signal of a dark capture in DN above
black; the noise components (DN) are added; ``noisy = noisy_dn / scale * ratio`` is clipped at
1.0 from above only (negative values kept, as LED's input convention), the target is ``clean``
clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rawdenoise.noise.components import (
    gaussian_noise,
    per_image,
    quantization_noise,
    row_noise,
    shot_noise,
    tukey_lambda_noise,
)
from rawdenoise.noise.darkbank import DarkFrameBank, DarkFrameNoise, KSource
from rawdenoise.noise.learned import LearnedNoise
from rawdenoise.noise.learned_source import LearnedDarkNoise
from rawdenoise.noise.params import NoiseSample, ParametricCamera
from rawdenoise.noise.virtual import LED_VIRTUAL_RANGES, VirtualCameras
from rawdenoise.specs import CameraProfile

NOISE_LETTERS = frozenset("ptgrqc")
#: What each noise letter means (for messages).
NOISE_LETTERS_HELP = (
    "p (shot), t (Tukey-lambda read) or g (Gaussian read), r (row), q (quantization), "
    "c (colour bias); LED's default is ptrqc"
)


def check_noise_type(noise_type: str, *, allow_empty: bool = False) -> str:
    """Validate LED's component letters: p shot, t/g read, r row, q quantization, c colour bias.

    An empty noise type (no noise at all) is refused unless ``allow_empty``: a generator
    built directly (``NoisyPairGenerator(..., noise_type="")``) may form noise-free pairs.
    """
    if not isinstance(noise_type, str):
        raise ValueError(f"the noise type must be a string of letters, got {noise_type!r}")
    unknown = set(noise_type) - NOISE_LETTERS
    if unknown:
        raise ValueError(
            f"unknown noise components {''.join(sorted(unknown))!r} in {noise_type!r}"
            f"; use {NOISE_LETTERS_HELP}"
        )
    if not noise_type and not allow_empty:
        raise ValueError(f"the noise type is empty (no noise at all); use {NOISE_LETTERS_HELP}")
    if "t" in noise_type and "g" in noise_type:
        raise ValueError("choose one read noise: 't' (Tukey lambda) or 'g' (Gaussian)")
    return noise_type


def _read_kind(noise_type: str) -> str:
    """The read-noise distribution a noise type asks for ('g': Gaussian, else Tukey-lambda)."""
    return "gaussian" if "g" in noise_type else "tukey"


def synthesize_dn(
    signal_dn: torch.Tensor,
    params: NoiseSample,
    noise_type: str = "ptrqc",
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``signal_dn`` (N, 4, H, W) plus the enabled noise components, all in DN.

    With a data-driven ``params.independent`` (dark-frame crops) the read, row and colour-bias
    letters are ignored: the real dark noise replaces them.
    """
    check_noise_type(noise_type, allow_empty=True)
    if signal_dn.ndim != 4 or signal_dn.shape[1] != 4:
        raise ValueError(f"expected a packed (N, 4, H, W) batch, got {tuple(signal_dn.shape)}")
    shape = tuple(signal_dn.shape)
    device = signal_dn.device
    params = params.to(device)
    out = signal_dn.clone()
    if "p" in noise_type:
        out += shot_noise(signal_dn, params.k, generator=generator)
    if params.independent is not None:
        if tuple(params.independent.shape) != shape:
            raise ValueError(
                f"dark noise {tuple(params.independent.shape)} does not match the batch {shape}"
            )
        out += params.independent
    else:
        if "t" in noise_type:
            assert params.read_sigma is not None and params.tl_lambda is not None
            out += tukey_lambda_noise(
                shape, params.read_sigma, params.tl_lambda, generator=generator, device=device
            )
        elif "g" in noise_type:
            assert params.read_sigma is not None
            out += gaussian_noise(shape, params.read_sigma, generator=generator, device=device)
        if "r" in noise_type and params.row_sigma is not None:
            out += row_noise(shape, params.row_sigma, generator=generator, device=device)
        if "c" in noise_type and params.color_bias is not None:
            out += params.color_bias.to(out.dtype).reshape(-1, 4, 1, 1)
    if "q" in noise_type:
        out += quantization_noise(shape, generator=generator, device=device)
    return out


class NoisyPair(tuple):
    """``(noisy, clean)`` that also says which camera (RepNR branch) and parameters were used.

    Unpacks as two tensors (``noisy, clean = pair``); ``pair.camera`` is the virtual camera
    index (0 for single-camera generators) and ``pair.params`` the drawn :class:`NoiseSample`.
    """

    noisy: torch.Tensor
    clean: torch.Tensor
    camera: int
    params: NoiseSample

    def __new__(
        cls, noisy: torch.Tensor, clean: torch.Tensor, camera: int, params: NoiseSample
    ) -> NoisyPair:
        self = super().__new__(cls, (noisy, clean))
        self.noisy = noisy
        self.clean = clean
        self.camera = camera
        self.params = params
        return self


def _per_image_tensor(
    value: Any, n: int, device: torch.device, name: str, *, channels: bool
) -> torch.Tensor:
    """Scalars, (N,), (4,), (1, 4), (N, 4) or (N, 4, 1, 1) -> (N, 4, 1, 1) or (N, 1, 1, 1).

    A (4,) vector is read per channel unless N == 4, where it is per image; pass (1, 4) to say
    "per channel" whatever N is.
    """
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.ndim == 0:
        t = t.expand(n)
    if channels:
        if t.ndim == 4:
            t = t.reshape(t.shape[0], -1)
        if t.shape == (1, 4):
            t = t.expand(n, 4)
        if t.ndim == 1 and t.numel() == 4 and n != 4:
            t = t.unsqueeze(0).expand(n, 4)
        elif t.ndim == 1:
            t = t.unsqueeze(1).expand(-1, 4)
        if t.shape != (n, 4):
            raise ValueError(f"{name} must be a scalar, (4,), (N,) or (N, 4); got {tuple(t.shape)}")
        out = t.reshape(n, 4, 1, 1)
    else:
        t = t.reshape(-1)
        if t.numel() == 1:
            t = t.expand(n)
        if t.numel() != n:
            raise ValueError(f"{name} must be a scalar or (N,); got {t.numel()} values for N={n}")
        out = per_image(t)
    if not torch.all(out > 0):
        raise ValueError(f"{name} must be positive")
    return out


class NoisyPairGenerator:
    """Turn clean packed batches into (noisy, clean) training pairs.

    Build one with :meth:`virtual` (LED pretraining), :meth:`from_profile` (a calibrated
    camera, optionally at one ISO) or :meth:`from_dark_frames` (physical shot noise plus real
    dark-frame crops). Calls are reproducible with a seeded :class:`torch.Generator`.
    """

    def __init__(
        self,
        source: VirtualCameras | ParametricCamera | DarkFrameNoise | LearnedDarkNoise,
        *,
        noise_type: str = "ptrqc",
    ) -> None:
        self.source = source
        self.noise_type = check_noise_type(noise_type, allow_empty=True)

    @property
    def num_cameras(self) -> int:
        """How many cameras (RepNR branches) the generator draws from."""
        return self.source.num_cameras

    @classmethod
    def virtual(
        cls,
        count: int = 5,
        *,
        noise_type: str = "ptrqc",
        ranges: Any = LED_VIRTUAL_RANGES,
        strategy: str = "coverage",
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> NoisyPairGenerator:
        """``count`` virtual cameras covering LED's parameter ranges (§5.4)."""
        check_noise_type(noise_type)
        cams = VirtualCameras.sample(
            count,
            ranges=ranges,
            strategy=strategy,
            shuffle=shuffle,
            read_kind=_read_kind(noise_type),
            generator=generator,
        )
        return cls(cams, noise_type=noise_type)

    @classmethod
    def virtual_from_state(
        cls, state: Mapping[str, Any], *, noise_type: str = "ptrqc"
    ) -> NoisyPairGenerator:
        """The virtual cameras an earlier run saved (:meth:`VirtualCameras.state_dict`)."""
        check_noise_type(noise_type)
        cams = VirtualCameras.from_state_dict(state, read_kind=_read_kind(noise_type))
        return cls(cams, noise_type=noise_type)

    @classmethod
    def from_profile(
        cls,
        profile: CameraProfile,
        *,
        iso: float | None = None,
        k: float | None = None,
        noise_type: str = "ptrqc",
    ) -> NoisyPairGenerator:
        """The calibrated noise of ``profile`` (whole K range, or at ``iso`` / fixed ``k``)."""
        check_noise_type(noise_type)
        cam = ParametricCamera.from_profile(profile, iso=iso, k=k, read_kind=_read_kind(noise_type))
        return cls(cam, noise_type=noise_type)

    @classmethod
    def from_dark_frames(
        cls,
        bank: DarkFrameBank,
        k_for_iso: KSource,
        *,
        iso: float | None = None,
        noise_type: str = "p",
    ) -> NoisyPairGenerator:
        """Shot noise with K of the ISO plus real dark-frame crops (LRD/PMN style).

        ``k_for_iso`` is a :class:`CameraProfile` (e.g. from ``rawdenoise calibrate``), a
        mapping ISO -> K or a function. Add ``q`` to ``noise_type`` only if the dark frames are
        not already quantized (real ones are).
        """
        return cls(DarkFrameNoise(bank, k_for_iso, iso=iso), noise_type=noise_type)

    @classmethod
    def from_learned(
        cls,
        model: LearnedNoise,
        k_for_iso: KSource,
        *,
        iso: float | None = None,
        noise_type: str = "pq",
    ) -> NoisyPairGenerator:
        """Shot noise with K of the ISO plus the learned dark noise (LRD's synthesis).

        The learned samples are continuous; ``q`` adds the ADC's rounding.
        """
        return cls(LearnedDarkNoise(model, k_for_iso, iso=iso), noise_type=noise_type)

    def sample_params(
        self,
        n: int,
        height: int,
        width: int,
        *,
        camera: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> NoiseSample:
        """Noise parameters (and dark crops) for a batch of ``n`` images."""
        src = self.source
        if isinstance(src, VirtualCameras):
            return src.sample_params(n, camera=camera, generator=generator, device=device)
        if camera not in (None, 0):
            raise ValueError(f"this generator has one camera; got camera={camera}")
        if isinstance(src, DarkFrameNoise | LearnedDarkNoise):
            return src.sample_params(n, height, width, generator=generator, device=device)
        return src.sample(n, generator=generator, device=device)

    @torch.no_grad()
    def __call__(
        self,
        clean: torch.Tensor,
        scale: float | Sequence[float] | torch.Tensor,
        ratio: float | Sequence[float] | torch.Tensor,
        *,
        camera: int | None = None,
        generator: torch.Generator | None = None,
    ) -> NoisyPair:
        """Noisy input (already times ``ratio``, clipped at 1.0 above) and the clean target.

        ``clean``: (N, 4, H, W) in [0, 1]; ``scale``: white minus black in DN (scalar, (4,),
        (1, 4) per channel, (N,) or (N, 4)); ``ratio``: digital gain per image (scalar or
        (N,)); ``camera``: virtual camera index (random per batch when ``None``).
        """
        if clean.ndim != 4 or clean.shape[1] != 4:
            raise ValueError(f"expected a packed (N, 4, H, W) batch, got {tuple(clean.shape)}")
        if not clean.is_floating_point():
            raise ValueError("the clean batch must be floating point in [0, 1]")
        n, _, h, w = clean.shape
        device = clean.device
        gt = clean.clamp(0, 1)
        scale4 = _per_image_tensor(scale, n, device, "scale", channels=True).to(gt.dtype)
        ratio4 = _per_image_tensor(ratio, n, device, "ratio", channels=False).to(gt.dtype)
        params = self.sample_params(n, h, w, camera=camera, generator=generator, device=device)
        dark_dn = gt * scale4 / ratio4
        noisy_dn = synthesize_dn(dark_dn, params, self.noise_type, generator=generator)
        noisy = (noisy_dn / scale4 * ratio4).clamp_max(1.0)
        return NoisyPair(noisy, gt, params.camera, params)
