"""Statistics that judge a dark-noise model against real dark frames (numpy only).

All take frames as (N, 4, H, W) arrays in DN above black, integers as the ADC writes them (a
model's samples are rounded the same way before they are compared). The four numbers of
:func:`compare` are the ones ``calibrate --learn-noise`` reports:

- ``kl``: KL divergence KL(real || model) of the pixel-value histograms, per channel, averaged.
  The bins are 1 DN wide over the real frames' 0.05-99.95 % range (merged to at most 256 bins),
  plus one bin for each tail so that hot pixels and heavy tails count.
- ``row_std`` and ``col_std``: the standard deviation of the row means (banding) and of the
  column means (column pattern), averaged over frames and channels.
- ``spectrum``: the mean absolute difference of the log10 power spectra (2-D, per channel,
  averaged over frames): spatial correlation and 1/f banding show up there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

#: Probability given to an empty bin so that KL stays finite.
_FLOOR = 1e-6
_MAX_BINS = 256


@dataclass(frozen=True)
class NoiseStats:
    """A model's statistics and their distance to the real frames' (``real_*``)."""

    kl: float
    row_std: float
    col_std: float
    spectrum: float
    real_row_std: float
    real_col_std: float

    @property
    def row_error(self) -> float:
        return abs(self.row_std - self.real_row_std)

    @property
    def col_error(self) -> float:
        return abs(self.col_std - self.real_col_std)

    def distances(self) -> dict[str, float]:
        """The four numbers to minimise: KL, |row std - real|, |col std - real|, spectrum."""
        return {
            "kl": self.kl,
            "row_std": self.row_error,
            "col_std": self.col_error,
            "spectrum": self.spectrum,
        }

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[1] != 4:
        raise ValueError(f"need (N, 4, H, W) frames, got shape {frames.shape}")
    return frames


def histogram_edges(real: np.ndarray) -> np.ndarray:
    """Bin edges for one channel: 1 DN bins (merged if too many) plus two tail bins."""
    lo, hi = np.quantile(real, [0.0005, 0.9995])
    lo, hi = np.floor(lo) - 0.5, np.ceil(hi) + 0.5
    n = int(hi - lo)
    step = max(1, int(np.ceil(n / _MAX_BINS)))
    inner = np.arange(lo, hi + step, step, dtype=np.float64)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def histogram_kl(real: np.ndarray, model: np.ndarray) -> float:
    """KL(real || model) of the per-channel pixel histograms, averaged over channels."""
    real, model = _check(real), _check(model)
    values = []
    for c in range(4):
        edges = histogram_edges(real[:, c])
        p = np.histogram(real[:, c], edges)[0].astype(np.float64)
        q = np.histogram(model[:, c], edges)[0].astype(np.float64)
        p = p / p.sum() + _FLOOR
        q = q / q.sum() + _FLOOR
        p, q = p / p.sum(), q / q.sum()
        values.append(float(np.sum(p * np.log(p / q))))
    return float(np.mean(values))


def row_mean_std(frames: np.ndarray) -> float:
    """Std over rows of each row's mean, averaged over frames and channels (banding)."""
    return float(_check(frames).mean(axis=3).std(axis=2, ddof=1).mean())


def col_mean_std(frames: np.ndarray) -> float:
    """Std over columns of each column's mean, averaged over frames and channels."""
    return float(_check(frames).mean(axis=2).std(axis=2, ddof=1).mean())


def log_power_spectrum(frames: np.ndarray) -> np.ndarray:
    """Mean over frames of the log10 2-D power spectrum per channel, (4, H, W // 2 + 1)."""
    x = _check(frames)
    x = x - x.mean(axis=(2, 3), keepdims=True)
    power = np.abs(np.fft.rfft2(x)) ** 2 / (x.shape[2] * x.shape[3])
    return np.log10(power.mean(axis=0) + 1e-12)


def spectrum_distance(real: np.ndarray, model: np.ndarray) -> float:
    """Mean |log10 P_real - log10 P_model| over frequencies and channels (DC excluded)."""
    a, b = log_power_spectrum(real), log_power_spectrum(model)
    if a.shape != b.shape:
        raise ValueError(f"spectra of different sizes: {a.shape[1:]} and {b.shape[1:]}")
    diff = np.abs(a - b)
    diff[:, 0, 0] = 0
    return float(diff.sum() / (diff.size - diff.shape[0]))


def radial_spectrum(frames: np.ndarray, bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged log10 power (for plots): (frequencies in cycles/px, log10 power)."""
    spec = 10 ** log_power_spectrum(frames)
    h, w = spec.shape[1], (spec.shape[2] - 1) * 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.hypot(fy, fx)
    edges = np.linspace(0, 0.5 * np.sqrt(2), bins + 1)
    idx = np.clip(np.digitize(radius, edges) - 1, 0, bins - 1)
    total = np.bincount(idx.ravel(), spec.mean(axis=0).ravel(), bins)
    count = np.bincount(idx.ravel(), minlength=bins)
    keep = count > 0
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres[keep], np.log10(total[keep] / count[keep] + 1e-12)


def compare(real: np.ndarray, model: np.ndarray) -> NoiseStats:
    """Statistics of ``model`` frames against ``real`` ones (same frame size)."""
    return NoiseStats(
        kl=histogram_kl(real, model),
        row_std=row_mean_std(model),
        col_std=col_mean_std(model),
        spectrum=spectrum_distance(real, model),
        real_row_std=row_mean_std(real),
        real_col_std=col_mean_std(real),
    )


def wins(learned: NoiseStats, parametric: NoiseStats) -> dict[str, bool]:
    """Per statistic: is the learned model strictly closer to the real frames?"""
    a, b = learned.distances(), parametric.distances()
    return {key: a[key] < b[key] for key in a}


def summary(per_iso: Mapping[float, tuple[NoiseStats, NoiseStats]]) -> str:
    """A plain-text table (ISO, statistic, learned, parametric) for logs and benchmarks."""
    lines = [f"{'ISO':>7} {'statistic':>10} {'learned':>10} {'parametric':>10}"]
    for iso, (learned, parametric) in per_iso.items():
        a, b = learned.distances(), parametric.distances()
        for key in a:
            lines.append(f"{iso:>7g} {key:>10} {a[key]:>10.4f} {b[key]:>10.4f}")
    return "\n".join(lines)
