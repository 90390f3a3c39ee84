"""Train a :class:`~rawdenoise.noise.learned.NoiseGenerator` on dark frames: WGAN-GP.

LRD's published recipe (method.md §9.2): WGAN-GP (gradient penalty 10), patch 64, Adam with
betas (0.5, 0.999), a cosine learning-rate schedule, a Fourier-domain critic. LRD adds
reconstruction and perceptual terms to the generator; here, so that a useful model is learned
on two CPU cores in minutes, the generator mainly matches batch statistics of the real patches
(normalised units), with the critic's adversarial term at a small weight:

- the sorted pixel values per channel (the 1-D Wasserstein distance of the marginals: the
  histogram, its heavy tails and hot pixels);
- the log of the mean power spectrum per channel (spatial correlation, 1/f banding);
- the log std of the row means and of the column means (banding, column pattern), and the
  log power spectrum of the row and column means on strips up to four patches long (the low
  frequencies of 1/f banding), with the correlation of the four channels' line means (which
  channels share a row's banding);
- the correlation of the four channels, and each channel's spatial autocorrelation at lags up
  to three pixels once the row and column means are out (the read noise's correlation).

Each iteration trains on one ISO (cycling through them), so that those statistics are the
ISO's own. Checkpoints (generator, critic, optimizers, random states) are written every
``checkpoint_every`` iterations and when Ctrl-C/SIGTERM stops the run, which then raises
:class:`~rawdenoise.training.loop.TrainingInterrupted`; ``resume=True`` continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from rawdenoise.noise.hot_pixels import HotPixels
from rawdenoise.noise.hot_pixels import fit as fit_hot_pixels
from rawdenoise.noise.learned import (
    FourierCritic,
    GeneratorConfig,
    IsoNorm,
    LearnedNoise,
    NoiseGenerator,
    log_power,
)

#: ``progress(done, total, losses)`` after each iteration.
ProgressFn = Callable[[int, int, dict[str, float]], None]


#: learning-rate multiplier of the generator's Tukey-h tail parameters (GeneratorConfig.
#: heavy_tails): at the network's rate they stay where they start
TAIL_LR_SCALE = 20.0


@dataclass(frozen=True)
class LearnConfig:
    iterations: int = 800
    batch: int = 8
    patch: int = 64
    lr: float = 5e-4
    final_lr_factor: float = 0.1  #: cosine decay to this fraction of ``lr`` (LRD: cosine)
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    gp_weight: float = 10.0
    adv_weight: float = 0.002  #: adversarial term of the generator loss
    stat_weight: float = 1.0  #: statistic-matching terms
    quantile_weight: float = 10.0  #: sorted-values term within the statistics
    #: spatial autocorrelation term within the statistics (:func:`spatial_correlation`)
    correlation_weight: float = 4.0
    critic_width: int = 16
    seed: int = 0
    checkpoint_every: int = 200
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

    def fingerprint(self, isos: tuple[float, ...]) -> dict:
        data = asdict(self)
        data.pop("checkpoint_every")
        data["isos"] = list(isos)
        return data


def iso_norm(frames: Mapping[float, np.ndarray]) -> IsoNorm:
    """Channel means and pixel std per ISO of (N, 4, H, W) DN frames."""
    isos = tuple(sorted(float(i) for i in frames))
    means, stds = [], []
    for iso in isos:
        x = np.asarray(frames[iso], dtype=np.float64)
        m = x.mean(axis=(0, 2, 3))
        means.append(tuple(float(v) for v in m))
        stds.append(float(max((x - m[None, :, None, None]).std(), 1e-3)))
    return IsoNorm(isos=isos, means=tuple(means), stds=tuple(stds))  # type: ignore[arg-type]


def _normalised(frames: Mapping[float, np.ndarray], norm: IsoNorm, device) -> list[torch.Tensor]:
    out = []
    for iso, mean, std in zip(norm.isos, norm.means, norm.stds, strict=True):
        x = torch.as_tensor(np.asarray(frames[iso], dtype=np.float32))
        x = (x - torch.tensor(mean).reshape(1, 4, 1, 1)) / std
        out.append(x.to(device))
    return out


def _crops(
    x: torch.Tensor, batch: int, patch: int, gen: torch.Generator, width: int | None = None
) -> torch.Tensor:
    """``batch`` random crops ``patch`` high and ``width`` (default ``patch``) wide."""
    width = patch if width is None else width
    n, _, h, w = x.shape
    idx = torch.randint(0, n, (batch,), generator=gen)
    ys = torch.randint(0, h - patch + 1, (batch,), generator=gen)
    xs = torch.randint(0, w - width + 1, (batch,), generator=gen)
    return torch.stack(
        [
            x[int(i), :, int(y) : int(y) + patch, int(x0) : int(x0) + width]
            for i, y, x0 in zip(idx, ys, xs, strict=True)
        ]
    )


def stat_loss(
    fake: torch.Tensor,
    real: torch.Tensor,
    quantile_weight: float = LearnConfig.quantile_weight,
    correlation_weight: float = LearnConfig.correlation_weight,
) -> torch.Tensor:
    """Sorted values + log mean spectrum + log row/column-mean std + channel correlation +
    spatial autocorrelation at small lags, per channel.

    The sorted values get the largest weight: the spectrum terms of one batch are noisy
    (a log periodogram), the marginal is what the histogram KL judges.
    """
    f = fake.transpose(0, 1).reshape(4, -1).sort(dim=1).values
    r = real.transpose(0, 1).reshape(4, -1).sort(dim=1).values
    quantiles = (f - r).abs().mean()
    spec_f = torch.log(torch.exp(log_power(fake)).mean(0) + 1e-6)
    spec_r = torch.log(torch.exp(log_power(real)).mean(0) + 1e-6)
    spectrum = (spec_f - spec_r).abs().mean()
    lines = fake.new_zeros(())
    for dim in (3, 2):
        sf = fake.mean(dim).std(dim=2).mean(0) + 1e-4
        sr = real.mean(dim).std(dim=2).mean(0) + 1e-4
        lines = lines + (torch.log(sf) - torch.log(sr)).abs().mean()
    channels = (channel_correlation(fake) - channel_correlation(real)).abs().mean()
    spatial = (spatial_correlation(fake) - spatial_correlation(real)).abs().mean()
    return (
        quantile_weight * quantiles
        + 0.5 * spectrum
        + 0.5 * lines
        + channels
        + correlation_weight * spatial
    )


#: the largest lag, in packed pixels, of :func:`spatial_correlation`
CORRELATION_REACH = 3


def spatial_correlation(x: torch.Tensor, reach: int = CORRELATION_REACH) -> torch.Tensor:
    """(4, L) autocorrelation of each channel of (N, 4, H, W) noise at the lags (dy, dx) of
    a half-plane up to ``reach`` (dy = 0 with dx > 0, and dy in 1..reach with |dx| <= reach),
    pooled over the batch, each frame's row and column means removed first (they are the line
    terms' business).

    The spectrum term sees the same thing, but one batch's log periodogram is so noisy that
    its gradient barely moved the generator: on the simulated sensor its lags came out 0.056
    off the sensor's on average (0.11 too weak two pixels along a row), 0.011 with this
    term. Pooled over a batch of 8 patches of 64 x 64, each lag is known to about 0.01.
    """
    x = x - x.mean(dim=3, keepdim=True)
    x = x - x.mean(dim=2, keepdim=True)
    var = x.pow(2).mean(dim=(0, 2, 3)) + 1e-8
    h, w = x.shape[2:]
    out = []
    for dy in range(reach + 1):
        for dx in range(-reach, reach + 1):
            if dy == 0 and dx <= 0:
                continue
            a = x[:, :, : h - dy, max(-dx, 0) : w - max(dx, 0)]
            b = x[:, :, dy:, max(dx, 0) : w - max(-dx, 0)]
            out.append((a * b).mean(dim=(0, 2, 3)) / var)
    return torch.stack(out, dim=1)


def channel_correlation(x: torch.Tensor) -> torch.Tensor:
    """The 4x4 correlation matrix of the channels of (N, 4, H, W) noise, each frame's channel
    means removed.

    None of the per-channel statistics sees it, and a generator left alone mixes its four
    output channels: on the simulated sensor, whose channels are independent but for the
    banding two of them share, it learned correlations of -0.3 to +0.4 (this term: within
    0.05 of the sensor's). The benchmark's denoiser trained on its samples went from 32.12 to
    32.51 dB (seed 0, 1,600 iterations; 32.93 on the parametric noise).
    """
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return torch.corrcoef(x.transpose(0, 1).reshape(x.shape[1], -1))


def line_loss(fake: torch.Tensor, real: torch.Tensor, dim: int) -> torch.Tensor:
    """Log power spectrum and std of the row (``dim`` 3) or column (``dim`` 2) means, per
    channel, and the correlation of the four channels' line means.

    Trained on tall (or wide) strips longer than the square patches, so that the low
    frequencies of 1/f banding, which a 64-pixel patch does not contain, are learned too. The
    correlation matters as much: a sensor's banding is one offset per full Bayer row, so the
    two channels of a packed row share it (0.94 on the simulated sensor). Without this term
    the generator's row means came out 0.42 correlated there and 0.59 between channels of
    different rows, and a denoiser trained on its samples lost 1.05 dB to banding where one
    trained on the parametric noise (shared rows, white spectrum) lost 0.74.
    """
    lf, lr = fake.mean(dim), real.mean(dim)  # (N, 4, L)
    pf = torch.fft.rfft(lf - lf.mean(2, keepdim=True), norm="ortho").abs().pow(2).mean(0)
    pr = torch.fft.rfft(lr - lr.mean(2, keepdim=True), norm="ortho").abs().pow(2).mean(0)
    spectrum = (torch.log(pf[:, 1:] + 1e-6) - torch.log(pr[:, 1:] + 1e-6)).abs().mean()
    std = (torch.log(lf.std(2).mean(0) + 1e-4) - torch.log(lr.std(2).mean(0) + 1e-4)).abs()
    channels = (channel_correlation(lf[..., None]) - channel_correlation(lr[..., None])).abs()
    return 0.5 * spectrum + std.mean() + channels.mean()


def _gradient_penalty(
    critic: FourierCritic, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor, gen
) -> torch.Tensor:
    alpha = torch.rand((real.shape[0], 1, 1, 1), generator=gen).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score = critic(mixed, cond)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def train_learned_noise(
    frames: Mapping[float, np.ndarray],
    config: LearnConfig | None = None,
    *,
    device: torch.device | str = "cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    info: dict | None = None,
) -> LearnedNoise:
    """Learn the dark noise of ``frames`` ({ISO: (N, 4, H, W) DN above black}).

    Frames must be at least ``config.patch`` packed pixels on each side.
    """
    from rawdenoise.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from rawdenoise.training.loop import TrainingInterrupted, _StopRequest

    config = config or LearnConfig()
    if not frames:
        raise ValueError("no dark frames to learn from")
    for iso, x in frames.items():
        if x.ndim != 4 or x.shape[1] != 4:
            raise ValueError(f"ISO {iso:g}: need (N, 4, H, W) frames, got {x.shape}")
        if min(x.shape[2:]) < config.patch:
            raise ValueError(
                f"ISO {iso:g}: frames of {x.shape[3]}x{x.shape[2]} packed pixels are smaller "
                f"than the {config.patch}-pixel patches"
            )
    device = torch.device(device)
    levels = iso_norm(frames).means  # each channel's dark level, hot pixels included
    hot, frames = fit_hot_pixels(frames)  # the generator learns the rest
    norm = iso_norm(frames)
    data = _normalised(frames, norm, device)
    conds = [norm.condition(iso) for iso in norm.isos]
    long_side = [
        (min(x.shape[2], 4 * config.patch), min(x.shape[3], 4 * config.patch)) for x in data
    ]

    torch.manual_seed(config.seed)
    gen_net = NoiseGenerator(config.generator).to(device)
    critic = FourierCritic(config.critic_width).to(device)
    tail = getattr(gen_net, "tail", None)  # GeneratorConfig.heavy_tails
    groups = [{"params": [p for p in gen_net.parameters() if p is not tail]}]
    if tail is not None:  # one number per channel, which the common step would barely move
        groups.append({"params": [tail], "scale": TAIL_LR_SCALE})
    opt_g = torch.optim.Adam(groups, lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas)
    data_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(config.seed + 2)
    fingerprint = config.fingerprint(norm.isos)
    start = 0
    if resume and checkpoint is not None and checkpoint.exists():
        ckpt = load_checkpoint(checkpoint, fingerprint)
        gen_net.load_state_dict(ckpt.model)
        critic.load_state_dict(ckpt.extra["critic"])
        opt_g.load_state_dict(ckpt.optimizer["generator"])  # type: ignore[index]
        opt_d.load_state_dict(ckpt.optimizer["critic"])  # type: ignore[index]
        data_gen.set_state(ckpt.rng["data"])
        noise_gen.set_state(ckpt.rng["noise"].to(noise_gen.get_state().device))
        start = ckpt.iteration

    def save(iteration: int) -> None:
        if checkpoint is None:
            return
        save_checkpoint(
            checkpoint,
            Checkpoint(
                iteration=iteration,
                stage=0,
                model=gen_net.state_dict(),
                optimizer={"generator": opt_g.state_dict(), "critic": opt_d.state_dict()},
                fingerprint=fingerprint,
                rng={"data": data_gen.get_state(), "noise": noise_gen.get_state().cpu()},
                extra={"critic": {k: v.detach().cpu() for k, v in critic.state_dict().items()}},
            ),
        )

    p = config.patch
    with _StopRequest().installed() as stop:
        for it in range(start, config.iterations):
            k = it % len(data)
            progress_frac = it / max(config.iterations - 1, 1)
            factor = config.final_lr_factor + (1 - config.final_lr_factor) * 0.5 * (
                1 + math.cos(math.pi * progress_frac)
            )
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = config.lr * factor * group.get("scale", 1.0)
            cond = torch.full((config.batch,), conds[k], device=device)
            d_loss = torch.zeros(())
            for _ in range(config.n_critic):
                real = _crops(data[k], config.batch, p, data_gen)
                with torch.no_grad():
                    fake = gen_net(cond, p, p, generator=noise_gen)
                gp = _gradient_penalty(critic, real, fake, cond, data_gen)
                d_loss = critic(fake, cond).mean() - critic(real, cond).mean()
                opt_d.zero_grad(set_to_none=True)
                (d_loss + config.gp_weight * gp).backward()
                opt_d.step()
            real = _crops(data[k], config.batch, p, data_gen)
            fake = gen_net(cond, p, p, generator=noise_gen)
            adv = -critic(fake, cond).mean()
            stats = stat_loss(fake, real, config.quantile_weight, config.correlation_weight)
            # strips as long as the frames allow (up to 4 patches): banding's low frequencies
            thin = max(p // 4, 4)
            tall = _crops(data[k], config.batch, long_side[k][0], data_gen, thin)
            fake_tall = gen_net(cond, long_side[k][0], thin, generator=noise_gen)
            wide = _crops(data[k], config.batch, thin, data_gen, long_side[k][1])
            fake_wide = gen_net(cond, thin, long_side[k][1], generator=noise_gen)
            stats = stats + line_loss(fake_tall, tall, 3) + line_loss(fake_wide, wide, 2)
            g_loss = config.adv_weight * adv + config.stat_weight * stats
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            done = it + 1
            if progress is not None:
                progress(
                    done,
                    config.iterations,
                    {"stat": stats.item(), "critic": d_loss.item(), "adv": adv.item()},
                )
            if stop.requested and done < config.iterations:
                save(done)
                where = f" (checkpoint {checkpoint})" if checkpoint is not None else ""
                raise TrainingInterrupted(
                    f"stopped by {stop.signal_name} after {done} of {config.iterations} "
                    f"iterations{where}",
                    hint="run again with --resume to continue" if checkpoint else None,
                )
            every = config.checkpoint_every
            if every and done % every == 0 and done < config.iterations:
                save(done)
    gen_net.eval()
    norm = centred(gen_net, norm, levels, hot, device, seed=config.seed)
    meta = dict(info or {})
    meta.update({"iterations": config.iterations, "seed": config.seed, "patch": p})
    return LearnedNoise(generator=gen_net, norm=norm, info=meta, hot=hot)


#: frames (of :data:`_CENTRE_SIDE` packed px) drawn per calibrated ISO to measure the
#: generator's own mean: its frame-to-frame spread is a few percent of a sigma, so 32 frames
#: pin the mean to well under 1% of a sigma
_CENTRE_FRAMES = 32
_CENTRE_SIDE = 128


def centred(
    gen_net: NoiseGenerator,
    norm: IsoNorm,
    levels: Sequence[Sequence[float]],
    hot: HotPixels | None,
    device: torch.device,
    *,
    seed: int = 0,
) -> IsoNorm:
    """``norm`` with each calibrated ISO's channel means moved so that the samples' mean (the
    generator's output plus the scattered hot pixels) is the dark frames' mean, ``levels``.

    The generator learns from random crops, and random crops see a frame's borders less often
    than its middle: where the dark level is not flat (amplifier glow in a corner, a warm
    edge) the crops' mean is not the frame's, and the generator learns the crops'. Hot pixels
    are scattered alike in the four channels, though a sensor's are not. A denoiser trained
    on such samples subtracts the wrong black level, and the black level matters more to it
    than any texture of the noise (the simulated sensor: 0.7 DN low at ISO 6400).
    """
    gen = torch.Generator(device=device).manual_seed(seed + 3)
    means = []
    for iso, level, std in zip(norm.isos, levels, norm.stds, strict=True):
        cond = torch.full((_CENTRE_FRAMES,), norm.condition(iso), device=device)
        with torch.no_grad():
            drift = gen_net(cond, _CENTRE_SIDE, _CENTRE_SIDE, generator=gen).mean(dim=(0, 2, 3))
        scattered = hot.level(iso) if hot is not None else 0.0
        shifted = [m - std * d - scattered for m, d in zip(level, drift.tolist(), strict=True)]
        means.append(tuple(float(v) for v in shifted))
    return replace(norm, means=tuple(means))


def sample_frames(
    model: LearnedNoise, iso: float, count: int, height: int, width: int, *, seed: int = 0
) -> np.ndarray:
    """``count`` frames (count, 4, H, W) in DN above black, rounded like the ADC's."""
    gen = torch.Generator(device=model._device()).manual_seed(seed)
    x = model.sample_dn(iso, height, width, count=count, generator=gen)
    return np.rint(x.double().cpu().numpy())
