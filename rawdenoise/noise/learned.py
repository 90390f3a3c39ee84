"""LRD's learned signal-independent noise: an ISO-conditioned generator and its critic.

The generator maps Gaussian noise to packed 4-channel dark noise (method.md §9.2 (b)). It is
fully convolutional, so any frame size can be sampled, and has three branches whose outputs
add up, each modulated by the ISO (FiLM: a per-channel scale and shift computed from log ISO):

- a pixel branch (3x3 and 1x1 convolutions with nonlinearities): the read noise and its
  spatial correlation. Its Gaussian input first goes through a Tukey-h transform with a
  learned h per channel, z exp(h z^2 / 2): without it the generator's tails came out about
  three times too light at 3 sigma on the simulated sensor, and a denoiser trained on its
  samples scored 0.2-0.3 dB lower. Hot pixels are apart (:mod:`rawdenoise.noise.hot_pixels`);
- a row branch: one Gaussian value per packed row, filtered along the rows by dilated 1-D
  convolutions (long reach for a 1/f spectrum) and broadcast along the row: banding;
- a column branch, the same across columns: column pattern.

The ISO enters twice: the frames of each calibrated ISO are normalised by their channel means
and their standard deviation (interpolated in log ISO between the calibrated ones, so the
network only learns the *shape* of the noise), and the normalised log ISO drives the FiLM
layers. An ISO between calibrated ones interpolates through both.

The critic (:class:`FourierCritic`) follows LRD's Fourier-domain discriminator in spirit: a
spatial branch on the patch and a branch on its log power spectrum, both told the ISO; it is
trained with WGAN-GP (:mod:`rawdenoise.noise.learn_train`). Written from the published facts
only (method.md §9); LRD never released this code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from rawdenoise.noise.hot_pixels import HotPixels

FORMAT = "rawdenoise-learned-noise"
VERSION = 1


@dataclass(frozen=True)
class GeneratorConfig:
    """Network sizes (kept in the weights file's metadata to rebuild the network)."""

    width: int = 32  #: channels of the pixel branch
    line_width: int = 16  #: channels of the row and column branches
    depth: int = 3  #: nonlinear 1x1 layers in the pixel branch
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    #: the pixel branch's Gaussian input goes through a learned Tukey-h transform first,
    #: z exp(h z^2 / 2) per channel: heavy tails that its convolutions then spread, as a
    #: sensor's heavy-tailed read noise is spread by its correlation (files written before
    #: it load without it)
    heavy_tails: bool = True


@dataclass(frozen=True)
class IsoNorm:
    """Per calibrated ISO: the channel means (DN above black) and the pixel std (DN)."""

    isos: tuple[float, ...]
    means: tuple[tuple[float, float, float, float], ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.isos or len(self.means) != len(self.isos) or len(self.stds) != len(self.isos):
            raise ValueError("IsoNorm needs one mean and one std per ISO")

    @property
    def log_iso_range(self) -> tuple[float, float]:
        return math.log(min(self.isos)), math.log(max(self.isos))

    def condition(self, iso: float) -> float:
        """log ISO mapped so that the calibrated range is [-1, 1]."""
        lo, hi = self.log_iso_range
        if hi - lo < 1e-9:
            return 0.0
        return 2 * (math.log(iso) - lo) / (hi - lo) - 1

    def at(self, iso: float) -> tuple[list[float], float]:
        """(channel means, std) at ``iso``: linear in log ISO (log std), extended at the ends."""
        order = sorted(range(len(self.isos)), key=lambda i: self.isos[i])
        xs = [math.log(self.isos[i]) for i in order]
        x = math.log(iso)

        def interp(ys: Sequence[float]) -> float:
            if len(xs) == 1:
                return float(ys[0])
            j = min(max(int(sum(1 for v in xs if v < x)) - 1, 0), len(xs) - 2)
            t = (x - xs[j]) / (xs[j + 1] - xs[j])
            return float(ys[j] + t * (ys[j + 1] - ys[j]))

        means = [interp([self.means[i][c] for i in order]) for c in range(4)]
        std = math.exp(interp([math.log(self.stds[i]) for i in order]))
        return means, std


class _Film(nn.Module):
    """Per-channel scale and shift from the ISO condition (identity at initialisation)."""

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.net(cond.reshape(-1, 1)).chunk(2, dim=1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class _LineBranch(nn.Module):
    """Noise along one axis: dilated 1-D convolutions over a (N, C, L) line of Gaussian input."""

    def __init__(self, width: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.inp = nn.Conv1d(2, width, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(width, width, 5, padding=2 * d, dilation=d) for d in dilations
        )
        self.films = nn.ModuleList(_Film(width) for _ in dilations)
        self.out = nn.Conv1d(width, 4, 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.inp(z)
        for conv, film in zip(self.convs, self.films, strict=True):
            y = film(conv(h)[..., None], cond)[..., 0]
            h = h + self.act(y)
        return self.out(h)


#: the largest Tukey h of :attr:`GeneratorConfig.heavy_tails` (h < 0.5 keeps the variance
#: finite)
MAX_TAIL = 0.45


class NoiseGenerator(nn.Module):
    """Gaussian input -> normalised packed dark noise (N, 4, H, W), conditioned on the ISO."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GeneratorConfig()
        w = config.width
        self.pix_in = nn.Conv2d(4, w, 3, padding=1)
        self.pix_film_in = _Film(w)
        self.pix_layers = nn.ModuleList(nn.Conv2d(w, w, 1) for _ in range(config.depth))
        self.pix_films = nn.ModuleList(_Film(w) for _ in range(config.depth))
        self.pix_out = nn.Conv2d(w, 4, 3, padding=1)
        self.rows = _LineBranch(config.line_width, config.dilations)
        self.cols = _LineBranch(config.line_width, config.dilations)
        self.offset = nn.Sequential(nn.Linear(1, 16), nn.SiLU(), nn.Linear(16, 4))
        self.act = nn.LeakyReLU(0.2)
        if config.heavy_tails:  # h = MAX_TAIL * sigmoid(tail): 0.25 at the start
            self.tail = nn.Parameter(torch.full((4,), -math.log(MAX_TAIL / 0.25 - 1)))

    def forward(
        self,
        cond: torch.Tensor,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``cond`` (N,) normalised log ISO; returns (N, 4, height, width)."""
        n = cond.shape[0]
        device = cond.device
        # drawn on the generator's device (it may not be the network's), then moved
        kw = {"generator": generator, "device": generator.device if generator else device}
        z = torch.randn((n, 4, height, width), **kw).to(device)
        if self.config.heavy_tails:
            tail_h = MAX_TAIL * torch.sigmoid(self.tail)[None, :, None, None]
            z = z * torch.exp(tail_h * z * z / 2)
        zr = torch.randn((n, 2, height), **kw).to(device)
        zc = torch.randn((n, 2, width), **kw).to(device)
        h = self.act(self.pix_film_in(self.pix_in(z), cond))
        for layer, film in zip(self.pix_layers, self.pix_films, strict=True):
            h = h + self.act(film(layer(h), cond))
        pixels = self.pix_out(h)
        rows = self.rows(zr, cond)[..., None]  # (N, 4, H, 1)
        cols = self.cols(zc, cond)[:, :, None, :]  # (N, 4, 1, W)
        offset = self.offset(cond.reshape(-1, 1))[:, :, None, None]
        return pixels + rows + cols + offset


def log_power(x: torch.Tensor) -> torch.Tensor:
    """log of the 2-D power spectrum per channel (N, C, H, W//2+1), mean removed."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    spec = torch.fft.rfft2(x, norm="ortho")
    return torch.log(spec.real**2 + spec.imag**2 + 1e-6)


class FourierCritic(nn.Module):
    """WGAN critic with a spatial branch and a Fourier-domain branch, told the ISO."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def branch(cin: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin + 1, width, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, width, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(2 * width, 2 * width, 3, padding=1),
                nn.LeakyReLU(0.2),
            )

        self.spatial = branch(4)
        self.fourier = branch(4)
        # row and column means: banding and column pattern, seen directly
        self.lines = nn.Sequential(
            nn.Conv1d(8 + 1, width, 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 5, padding=4, dilation=2),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(4 * width + width, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        c = cond.reshape(n, 1, 1, 1)
        a = self.spatial(torch.cat([x, c.expand(n, 1, h, w)], 1)).mean(dim=(2, 3))
        p = log_power(x)
        b = self.fourier(torch.cat([p, c.expand(n, 1, *p.shape[2:])], 1)).mean(dim=(2, 3))
        size = min(h, w)
        lines = torch.cat([x.mean(3)[..., :size], x.mean(2)[..., :size]], 1)
        lines = torch.cat([lines, cond.reshape(n, 1, 1).expand(n, 1, size)], 1)
        d = self.lines(lines).mean(dim=2)
        return self.head(torch.cat([a, b, d], 1)).squeeze(1)


@dataclass
class LearnedNoise:
    """A trained generator with its ISO normalisation: samples dark noise in DN above black;
    with ``hot``, plus the camera's hot pixels, scattered (:mod:`rawdenoise.noise.hot_pixels`)."""

    generator: NoiseGenerator
    norm: IsoNorm
    info: dict = field(default_factory=dict)
    hot: HotPixels | None = None

    @property
    def isos(self) -> tuple[float, ...]:
        return tuple(sorted(self.norm.isos))

    def sample_dn(
        self,
        iso: float | Sequence[float],
        height: int,
        width: int,
        *,
        count: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """(N, 4, H, W) float DN above black, before the ADC's rounding.

        ``iso`` is one ISO (then ``count`` frames) or one per frame.
        """
        isos = [float(iso)] * (count or 1) if isinstance(iso, (int, float)) else list(iso)
        if any(not (v > 0) for v in isos):
            raise ValueError("ISO must be positive")
        dev = self._device()  # the generator's device; the result moves to ``device``
        cond = torch.tensor([self.norm.condition(v) for v in isos], device=dev)
        stats = [self.norm.at(v) for v in isos]
        means = torch.tensor([m for m, _ in stats], device=dev)[:, :, None, None]
        stds = torch.tensor([s for _, s in stats], device=dev)[:, None, None, None]
        with torch.no_grad():
            x = self.generator(cond, height, width, generator=generator)
        out = x * stds + means
        if self.hot is not None:
            out += self.hot.sample(isos, height, width, generator=_cpu(generator), device=dev)
        return out if device is None else out.to(device)

    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def metadata(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "version": str(VERSION),
            "config": json.dumps(asdict(self.generator.config)),
            "norm": json.dumps(asdict(self.norm)),
            "info": json.dumps(self.info),
            **({"hot": json.dumps(self.hot.to_dict())} if self.hot is not None else {}),
        }

    def to_bytes(self) -> bytes:
        """safetensors weights with the config and normalisation in the metadata."""
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        return save(state, metadata=self.metadata())

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        """Write :meth:`to_bytes` atomically."""
        from rawdenoise.atomic import write_bytes_atomic

        write_bytes_atomic(path, self.to_bytes(), overwrite=overwrite)

    @classmethod
    def load(cls, path: Path, *, device: torch.device | str = "cpu") -> LearnedNoise:
        """Read a file :meth:`save` wrote; a damaged or foreign file is an InputError."""
        from safetensors import safe_open

        from rawdenoise.errors import InputError

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except FileNotFoundError as exc:
            raise InputError(f"learned noise model not found: {path}") from exc
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"{path} is not a learned noise model ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise InputError(f"{path} is not a learned noise model (no {FORMAT} metadata)")
        try:
            raw = json.loads(meta["config"])
            raw["dilations"] = tuple(raw["dilations"])
            raw.setdefault("heavy_tails", False)  # written before the option existed
            config = GeneratorConfig(**raw)
            n = json.loads(meta["norm"])
            norm = IsoNorm(
                isos=tuple(n["isos"]),
                means=tuple(tuple(m) for m in n["means"]),
                stds=tuple(n["stds"]),
            )
            info = json.loads(meta.get("info", "{}"))
            hot = HotPixels.from_dict(json.loads(meta["hot"])) if "hot" in meta else None
            gen = NoiseGenerator(config)
            gen.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{path}: damaged learned noise model ({exc})") from exc
        gen.to(device).eval()
        return cls(generator=gen, norm=norm, info=info, hot=hot)


def _cpu(generator: torch.Generator | None) -> torch.Generator | None:
    """``generator`` if it draws on the CPU (where hot pixels are drawn), else None."""
    return generator if generator is None or generator.device.type == "cpu" else None
