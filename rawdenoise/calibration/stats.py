"""Numerical estimators of the noise model from dark and flat frames (numpy/scipy).

Frames are packed (4, H, W) float arrays in DN above black (R, G1, B, G2): channels 0 and 1
come from the even Bayer rows, 2 and 3 from the odd ones, which is what row noise follows.

- Photon transfer (:func:`photon_transfer_points`, :func:`fit_photon_transfer`): the temporal
  variance of a tile is ``var(a - b) / 2`` for two frames ``a``, ``b`` of the same scene and
  exposure, which cancels fixed-pattern noise (PRNU, dark shading) and the scene itself. Tiles
  with a clipped pixel are dropped. ``var = K * mean + c`` is fitted by iteratively reweighted
  least squares (a tile variance's spread grows with the variance) with outlier rejection.
- Dark frames (:func:`dark_frame_stats`, ELD's method, method.md §6.4): colour bias = channel
  means; row noise from the row means; read noise on the row-removed residual: Gaussian sigma
  and Tukey-lambda scale from probability-plot slopes, lambda by PPCC maximisation.
  Corrections ELD lacks: the row-mean variance minus the per-pixel part (``var / width``), and
  Sheppard's correction for the 1-DN quantization (``sigma^2 - 1/12``), so that the values are
  the model's parameters, before the ADC rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.special

#: Variance of the rounding error of a 1-DN ADC.
QUANT_VAR = 1.0 / 12.0
#: Lambda search interval of the PPCC maximisation (covers every published camera).
LAMBDA_RANGE = (-0.5, 0.5)


# ---- photon transfer --------------------------------------------------------------------------


@dataclass
class TransferPoints:
    """Per-tile (mean signal, temporal variance) for each of the 4 channels."""

    means: list[np.ndarray] = field(default_factory=lambda: [np.empty(0)] * 4)
    variances: list[np.ndarray] = field(default_factory=lambda: [np.empty(0)] * 4)
    counts: list[np.ndarray] = field(default_factory=lambda: [np.empty(0)] * 4)
    tiles: int = 0  #: tiles looked at
    clipped: int = 0  #: tiles dropped for a clipped pixel

    def extend(self, other: TransferPoints) -> None:
        for c in range(4):
            self.means[c] = np.concatenate([self.means[c], other.means[c]])
            self.variances[c] = np.concatenate([self.variances[c], other.variances[c]])
            self.counts[c] = np.concatenate([self.counts[c], other.counts[c]])
        self.tiles += other.tiles
        self.clipped += other.clipped

    @property
    def count(self) -> int:
        return int(self.means[0].size)

    def pooled(self) -> TransferPoints:
        """One point per channel: the average of every tile (the dark-frame anchor)."""
        out = TransferPoints()
        for c in range(4):
            n = self.means[c].size
            if n:
                out.means[c] = np.array([self.means[c].mean()])
                out.variances[c] = np.array([self.variances[c].mean()])
                out.counts[c] = np.array([float(n)])
        out.tiles, out.clipped = self.tiles, self.clipped
        return out


def _tiles(x: np.ndarray, tile: int) -> np.ndarray:
    """(C, H, W) -> (C, nH, nW, tile*tile) after cropping to whole tiles."""
    c, h, w = x.shape
    nh, nw = h // tile, w // tile
    x = x[:, : nh * tile, : nw * tile]
    return x.reshape(c, nh, tile, nw, tile).transpose(0, 1, 3, 2, 4).reshape(c, nh, nw, -1)


def photon_transfer_points(
    a: np.ndarray,
    b: np.ndarray | None,
    *,
    low: np.ndarray,
    high: np.ndarray,
    tile: int = 16,
) -> TransferPoints:
    """Tile statistics of one frame pair (``b`` None: one frame, spatial variance).

    ``a``/``b`` are packed frames in DN above black; a tile is dropped when any of its pixels
    in either frame comes within 3 sigma of ``low`` or ``high`` (per channel, in the same
    units): clipping flattens the variance. With a pair, ``b`` is first scaled to ``a``'s mean
    per channel so that a small exposure difference does not leave the scene in ``a - b``.
    """
    a = a.astype(np.float64, copy=False)
    ta = _tiles(a, tile)
    lo = low.reshape(4, 1, 1)
    hi = high.reshape(4, 1, 1)
    top, bottom = ta.max(axis=3), ta.min(axis=3)
    if b is not None:
        b = b.astype(np.float64, copy=False)
        tb = _tiles(b, tile)
        top = np.maximum(top, tb.max(axis=3))
        bottom = np.minimum(bottom, tb.min(axis=3))
        ma = a.mean(axis=(1, 2))
        mb = b.mean(axis=(1, 2))
        gain = np.where(np.abs(mb) > 1e-6, ma / np.where(np.abs(mb) > 1e-6, mb, 1), 1.0)
        tb = tb * gain.reshape(4, 1, 1, 1)
        means = 0.5 * (ta.mean(axis=3) + tb.mean(axis=3))
        variances = (ta - tb).var(axis=3, ddof=1) / 2
    else:
        means = ta.mean(axis=3)
        variances = ta.var(axis=3, ddof=1)
    # a tile whose values come within 3 sigma of a clip level is truncated (its variance too
    # low) even when no pixel is clipped yet: leave it out as well
    margin = 3 * np.sqrt(np.maximum(variances, 0))
    bad = (top >= hi - margin) | (bottom <= lo + margin)
    bad_any = bad.any(axis=0)  # drop the tile in every channel (it is one sensor area)
    keep = ~bad_any
    out = TransferPoints()
    out.means = [means[c][keep] for c in range(4)]
    out.variances = [variances[c][keep] for c in range(4)]
    out.counts = [np.ones(int(keep.sum())) for _ in range(4)]
    out.tiles = int(bad_any.size)
    out.clipped = int(bad_any.sum())
    return out


@dataclass(frozen=True)
class LineFit:
    """``y = slope * x + intercept`` with its quality."""

    slope: float
    intercept: float
    r2: float
    residual_sigma: float  #: RMS residual
    n: int
    outliers: int = 0


def fit_photon_transfer(
    means: np.ndarray,
    variances: np.ndarray,
    *,
    tile_pixels: int,
    counts: np.ndarray | None = None,
    iterations: int = 6,
) -> LineFit:
    """Robust ``var = K * mean + c``: weights ``1 / predicted sd``, 5-sigma rejection.

    A tile variance from ``n`` pixels has a standard deviation of about ``var * sqrt(2/(n-1))``,
    which is what the weights and the rejection threshold use. ``counts`` says how many tiles
    each point averages (the dark-frame anchor is one point of many tiles); such points are
    weighted accordingly and never rejected.
    """
    x = np.asarray(means, dtype=np.float64)
    y = np.asarray(variances, dtype=np.float64)
    m = np.ones_like(x) if counts is None else np.asarray(counts, dtype=np.float64)
    if x.size < 3:
        raise ValueError("too few photon-transfer points")
    pinned = m > 1
    keep = np.isfinite(x) & np.isfinite(y)
    rel = math.sqrt(2.0 / max(tile_pixels - 1, 1)) / np.sqrt(m)
    slope, intercept = np.polyfit(x[keep], y[keep], 1)
    for _ in range(iterations):
        pred = np.maximum(slope * x + intercept, 1e-6)
        sd = pred * rel
        new_keep = np.isfinite(y) & ((np.abs(y - pred) <= 5 * sd) | pinned)
        if new_keep.sum() < 3:
            break
        keep = new_keep
        slope, intercept = np.polyfit(x[keep], y[keep], 1, w=1.0 / sd[keep])
    resid = y[keep] - (slope * x[keep] + intercept)
    ss_tot = float(((y[keep] - y[keep].mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 0.0
    return LineFit(
        slope=float(slope),
        intercept=float(intercept),
        r2=r2,
        residual_sigma=float(np.sqrt(np.mean(resid**2))),
        n=int(keep.sum()),
        outliers=int((~keep).sum()),
    )


def binned(
    means: np.ndarray, variances: np.ndarray, bins: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Average points in equal-count bins of the mean (for plots)."""
    if means.size == 0:
        return means, variances
    order = np.argsort(means)
    groups = np.array_split(order, min(bins, means.size))
    mx = np.array([means[g].mean() for g in groups if g.size])
    my = np.array([variances[g].mean() for g in groups if g.size])
    return mx, my


