"""A simulated sensor whose dark frames have the structure a few parameters do not describe.

Used by the tests and benchmarks of the learned noise model (:mod:`rawdenoise.noise.learned`).
Its signal-independent noise, per ISO, in packed (4, H, W) DN above black:

- a colour bias per channel;
- a column fixed pattern (the same in every frame: it belongs to the sensor's columns);
- banding: one offset per full Bayer row with a 1/f power spectrum (channels 0, 1 share the
  even rows, 2, 3 the odd ones, as on a real sensor);
- read noise with heavy tails (Student's t, 3 degrees of freedom) that is spatially
  correlated (blurred along and across rows);
- hot pixels at fixed positions;
- amplifier glow that decays from one corner;
- the ADC's rounding and the black level.

Everything grows with the analog gain ``iso / base_iso``, the read noise partly (a part before
and a part after the amplifier). The project's parametric model (Gaussian/Tukey-lambda read
noise, white row noise, colour bias) fits these frames measurably wrong: it has no column
pattern, no 1/f spectrum, no spatial correlation and no hot pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SimulatedSensor:
    """A sensor of ``height`` x ``width`` packed pixels; ``seed`` fixes its fixed patterns."""

    height: int = 128
    width: int = 128
    black: int = 512
    white: int = 16383
    base_iso: float = 800.0
    seed: int = 0
    read_pre: float = 1.2  #: read noise before the amplifier, DN at base ISO (scales with gain)
    read_post: float = 1.0  #: read noise after the amplifier, DN (does not scale)
    column_sigma: float = 0.6  #: column fixed pattern, DN at base ISO
    banding_sigma: float = 0.8  #: 1/f row banding, DN at base ISO
    hot_fraction: float = 5e-4
    hot_mean: float = 30.0  #: mean hot-pixel excess, DN at base ISO
    glow: float = 4.0  #: amplifier glow at its corner, DN at base ISO
    glow_radius: float = 20.0  #: packed pixels

    def gain(self, iso: float) -> float:
        return float(iso) / self.base_iso

    def _fixed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sensor's column pattern (4, 1, W), hot-pixel map (4, H, W) and glow (1, H, W)."""
        rng = np.random.default_rng([self.seed, 7])
        columns = rng.standard_normal((4, 1, self.width))
        hot = np.zeros((4, self.height, self.width))
        mask = rng.random(hot.shape) < self.hot_fraction
        hot[mask] = self.hot_mean * (0.3 + rng.exponential(1.0, int(mask.sum())))
        yy, xx = np.mgrid[0 : self.height, 0 : self.width]
        distance = np.hypot(yy, self.width - 1 - xx)
        glow = np.exp(-distance / self.glow_radius)[None]
        return columns, hot, glow

    def color_bias(self, iso: float) -> np.ndarray:
        return np.array([0.5, -0.3, 0.8, 0.1]) * (1 + 0.2 * self.gain(iso))

    def noise_dn(self, iso: float, count: int, *, seed: int = 1) -> np.ndarray:
        """``count`` frames of signal-independent noise, float DN above black, before the ADC."""
        g = self.gain(iso)
        rng = np.random.default_rng([self.seed, seed, int(round(iso))])
        columns, hot, glow = self._fixed()
        h, w = self.height, self.width
        # read noise: Student t(3) scaled to unit variance, blurred along and across rows
        t = rng.standard_t(3, size=(count, 4, h + 2, w + 2)) / math.sqrt(3.0)
        kernel = np.array([0.35, 1.0, 0.35])
        blurred = (
            kernel[0] * t[..., :, :-2] + kernel[1] * t[..., :, 1:-1] + kernel[2] * t[..., :, 2:]
        )
        blurred = 0.6 * blurred[..., :-2, :] + blurred[..., 1:-1, :] + 0.6 * blurred[..., 2:, :]
        blurred /= math.sqrt((kernel**2).sum() * (1 + 2 * 0.6**2))
        read = math.hypot(self.read_pre * g, self.read_post) * blurred
        # 1/f banding: amplitude ~ f^-1/2 on the rfft of each parity's row series
        freqs = np.fft.rfftfreq(h)
        amplitude = np.zeros_like(freqs)
        amplitude[1:] = freqs[1:] ** -0.5
        spectrum = amplitude * (
            rng.standard_normal((count, 2, freqs.size))
            + 1j * rng.standard_normal((count, 2, freqs.size))
        )
        rows = np.fft.irfft(spectrum, n=h, axis=-1)
        rows *= self.banding_sigma * g / rows.std(axis=-1, keepdims=True).mean()
        banding = rows[:, (0, 0, 1, 1), :, None]
        frames = (
            self.color_bias(iso)[None, :, None, None]
            + read
            + banding
            + (self.column_sigma * g) * columns[None]
            + g * hot[None]
            + (self.glow * g) * glow[None]
        )
        return frames

    def dark_frames(self, iso: float, count: int, *, seed: int = 1) -> np.ndarray:
        """``count`` packed dark frames (count, 4, H, W) as the camera writes them (uint16 DN)."""
        dn = self.noise_dn(iso, count, seed=seed) + self.black
        return np.clip(np.rint(dn), 0, self.white).astype(np.uint16)

    def dark_dn(self, iso: float, count: int, *, seed: int = 1) -> np.ndarray:
        """Dark frames in DN above black (float64), the unit the statistics compare in."""
        return self.dark_frames(iso, count, seed=seed).astype(np.float64) - self.black

    def write_dark_dngs(
        self,
        folder: Path,
        isos: Sequence[float],
        count: int,
        *,
        seed: int = 1,
        make: str = "rawdenoise",
        model: str = "Synthetic",
        cfa: str = "RGGB",
    ) -> list[Path]:
        """Write ``count`` dark frames per ISO as DNG files (the camera's view of them)."""
        from rawdenoise.bayer import pattern_from_cfa, unpack_bayer
        from rawdenoise.dng import write_dng

        folder.mkdir(parents=True, exist_ok=True)
        pattern = pattern_from_cfa(cfa)
        paths = []
        for iso in isos:
            for i, frame in enumerate(self.dark_frames(iso, count, seed=seed)):
                path = folder / f"dark_iso{iso:g}_{i:02d}.dng"
                write_dng(
                    path,
                    unpack_bayer(frame, pattern),
                    cfa=cfa,
                    black_level=self.black,
                    white_level=self.white,
                    make=make,
                    model=model,
                    iso=iso,
                    exposure_time=1 / 100,
                    capture_time=f"2024:05:01 13:{len(paths) // 60 % 60:02d}:{len(paths) % 60:02d}",
                )
                paths.append(path)
        return paths
