"""The fidelity measures (rawdenoise.fidelity) and the training options that serve fidelity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, shift

from rawdenoise import fidelity
from rawdenoise.training.datasets import CleanCrops, ColourJitter
from rawdenoise.training.frames import PackedFrame


def _texture(seed: int = 0, side: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.random((side, side)), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    return np.stack([0.2 + 0.6 * base * g for g in (0.6, 1.0, 0.4, 1.0)]).astype(np.float32)


def test_plane_shift_measures_a_known_sub_pixel_displacement() -> None:
    plane = _texture()[1]
    moved = shift(plane, (0.1, -0.05), order=3, mode="nearest")
    dy, dx = fidelity.plane_shift(plane, moved)
    assert dy == pytest.approx(0.1, abs=0.01) and dx == pytest.approx(-0.05, abs=0.01)
    assert fidelity.plane_shift(plane, plane) == (0.0, 0.0)


def test_registration_error_sees_planes_moved_apart_but_not_a_shared_shift() -> None:
    x = _texture(1)
    together = np.stack([shift(p, (0.2, 0.2), order=3, mode="nearest") for p in x])
    apart = x.copy()
    apart[0] = shift(x[0], (0.0, 0.1), order=3, mode="nearest")  # red displaced: fringes
    assert fidelity.registration_error(together, x) < 0.01
    assert fidelity.registration_error(apart, x) > 0.05


def test_mean_ratios_are_per_plane_and_one_for_the_input_itself() -> None:
    x = _texture(2)
    out = x * np.array([1.5, 1.0, 0.6, 1.0], dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(fidelity.mean_ratios(x, x), 1.0)
    np.testing.assert_allclose(fidelity.mean_ratios(out, x), [1.5, 1.0, 0.6, 1.0], rtol=1e-6)


def test_nyquist_energy_and_grid_peak_find_a_checkerboard_and_a_dot_grid() -> None:
    x = _texture(3)
    yy, xx = np.mgrid[:96, :96]
    checker = x + 0.01 * ((yy + xx) % 2)[None]
    dots = x + 0.01 * ((yy % 4 == 0) & (xx % 4 == 0))[None]
    assert fidelity.nyquist_energy(checker) > 100 * fidelity.nyquist_energy(x)
    assert fidelity.grid_peak(dots) > 20 * fidelity.grid_peak(x)
    noise = x + np.random.default_rng(0).normal(0, 0.01, x.shape)
    assert fidelity.grid_peak(noise) < 20  # noise alone: no peak far above the median


def test_added_grid_sees_a_faint_dot_grid_but_not_denoising_or_the_inputs_own_pattern() -> None:
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:128, :128]
    flat = np.full((4, 128, 128), 0.05, dtype=np.float64)
    noisy = flat + rng.normal(0, 0.005, flat.shape)
    dots = flat + 0.002 * ((yy % 4 == 0) & (xx % 4 == 0))[None]  # 4% of the level
    assert fidelity.added_grid(noisy, flat) < 0.002  # denoising removes, adds nothing
    assert fidelity.added_grid(noisy, dots) > 0.03
    assert fidelity.added_grid(dots, dots) == 0.0  # content's own pattern, kept: not added
    # a near-black plane is judged against 1% of white, not against its own tiny level
    dark = np.full((4, 128, 128), 0.001) + 0.0001 * ((yy % 2) == 0)[None]
    assert fidelity.added_grid(np.full_like(dark, 0.001), dark) == pytest.approx(0.005, rel=0.01)


def test_mean_errors_are_relative_above_the_floor_and_absolute_below() -> None:
    ref = np.stack([np.full((8, 8), v) for v in (0.2, 0.002, 0.2, 0.2)])
    out = ref + np.array([0.002, 0.001, 0.0, -0.004])[:, None, None]
    np.testing.assert_allclose(fidelity.mean_errors(out, ref), [0.01, 0.1, 0.0, 0.02])


def test_colour_jitter_draws_exposure_and_red_blue_gains_in_range() -> None:
    jitter = ColourJitter(exposure=(0.5, 2.0), red=(0.5, 2.0), blue=(0.25, 4.0))
    gains = jitter.gains(4000, torch.Generator().manual_seed(0)).reshape(-1, 4)
    exposure, red, blue = gains[:, 1], gains[:, 0] / gains[:, 1], gains[:, 2] / gains[:, 1]
    assert torch.equal(gains[:, 1], gains[:, 3])  # the greens move together
    for values, (lo, hi) in ((exposure, (0.5, 2.0)), (red, (0.5, 2.0)), (blue, (0.25, 4.0))):
        assert values.min() >= lo * 0.999 and values.max() <= hi * 1.001
        # log-uniform: as many draws below the geometric middle as above it
        assert abs(float((values < math.sqrt(lo * hi)).float().mean()) - 0.5) < 0.05


def _crops(**kwargs) -> CleanCrops:
    data = np.full((4, 64, 64), 0.5, dtype=np.float32)
    frame = PackedFrame(path=None, data=data, black=(0.0,) * 4, white=(1.0,) * 4, camera="t")  # type: ignore[arg-type]
    return CleanCrops([frame], 32, (1, 300), **kwargs)


def test_clean_crops_log_ratio_sampling_spends_as_many_crops_below_17_as_above() -> None:
    _clean, _scale, ratio = _crops(ratio_sampling="log").batch(
        4000, torch.Generator().manual_seed(1)
    )
    assert ratio.min() >= 1 and ratio.max() <= 300
    assert abs(float((ratio < math.sqrt(300)).float().mean()) - 0.5) < 0.05
    _clean, _scale, uniform = _crops().batch(4000, torch.Generator().manual_seed(1))
    assert float((uniform < math.sqrt(300)).float().mean()) < 0.1  # LED's: mostly high ratios


def test_clean_crops_mixed_ratio_sampling_covers_low_ratios_and_keeps_dark_ones() -> None:
    _clean, _scale, ratio = _crops(ratio_sampling="mixed").batch(
        4000, torch.Generator().manual_seed(3)
    )
    assert ratio.min() >= 1 and ratio.max() <= 300
    low, dark = float((ratio < 10).float().mean()), float((ratio >= 100).float().mean())
    assert 0.15 < low < 0.25  # half the crops log-uniform: 40% of those below 10
    assert 0.38 < dark < 0.48  # (19% + 67%) / 2 at ratio 100 or more


def test_clean_crops_with_colour_jitter_change_each_crops_colour_and_clip_at_one() -> None:
    g = torch.Generator().manual_seed(2)
    plain, _s, _r = _crops().batch(64, g)
    jittered, _s, _r = _crops(colour=ColourJitter()).batch(64, torch.Generator().manual_seed(2))
    assert torch.equal(plain, torch.full_like(plain, 0.5))
    means = jittered.mean(dim=(2, 3))
    assert jittered.max() <= 1.0
    assert (means[:, 0] / means[:, 1]).std() > 0.2  # red/green varies from crop to crop
    assert torch.equal(means[:, 1], means[:, 3])


def test_noise_without_colour_bias_keeps_every_planes_mean_so_training_teaches_no_shift() -> None:
    """A network learns to subtract whatever offset its noisy inputs carry on average; only
    the colour-bias component ('c') has one, so ``--noise-type ptrq`` teaches no level shift."""
    from rawdenoise.noise import NoisyPairGenerator

    gen = NoisyPairGenerator.virtual(
        5, noise_type="ptrq", generator=torch.Generator().manual_seed(3)
    )
    biased = NoisyPairGenerator.virtual(
        5, noise_type="ptrqc", generator=torch.Generator().manual_seed(3)
    )
    clean = torch.full((64, 4, 128, 16), 0.2)  # many rows: row noise averages out too
    for camera in range(5):
        g = torch.Generator().manual_seed(camera)
        noisy, _ = gen(clean, 16383 - 512, 100.0, camera=camera, generator=g)
        ratio = noisy.mean(dim=(0, 2, 3)) / 0.2
        assert torch.all((ratio - 1).abs() < 0.01), (camera, ratio)
    offsets = []
    for camera in range(5):
        g = torch.Generator().manual_seed(camera)
        noisy, _ = biased(clean, 16383 - 512, 100.0, camera=camera, generator=g)
        offsets.append(float((noisy.mean(dim=(0, 2, 3)) / 0.2 - 1).abs().max()))
    assert max(offsets) > 0.01  # the colour bias does shift a plane's level at ratio 100


def test_binning_keeps_the_bayer_geometry_so_no_plane_reads_as_displaced() -> None:
    """A linear scene sampled on a Bayer mosaic, binned: new pixel (Y, X) must be the scene at
    old (2Y + 1, 2X + 1) in every plane. A plain 2x2 mean per plane puts blue and the second
    green half a new pixel too early, which the registration measure reads as 0.125 px."""
    from rawdenoise.bayer import RGGB, binned_2x2, pack_bayer

    side = 128
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    scene = lambda y, x: 0.3 + 0.004 * y + 0.007 * x  # noqa: E731
    packed = pack_bayer(scene(yy, xx), RGGB)
    got = binned_2x2(packed)
    ny, nx = got.shape[1:]
    big_y, big_x = np.mgrid[0 : 2 * ny, 0 : 2 * nx].astype(np.float64)
    want = pack_bayer(scene(2 * big_y + 1, 2 * big_x + 1), RGGB)
    np.testing.assert_allclose(got, want, atol=1e-12)
    # on curved content too the planes stay registered, where a plain 2x2 mean does not
    wavy = lambda y, x: 0.5 + 0.2 * np.sin(0.13 * y + 0.05 * x) * np.cos(0.09 * x)  # noqa: E731
    packed = pack_bayer(wavy(yy, xx), RGGB)
    truth = pack_bayer(wavy(2 * big_y + 1, 2 * big_x + 1), RGGB)
    assert fidelity.registration_error(binned_2x2(packed), truth) < 0.01
    plain = packed.reshape(4, side // 4, 2, side // 4, 2).mean(axis=(2, 4))
    assert fidelity.registration_error(plain[:, :ny, :nx], truth) > 0.1


def test_chromatic_shift_moves_red_and_blue_against_the_greens_only() -> None:
    """--augment-ca: red and blue land up to 0.4 packed px from where the greens are (a lens's
    lateral colour), the two greens stay together, and no plane is left sharper than another
    (all four are resampled at a shared random phase)."""
    from rawdenoise.training.datasets import ChromaticShift

    tex = torch.from_numpy(np.stack([_texture(5, 128)[1]] * 4))[None].repeat(16, 1, 1, 1)
    out = ChromaticShift(0.4).apply(tex, torch.Generator().manual_seed(0))
    assert out.shape == tex.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    red, greens = [], []
    for crop in out.numpy():
        g1 = crop[1]
        red.append(fidelity.plane_shift(g1, crop[0], border=8))
        greens.append(fidelity.plane_shift(g1, crop[3], border=8))
    red, greens = np.abs(np.array(red)), np.abs(np.array(greens))
    assert greens.max() < 0.01  # G2 moved exactly as G1
    assert 0.1 < red.mean() < 0.3 and red.max() <= 0.45  # uniform within +-0.4: mean 0.2
    still = ChromaticShift(0.0).apply(tex, torch.Generator().manual_seed(0)).numpy()
    assert max(abs(v) for c in still for v in fidelity.plane_shift(c[1], c[0], border=8)) < 0.01


def test_colour_offsets_are_zero_on_a_grey_scene_and_read_a_lenss_lateral_colour() -> None:
    """The benchmark tells the network's own geometry from content whose planes do not line
    up: on a grey scene sampled on a Bayer mosaic every plane sits on the green around it; a
    red plane drawn 0.2 packed px to the right (lateral colour) reads as that, the rest stay."""
    from rawdenoise.bayer import RGGB, pack_bayer

    side = 256
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    wavy = lambda y, x: 0.5 + 0.2 * np.sin(0.13 * y + 0.05 * x) * np.cos(0.09 * x)  # noqa: E731
    grey = fidelity.grey_scene(wavy(yy, xx), np.array([0.5, 1.0, 0.7, 1.0]))
    assert grey.shape == (4, side // 2, side // 2)
    np.testing.assert_allclose(grey[0], 0.5 * wavy(yy, xx)[0::2, 0::2])
    assert np.abs(fidelity.colour_offsets(grey)).max() < 0.01
    moved = grey.copy()
    moved[0] = pack_bayer(wavy(yy, xx - 0.4), RGGB)[0] * 0.5  # 0.4 mosaic px = 0.2 packed px
    offsets = fidelity.colour_offsets(moved)
    assert abs(offsets[0, 1] - 0.2) < 0.02 and abs(offsets[0, 0]) < 0.01
    assert np.abs(offsets[1:]).max() < 0.01