# ---- PPCC / Tukey lambda ---------------------------------------------------------------------


def uniform_order_medians(n: int) -> np.ndarray:
    """Filliben's approximation of the medians of uniform order statistics (as scipy)."""
    v = np.empty(n, dtype=np.float64)
    v[-1] = 0.5 ** (1.0 / n)
    v[0] = 1 - v[-1]
    i = np.arange(2, n)
    v[1:-1] = (i - 0.3175) / (n + 0.365)
    return v


class Ppcc:
    """Probability-plot correlation of a sample against Tukey-lambda distributions.

    The same objective as :func:`scipy.stats.ppcc_max` (Filliben's order-statistic medians,
    Pearson correlation with the sorted data); the sample is sorted once and the Tukey-lambda
    quantile function ``(u^l - (1-u)^l) / l`` is closed-form, so the curve and its maximum
    are cheap for large samples.
    """

    def __init__(self, sample: np.ndarray) -> None:
        x = np.sort(np.asarray(sample, dtype=np.float64).ravel())
        self.x = x
        self.n = x.size
        self.medians = uniform_order_medians(x.size)
        self._lu = np.log(self.medians)
        self._lv = np.log1p(-self.medians)
        self._xc = x - x.mean()
        self._xn = float(np.sqrt((self._xc**2).sum()))

    def quantiles(self, lam: float) -> np.ndarray:
        if abs(lam) < 1e-9:
            return self._lu - self._lv
        return (np.expm1(lam * self._lu) - np.expm1(lam * self._lv)) / lam

    def correlation(self, lam: float) -> float:
        q = self.quantiles(lam)
        qc = q - q.mean()
        denominator = float(np.sqrt((qc**2).sum()) * self._xn)
        if not denominator > 0:  # a constant sample correlates with nothing
            return 0.0
        return float((qc * self._xc).sum() / denominator)

    def curve(self, lambdas: Sequence[float]) -> np.ndarray:
        return np.array([self.correlation(float(lam)) for lam in lambdas])

    def best_lambda(
        self,
        grid: np.ndarray | None = None,
        values: np.ndarray | None = None,
    ) -> float:
        """The PPCC maximum: a grid search (or a given curve), refined by bounded Brent."""
        if grid is None:
            grid = np.linspace(*LAMBDA_RANGE, 21)
        if values is None:
            values = self.curve(grid)
        i = int(np.argmax(values))
        lo = grid[max(i - 1, 0)]
        hi = grid[min(i + 1, grid.size - 1)]
        res = scipy.optimize.minimize_scalar(
            lambda lam: -self.correlation(lam),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-4},
        )
        return float(res.x)

    def scale(self, lam: float) -> tuple[float, float]:
        """Least-squares slope and intercept of the probability plot (ELD's sigma_TL, mean)."""
        q = self.quantiles(lam)
        slope, intercept = np.polyfit(q, self.x, 1)
        return float(slope), float(intercept)

    def normal_scale(self) -> float:
        """Slope of the normal probability plot (ELD's sigma_Gs)."""
        q = scipy.special.ndtri(self.medians)
        return float(np.polyfit(q, self.x, 1)[0])


