"""Is a denoised frame faithful to its input? Level, colour, geometry and periodic artefacts.

PSNR after a gain correction hides what a photographer sees first: a colour cast (one Bayer
plane darker than it should be), colour fringes along edges (the planes displaced against one
another) and a regular dot grid on flat areas (energy at the packed array's Nyquist
frequency, the signature of transposed convolutions that did not learn to blend). Each
function here measures one of these on packed (4, H, W) arrays in R, G1, B, G2 order,
normalized as the network sees them; :mod:`tests/benchmarks/fidelity.py` applies them to real
held-out content.
"""

from __future__ import annotations

import numpy as np

PLANES = ("R", "G1", "B", "G2")


def plane_means(packed: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of each packed plane (optionally over the pixels where ``mask`` is true)."""
    x = np.asarray(packed, dtype=np.float64)
    if mask is None:
        return x.reshape(x.shape[0], -1).mean(axis=1)
    return np.array([plane[mask].mean() for plane in x])


def mean_ratios(output: np.ndarray, reference: np.ndarray, mask=None) -> np.ndarray:
    """Per plane, the output's mean over the reference's (1.0: level and colour kept)."""
    return plane_means(output, mask) / np.maximum(plane_means(reference, mask), 1e-12)


#: Below this level (a fraction of white) a mean error is judged in absolute terms: a plane
#: whose mean is 0.3% of white (the red plane under blue stage light) is 50% off when the
#: output is 0.15% of white brighter, a difference no rendering shows.
MEAN_FLOOR = 0.01


def mean_errors(output: np.ndarray, reference: np.ndarray, floor: float = MEAN_FLOOR) -> np.ndarray:
    """Per plane, ``|output mean - reference mean| / max(reference mean, floor)``: the relative
    error of the level, measured against ``floor`` (of white) for near-black planes."""
    want = plane_means(reference)
    return np.abs(plane_means(output) - want) / np.maximum(want, floor)


def plane_shift(reference: np.ndarray, moved: np.ndarray, border: int = 4) -> tuple[float, float]:
    """The sub-pixel (dy, dx) by which ``moved`` is displaced against ``reference`` (2-D).

    Least squares on the linearized difference: ``moved(p) ~ reference(p - d)``, so
    ``moved - reference ~ -grad(reference) . d``. Exact for small shifts of smooth content;
    gain differences are removed first (each plane scaled to the reference's mean), so that a
    level change does not read as a shift.
    """
    ref = np.asarray(reference, dtype=np.float64)
    mov = np.asarray(moved, dtype=np.float64)
    mov = mov * (ref.mean() / mov.mean()) if mov.mean() > 0 else mov
    gy, gx = np.gradient(ref)
    b = slice(border, -border) if border else slice(None)
    gy, gx, diff = gy[b, b].ravel(), gx[b, b].ravel(), (mov - ref)[b, b].ravel()
    a = np.stack([gy, gx], axis=1)
    normal = a.T @ a
    if np.linalg.cond(normal) > 1e12:
        return 0.0, 0.0  # flat content: no shift can be measured
    d = -np.linalg.solve(normal, a.T @ diff)
    return float(d[0]), float(d[1])


def relative_shifts(output: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each output plane's (dy, dx) against its own input plane, less the shift all four share
    (a shared shift moves the image, not the colours): shape (planes, 2)."""
    shifts = np.array([plane_shift(r, o) for r, o in zip(reference, output, strict=True)])
    return shifts - shifts.mean(axis=0)


def registration_error(output: np.ndarray, reference: np.ndarray) -> float:
    """The largest displacement (packed px) of an output plane against its own input plane,
    after removing the shift all four share."""
    return float(np.abs(relative_shifts(output, reference)).max())


def greens_at(packed: np.ndarray) -> np.ndarray:
    """Green at every plane's own sample positions (packed R, G1, B, G2, shape (4, H, W)): the
    mean of the four nearest samples of the other green plane(s), whose centre is exactly the
    sample's position (red: G1 left and right, G2 above and below; blue: the same, one sample
    later; each green: the four diagonal samples of the other green). Edges wrap around."""
    _, g1, _, g2 = np.asarray(packed, dtype=np.float64)

    def roll(plane: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return np.roll(plane, (dy, dx), axis=(0, 1))

    at_r = (g1 + roll(g1, 0, 1) + g2 + roll(g2, 1, 0)) / 4
    at_b = (g1 + roll(g1, -1, 0) + g2 + roll(g2, 0, -1)) / 4
    at_g1 = (g2 + roll(g2, 0, -1) + roll(g2, 1, 0) + roll(g2, 1, -1)) / 4
    at_g2 = (g1 + roll(g1, 0, 1) + roll(g1, -1, 0) + roll(g1, -1, 1)) / 4
    return np.stack([at_r, at_g1, at_b, at_g2])


def colour_offsets(packed: np.ndarray, border: int = 4) -> np.ndarray:
    """Where each plane of the *content* sits against the green around it, (dy, dx) packed px
    per plane, shape (planes, 2): lateral chromatic aberration, or edges of a colour that green
    does not share. Zero for a grey (or any single-colour) scene sampled on a Bayer mosaic.

    A network that draws a plane's structure from the greens when that plane is too noisy to
    trust moves it *towards* green, by a fraction of this offset: content with such offsets
    reads as "shift" in :func:`relative_shifts`, content without none (the benchmark prints
    both)."""
    x = np.asarray(packed, dtype=np.float64)
    b = border + 1  # the rolled edge samples are not the plane's neighbours
    return np.array(
        [plane_shift(g[b:-b, b:-b], p[b:-b, b:-b], 0) for g, p in zip(greens_at(x), x, strict=True)]
    )


def grey_scene(scene: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """A single-colour scene (2-D, mosaic resolution) sampled on an RGGB mosaic and packed,
    each plane times its gain: content whose colour planes line up exactly, so that any
    displacement a network leaves on it is the network's own geometry."""
    from rawdenoise.bayer import RGGB, pack_bayer

    h, w = scene.shape
    packed = pack_bayer(np.ascontiguousarray(scene[: h - h % 2, : w - w % 2]), RGGB)
    return packed * np.asarray(gains, dtype=packed.dtype)[:, None, None]


def _power(plane: np.ndarray) -> np.ndarray:
    """The power spectrum of a Hann-windowed plane (the window keeps the frame's own edges,
    which wrap around in a DFT, from leaking power into every frequency)."""
    h, w = plane.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    return np.abs(np.fft.fft2((plane - plane.mean()) * window)) ** 2


def nyquist_energy(packed: np.ndarray) -> float:
    """Power at the packed array's Nyquist row and column (period 2 packed px), summed over
    the planes: where a transposed convolution's checkerboard lives."""
    total = 0.0
    for plane in np.asarray(packed, dtype=np.float64):
        h, w = plane.shape
        h, w = h - h % 2, w - w % 2
        spectrum = _power(plane[:h, :w])
        total += spectrum[h // 2, :].sum() + spectrum[:, w // 2].sum() - spectrum[h // 2, w // 2]
    return float(total)


def grid_peak(packed: np.ndarray, periods: tuple[int, ...] = (2, 4)) -> float:
    """How far a regular dot grid stands out: the largest power at the frequencies of
    ``periods`` (packed px, along rows, columns and both) over the median power of the
    spectrum, for the worst plane. Noise and natural content give a few; a grid tens or more."""
    worst = 0.0
    for plane in np.asarray(packed, dtype=np.float64):
        h, w = plane.shape
        spectrum = _power(plane)
        median = float(np.median(spectrum)) or 1e-30
        for p in periods:
            if h % p or w % p:
                continue
            fy, fx = h // p, w // p
            for y, x in ((fy, 0), (0, fx), (fy, fx)):
                worst = max(worst, float(spectrum[y, x]) / median)
    return worst


def periodic_amplitude(plane: np.ndarray, period: int) -> float:
    """The largest deviation of the ``period`` x ``period`` pattern that repeats over a 2-D
    plane (the plane folded onto one cell and averaged): a regular dot grid of that period
    survives the averaging, content and noise average out."""
    x = np.asarray(plane, dtype=np.float64)
    h, w = (x.shape[0] // period) * period, (x.shape[1] // period) * period
    cell = x[:h, :w].reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    return float(np.abs(cell - cell.mean()).max())


def added_grid(inp: np.ndarray, output: np.ndarray, periods: tuple[int, ...] = (2, 4)) -> float:
    """The regular pattern (periods 2 and 4 packed px) an output has that its input had not,
    as a fraction of the local level (each plane's mean, at least :data:`MEAN_FLOOR`), worst
    plane. A denoiser removes such energy; a transposed-convolution grid adds it.

    Unlike :func:`grid_peak`, which divides by the spectrum's median and so grows as the noise
    goes (a clean flat window has almost nothing at other frequencies), this is in units of the
    picture: 0.01 is a pattern of 1% of the local level, about the least the eye sees on a flat
    area."""
    worst = 0.0
    for a, b in zip(np.asarray(inp), np.asarray(output), strict=True):
        level = max(float(np.mean(a)), MEAN_FLOOR)
        for p in periods:
            extra = periodic_amplitude(b, p) - periodic_amplitude(a, p)
            worst = max(worst, extra / level)
    return worst