# ---- dark frames -----------------------------------------------------------------------------


@dataclass
class DarkStats:
    """Signal-independent noise of one ISO, in DN (model parameters, before quantization)."""

    color_bias: np.ndarray  #: (4,) channel means above black
    row_sigma: float
    read_sigma: float  #: Gaussian sigma (normal probability-plot slope)
    tl_sigma: float  #: Tukey-lambda scale
    tl_lambda: float
    temporal_read_sigma: float  #: from frame pairs: excludes dark shading
    pixel_std: float  #: standard deviation of the row-removed residual, quantization included
    ppcc_lambdas: np.ndarray
    ppcc_values: np.ndarray
    ppcc_max: float
    frames: int


def _row_removed(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Residual after channel means and full-Bayer-row means; the row means; within-row var.

    Returns the residual (4, H, W), the row means (2, H) of the even (channels 0, 1) and odd
    (2, 3) Bayer rows, and the unbiased per-pixel variance around the row means.
    """
    x = frame - frame.mean(axis=(1, 2), keepdims=True)
    pairs = np.stack([x[0:2], x[2:4]])  # (2 parities, 2 channels, H, W)
    rows = pairs.mean(axis=(1, 3))  # (2, H): one value per full Bayer row
    resid_rows = pairs - rows[:, None, :, None]
    per_row = pairs.shape[1] * pairs.shape[3]  # pixels in one Bayer row
    within = float((resid_rows**2).sum() / (resid_rows.size - rows.size))
    # read noise residual: ELD removes each packed row's mean per channel
    packed_rows = x - x.mean(axis=2, keepdims=True)
    w = x.shape[2]
    packed_rows *= math.sqrt(w / (w - 1))
    return packed_rows, rows, within / per_row


#: Pixel variance (DN^2, after row removal) below which dark frames count as noise-free.
NOISE_FREE_VAR = 1e-6


class NoiseFreeError(ValueError):
    """Dark frames without pixel noise (every pixel at its row's value): nothing to measure."""


def dark_frame_stats(
    frames: Sequence[np.ndarray],
    *,
    max_samples: int = 100_000,
    rng: np.random.Generator | None = None,
    ppcc_grid: np.ndarray | None = None,
) -> DarkStats:
    """ELD's dark-frame calibration of one ISO, with corrections (module docstring)."""
    if len(frames) < 1:
        raise ValueError("no dark frames")
    rng = rng or np.random.default_rng(0)
    biases, row_vars, residuals = [], [], []
    per_frame = max(max_samples // len(frames), 1)
    for frame in frames:
        f = frame.astype(np.float64, copy=False)
        biases.append(f.mean(axis=(1, 2)))
        resid, rows, pixel_part = _row_removed(f)
        row_vars.append(rows.var(ddof=1) - pixel_part)
        flat = resid.ravel()
        if flat.size > per_frame:
            flat = flat[rng.choice(flat.size, per_frame, replace=False)]
        residuals.append(flat)
    sample = np.concatenate(residuals)
    if not float(sample.var()) > NOISE_FREE_VAR:
        raise NoiseFreeError("the dark frames have no pixel noise")
    ppcc = Ppcc(sample)
    grid = ppcc_grid if ppcc_grid is not None else np.linspace(*LAMBDA_RANGE, 41)
    curve = ppcc.curve(grid)
    lam = ppcc.best_lambda(grid, curve)
    raw_tl, _ = ppcc.scale(lam)
    raw_gs = ppcc.normal_scale()
    var = float(sample.var())
    # Sheppard: the ADC's rounding adds 1/12 DN^2; the model adds it back as 'q'
    shrink = math.sqrt(max(var - QUANT_VAR, 1e-12) / var) if var > 0 else 1.0
    temporal = _temporal_sigma(frames)
    return DarkStats(
        color_bias=np.mean(biases, axis=0),
        row_sigma=math.sqrt(max(float(np.mean(row_vars)), 0.0)),
        read_sigma=raw_gs * shrink,
        tl_sigma=raw_tl * shrink,
        tl_lambda=lam,
        temporal_read_sigma=temporal,
        pixel_std=math.sqrt(var),
        ppcc_lambdas=grid,
        ppcc_values=curve,
        ppcc_max=ppcc.correlation(lam),
        frames=len(frames),
    )


def _temporal_sigma(frames: Sequence[np.ndarray]) -> float:
    """Per-pixel temporal standard deviation (row noise included) from consecutive pairs."""
    if len(frames) < 2:
        return float("nan")
    values = []
    for a, b in zip(frames[0::2], frames[1::2], strict=False):
        d = a.astype(np.float64) - b.astype(np.float64)
        d -= d.mean(axis=(1, 2), keepdims=True)
        values.append(float(d.var() / 2))
    return math.sqrt(max(float(np.mean(values)) - QUANT_VAR, 0.0))


# ---- log-linear fits ---------------------------------------------------------------------------


def fit_log_linear(k: Sequence[float], sigma: Sequence[float]) -> LineFit:
    """``log(sigma) = slope * log(K) + bias``; residual sigma = RMS residual (ELD)."""
    x = np.log(np.asarray(k, dtype=np.float64))
    y = np.log(np.maximum(np.asarray(sigma, dtype=np.float64), 1e-12))
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return LineFit(
        slope=float(slope),
        intercept=float(intercept),
        r2=r2,
        residual_sigma=float(np.sqrt(np.mean(resid**2))),
        n=int(x.size),
    )
