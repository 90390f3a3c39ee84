"""Noise synthesis: component statistics match the physics model, pair formation, cameras."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch

from rawdenoise.default_plugins.camera_profiles import PROFILES
from rawdenoise.errors import InputError
from rawdenoise.noise import (
    LED_VIRTUAL_RANGES,
    DarkFrameBank,
    NoiseSample,
    NoisyPairGenerator,
    ParametricCamera,
    VirtualCameras,
    row_noise,
    synthesize_dn,
    tukey_lambda_noise,
)
from rawdenoise.noise.params import color_bias_bins
from rawdenoise.specs import CameraProfile, LogLinear, NoiseParams

A7S2, D850, A7M4 = PROFILES


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sample(n: int, **values: float) -> NoiseSample:
    full = {k: torch.full((n,), float(v)) for k, v in values.items()}
    return NoiseSample(**full)


# ---- built-in profiles --------------------------------------------------------------------


def test_builtin_profiles_are_the_published_calibrations():
    assert [p.id for p in PROFILES] == ["sony-a7s2", "nikon-d850", "sony-a7m4"]
    for p in PROFILES:
        assert CameraProfile.from_dict(p.to_dict()) == p
        assert "LED" in p.source
    assert A7S2.noise.k_max == pytest.approx(6.010628535562261)
    assert D850.noise.tukey.slope == pytest.approx(0.4773896839219417)
    assert len(A7S2.noise.tukey_lambdas) == 16 and len(A7S2.noise.color_bias) == 18
    assert len(A7M4.noise.tukey_lambdas) == 30
    # LRD's per-ISO table: K = 9.563e-4 x ISO, 28 ISOs from 50 to 25600
    assert len(A7S2.iso_points) == 28
    assert A7S2.k_for_iso(3200) == pytest.approx(9.563e-4 * 3200)
    assert all(p.k == pytest.approx(9.563e-4 * p.iso) for p in A7S2.iso_points)
    assert A7S2.black_level == (512.0,) and D850.white_level == 16383
    assert A7S2.matches("SONY", "ILCE-7SM2") and not A7S2.matches("SONY", "ILCE-7M4")
    assert D850.matches("NIKON CORPORATION", "NIKON D850")
    assert A7M4.matches("Sony", "ILCE-7M4")


def test_profiles_module_is_torch_free():
    import subprocess
    import sys

    code = (
        "import sys, rawdenoise.default_plugins.camera_profiles as m; "
        "assert m.PROFILES; print('torch' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---- components -----------------------------------------------------------------------------


def test_variance_against_signal_has_slope_k():
    """Photon transfer of the full model: var = K * signal + read var + row var + 1/12."""
    k, read, row = 2.5, 3.0, 0.7
    levels = torch.tensor([0.0, 50.0, 200.0, 800.0, 2000.0])
    signal = levels.reshape(-1, 1, 1, 1).expand(5, 4, 128, 128).contiguous()
    params = sample(5, k=k, read_sigma=read, row_sigma=row)
    noisy = synthesize_dn(signal, params, "pgrq", generator=gen(1))
    var = (noisy - signal).var(dim=(1, 2, 3)).double()
    slope = np.polyfit(levels.numpy(), var.numpy(), 1)[0]
    n = 4 * 128 * 128
    # sampling error of a variance ~ var * sqrt(2 / n) (row noise adds a little)
    assert slope == pytest.approx(k, rel=0.03)
    assert var[0] == pytest.approx(read**2 + row**2 + 1 / 12, rel=0.05)
    assert var[-1] == pytest.approx(k * 2000 + read**2 + row**2 + 1 / 12, rel=4 * math.sqrt(2 / n))


def test_shot_noise_is_poisson_in_electrons():
    k = 0.5
    signal = torch.full((1, 4, 128, 128), 40.0)
    noisy = synthesize_dn(signal, sample(1, k=k), "p", generator=gen(2))
    electrons = noisy / k
    assert torch.allclose(electrons, electrons.round(), atol=1e-3)  # whole electrons
    assert electrons.mean().item() == pytest.approx(80, rel=0.01)
    assert electrons.var().item() == pytest.approx(80, rel=0.05)


def test_row_noise_follows_full_bayer_rows():
    sigma = 1.7
    rows = row_noise((6, 4, 512, 8), torch.full((6,), sigma), generator=gen(3), device="cpu")
    assert rows.shape == (6, 4, 512, 1)
    assert torch.equal(rows[:, 0], rows[:, 1]) and torch.equal(rows[:, 2], rows[:, 3])
    assert not torch.equal(rows[:, 0], rows[:, 2])
    values = torch.cat([rows[:, 0], rows[:, 2]]).double()
    n = values.numel()
    assert values.var().item() == pytest.approx(sigma**2, rel=4 * math.sqrt(2 / n))


def test_row_mean_variance_of_dark_frame_is_row_sigma_squared():
    """Row means of a synthesized dark frame: var = row sigma^2 + per-pixel variance / width."""
    read, row, w = 2.0, 0.8, 256
    dark = torch.zeros(4, 4, 256, w)
    noisy = synthesize_dn(
        dark, sample(4, k=1.0, read_sigma=read, row_sigma=row), "gr", generator=gen(4)
    )
    # full Bayer rows: channels 0,1 (even rows) and 2,3 (odd rows)
    means = torch.cat([noisy[:, 0:2].mean(dim=(1, 3)), noisy[:, 2:4].mean(dim=(1, 3))]).double()
    expected = row**2 + read**2 / (2 * w)
    assert means.var().item() == pytest.approx(expected, rel=4 * math.sqrt(2 / means.numel()))


@pytest.mark.parametrize("lam", [0.14, -0.12, 0.0])
def test_tukey_lambda_samples_follow_the_distribution(lam: float):
    y = tukey_lambda_noise(
        (1, 4, 128, 128), torch.tensor([2.0]), torch.tensor([lam]), generator=gen(5), device="cpu"
    )
    values = y.numpy().ravel() / 2.0
    assert np.isfinite(values).all()
    assert st.kstest(values, st.tukeylambda(lam).cdf).pvalue > 1e-3
    assert st.ppcc_max(values[:20000]) == pytest.approx(lam, abs=0.03)


def test_quantization_and_colour_bias():
    signal = torch.zeros(2, 4, 64, 64)
    bias = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.5, 9.0]])
    params = NoiseSample(k=torch.ones(2), color_bias=bias)
    noisy = synthesize_dn(signal, params, "qc", generator=gen(6))
    q = noisy - bias.reshape(2, 4, 1, 1)
    assert q.abs().max() <= 0.5
    assert q.var().item() == pytest.approx(1 / 12, rel=0.05)


def test_colour_bias_bins_are_linear_in_k():
    table = torch.arange(16 * 4, dtype=torch.float32).reshape(16, 4)
    k = torch.tensor([0.1, 0.1 + 29.9 / 16 * 3.5, 30.0, 100.0])
    picked = color_bias_bins(k, 0.1, 30.0, table)
    assert picked[:, 0].tolist() == [0.0, 12.0, 60.0, 60.0]


def test_unknown_noise_letters_and_two_read_noises_are_refused():
    with pytest.raises(ValueError, match="unknown noise"):
        NoisyPairGenerator.virtual(noise_type="ptx")
    with pytest.raises(ValueError, match="one read noise"):
        NoisyPairGenerator.from_profile(A7S2, noise_type="ptg")


# ---- parameter sampling ---------------------------------------------------------------------


def test_k_is_log_uniform_and_sigmas_follow_the_log_linear_fit():
    fit = LogLinear(0.6, 0.4, 0.25)
    cam = ParametricCamera(k_min=0.2, k_max=20.0, read=fit, row=LogLinear(0.5, -1.0, 0.0))
    params = cam.sample(20000, generator=gen(7))
    log_k = torch.log(params.k).double().numpy()
    lo, hi = math.log(0.2), math.log(20.0)
    assert log_k.min() >= lo - 1e-6 and log_k.max() <= hi + 1e-6
    assert st.kstest((log_k - lo) / (hi - lo), "uniform").pvalue > 1e-3
    resid = np.log(params.read_sigma.double().numpy()) - (0.6 * log_k + 0.4)
    assert resid.mean() == pytest.approx(0, abs=0.01)
    assert resid.std() == pytest.approx(0.25, rel=0.03)
    row_resid = np.log(params.row_sigma.double().numpy()) - (0.5 * log_k - 1.0)
    assert np.abs(row_resid).max() < 1e-5  # no spread when sigma = 0


def test_calibrated_camera_from_profile_at_an_iso():
    at_3200 = ParametricCamera.from_profile(A7S2, iso=3200).sample(3, generator=gen(8))
    point = next(p for p in A7S2.iso_points if p.iso == 3200)
    assert torch.allclose(at_3200.k, torch.tensor(point.k))
    assert torch.allclose(at_3200.read_sigma, torch.tensor(point.tl_sigma))
    assert torch.allclose(at_3200.tl_lambda, torch.tensor(point.tl_lambda))
    assert torch.allclose(at_3200.row_sigma, torch.tensor(point.row_sigma))
    between = ParametricCamera.from_profile(A7S2, iso=1100).sample(2, generator=gen(8))
    assert torch.allclose(between.k, torch.tensor(9.563e-4 * 1100))
    whole = ParametricCamera.from_profile(D850).sample(500, generator=gen(8))
    assert whole.k.min() >= D850.noise.k_min * 0.999 and whole.k.max() <= D850.noise.k_max * 1.001
    allowed = torch.tensor(D850.noise.tukey_lambdas, dtype=torch.float32)
    assert all((allowed - lam).abs().min() < 1e-6 for lam in whole.tl_lambda)
    with pytest.raises(ValueError, match="no per-ISO points"):
        ParametricCamera.from_profile(D850, iso=800)
    fixed = ParametricCamera.from_profile(D850, k=3.0).sample(2, generator=gen(8))
    assert torch.allclose(fixed.k, torch.tensor(3.0))


# ---- virtual cameras --------------------------------------------------------------------------


def test_virtual_cameras_cover_leds_ranges():
    cams = VirtualCameras.sample(5, generator=gen(9))
    assert len(cams) == 5
    tl_slopes = [c.read.slope for c in cams]
    assert tl_slopes == pytest.approx([0.4621, 0.5105, 0.5590, 0.6074, 0.6559], abs=1e-4)
    lambdas = [c.tukey_lambdas[0] for c in cams]
    assert lambdas == pytest.approx([-0.2429, -0.1321, -0.0214, 0.0893, 0.2000], abs=1e-4)
    rows = [c.row.bias for c in cams]
    assert rows == pytest.approx([-1.7977, -1.4962, -1.1947, -0.8932, -0.5917], abs=1e-4)
    assert all((c.k_min, c.k_max) == LED_VIRTUAL_RANGES["K"] for c in cams)
    biases = torch.tensor([c.color_bias for c in cams])
    assert biases.shape == (5, 16, 4)
    lo, hi = LED_VIRTUAL_RANGES["ColorBias"]["bias"]
    assert lo - 6 < biases.min() and biases.max() < hi + 6
    # a different count, a Gaussian read, a reproducible shuffle
    seven = VirtualCameras.sample(7, read_kind="gaussian", shuffle=True, generator=gen(10))
    again = VirtualCameras.sample(7, read_kind="gaussian", shuffle=True, generator=gen(10))
    assert len(seven) == 7 and seven.cameras == again.cameras
    slopes = sorted(c.read.slope for c in seven)
    assert slopes[0] == pytest.approx(LED_VIRTUAL_RANGES["Gaussian"]["slope"][0])


def test_virtual_state_dict_round_trip():
    cams = VirtualCameras.sample(5, generator=gen(11))
    state = cams.state_dict()
    assert {"tukey_lambdas", "read_slopes", "row_sigmas", "color_biases"} <= set(state)
    back = VirtualCameras.from_state_dict(state)
    for a, b in zip(cams, back, strict=True):
        assert b.read.slope == pytest.approx(a.read.slope, rel=1e-6)
        assert b.tukey_lambdas[0] == pytest.approx(a.tukey_lambdas[0], rel=1e-6)
        assert np.allclose(b.color_bias, a.color_bias, rtol=1e-6)


# ---- pair formation ---------------------------------------------------------------------------


def test_pair_formation_follows_leds_units():
    clean = torch.rand(3, 4, 32, 32, generator=gen(12)) * 1.2 - 0.1  # out of range on purpose
    scale = torch.tensor([[1000.0, 1100.0, 1200.0, 1300.0]]).expand(3, 4)
    ratio = torch.tensor([1.0, 10.0, 100.0])
    silent = NoisyPairGenerator(ParametricCamera.from_profile(A7S2), noise_type="")
    noisy, target = silent(clean, scale, ratio, generator=gen(13))
    assert torch.equal(target, clean.clamp(0, 1))
    assert torch.allclose(noisy, clean.clamp(0, 1), atol=1e-5)  # no noise: dark * ratio = clean
    noisy_gen = NoisyPairGenerator.from_profile(A7S2, iso=25600)
    pair = noisy_gen(torch.zeros(3, 4, 32, 32), scale, ratio, generator=gen(13))
    assert pair.noisy.max() <= 1.0
    assert pair.noisy.min() < 0  # no lower clip
    assert pair.camera == 0 and noisy_gen.num_cameras == 1
    # input = noise DN / scale * ratio: the same draw at ratio 1 is 100x smaller than at 100
    ones = noisy_gen(torch.zeros(3, 4, 32, 32), scale, 1.0, generator=gen(13)).noisy
    unclipped = pair.noisy[2] < 1.0
    assert torch.allclose(pair.noisy[2][unclipped], 100 * ones[2][unclipped], rtol=1e-4, atol=1e-5)


def test_per_channel_scale_sets_the_dark_signal():
    clean = torch.full((1, 4, 64, 64), 0.5)
    scale = torch.tensor([100.0, 200.0, 400.0, 800.0])
    pg = NoisyPairGenerator.from_profile(D850, k=2.0, noise_type="p")
    pair = pg(clean, scale, 1.0, generator=gen(14))
    dn = pair.noisy * scale.reshape(1, 4, 1, 1)
    # shot-noise variance in DN is K x signal, per channel
    var = dn.var(dim=(2, 3)).squeeze(0)
    assert torch.allclose(var, 2.0 * 0.5 * scale, rtol=0.1)


def test_noise_source_scale_is_per_channel_even_for_a_batch_of_four():
    """A (4,) scale is per image when N == 4; the training source must say "per channel"."""
    from rawdenoise.training.noise_source import NoiseSource

    scale = (100.0, 200.0, 400.0, 800.0)
    pg = NoisyPairGenerator.from_profile(D850, k=2.0, noise_type="p")
    source = NoiseSource(pg, scale, "profile", "test", branches=1)
    noisy, _ = source(torch.full((4, 4, 64, 64), 0.5), torch.ones(4), 0, gen(15))
    var = (noisy * torch.tensor(scale).reshape(1, 4, 1, 1)).var(dim=(2, 3))
    assert torch.allclose(var, (2.0 * 0.5 * torch.tensor(scale)).expand(4, 4), rtol=0.1)


def test_virtual_generator_reports_its_camera_and_is_reproducible():
    clean = torch.rand(2, 4, 32, 32, generator=gen(15))
    vg = NoisyPairGenerator.virtual(5, generator=gen(16))
    a = vg(clean, 15871.0, 150.0, generator=gen(17))
    b = NoisyPairGenerator.virtual(5, generator=gen(16))(clean, 15871.0, 150.0, generator=gen(17))
    assert torch.equal(a.noisy, b.noisy) and a.camera == b.camera
    c = vg(clean, 15871.0, 150.0, generator=gen(18))
    assert not torch.equal(a.noisy, c.noisy)
    cams = {vg.sample_params(1, 4, 4, generator=gen(s)).camera for s in range(40)}
    assert cams == set(range(5))
    forced = vg(clean, 15871.0, 150.0, camera=3, generator=gen(19))
    assert forced.camera == 3 and forced.params.tl_lambda[0] == pytest.approx(0.0893, abs=1e-4)
    with pytest.raises(ValueError, match="out of range"):
        vg(clean, 15871.0, 150.0, camera=5)
    with pytest.raises(ValueError, match="scale"):
        vg(clean, torch.ones(3), 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_generator_runs_on_gpu():
    device = torch.device("cuda")
    g = torch.Generator(device=device).manual_seed(0)
    vg = NoisyPairGenerator.virtual(5)
    clean = torch.rand(2, 4, 64, 64, device=device)
    pair = vg(clean, 16383.0 - 512, torch.tensor([100.0, 200.0], device=device), generator=g)
    assert pair.noisy.device.type == "cuda" and torch.isfinite(pair.noisy).all()


# ---- dark-frame bank --------------------------------------------------------------------------


def _dark_dngs(make_dng, isos=(800, 3200), frames=3, h=64, w=96):
    rng = np.random.default_rng(0)
    paths = []
    for iso in isos:
        for i in range(frames):
            mosaic = np.clip(np.rint(512 + rng.normal(2.0, iso / 400, (h, w))), 0, 16383)
            paths.append(
                make_dng(
                    f"dark_{iso}_{i}.dng",
                    h=h,
                    w=w,
                    black=512,
                    white=16383,
                    iso=iso,
                    mosaic=mosaic.astype(np.uint16),
                    folder=None,
                )
            )
    return paths


def test_dark_frame_bank_crops_real_frames(make_dng):
    from rawdenoise.rawio import read_raw

    paths = _dark_dngs(make_dng)
    bank = DarkFrameBank.from_files(paths)
    assert bank.isos == (800.0, 3200.0) and bank.frame_count(800) == 3
    assert bank.frame_shape == (32, 48)
    crops, isos = bank.sample(4, 16, 20, generator=gen(20))
    assert crops.shape == (4, 4, 16, 20) and set(isos.tolist()) <= {800.0, 3200.0}
    frames = [read_raw(p).packed().astype(np.float32) - 512 for p in paths]
    for crop in crops.numpy():  # every crop is a window of one real frame
        found = False
        for f in frames:
            for y in range(32 - 16 + 1):
                for x in range(48 - 20 + 1):
                    if np.array_equal(f[:, y : y + 16, x : x + 20], crop):
                        found = True
                        break
                if found:
                    break
            if found:
                break
        assert found
    with pytest.raises(InputError, match="larger than the dark frames"):
        bank.sample(1, 64, 64)
    with pytest.raises(InputError, match="no dark frames at ISO"):
        bank.sample(1, 8, 8, iso=100)


def test_dark_bank_shading_removal_and_pairs(make_dng):
    paths = _dark_dngs(make_dng, isos=(1600,), frames=4)
    removed = DarkFrameBank.from_files(paths, shading="remove")
    kept = DarkFrameBank.from_files(paths)
    a, _ = kept.sample(64, 32, 48, generator=gen(21))
    b, _ = removed.sample(64, 32, 48, generator=gen(21))
    assert a.mean().item() == pytest.approx(2.0, abs=0.2)  # the black-level error is kept
    assert abs(b.mean().item()) < 0.05  # ... or removed with the shading
    assert b.var().item() == pytest.approx(a.var().item(), rel=0.1)  # rescaled residual
    with pytest.raises(InputError, match="at least 2 dark frames"):
        DarkFrameBank.from_files(paths[:1], shading="remove")
    # pairs: clean = 0 gives exactly the dark crop (shot noise of nothing is nothing)
    pg = NoisyPairGenerator.from_dark_frames(kept, {1600: 1.5})
    pair = pg(torch.zeros(2, 4, 32, 48), 16383.0 - 512, 1.0, generator=gen(22))
    assert torch.allclose(pair.noisy * (16383 - 512), pair.params.independent, atol=1e-3)
    assert torch.allclose(pair.params.k, torch.tensor(1.5))
    bright = pg(torch.full((2, 4, 32, 48), 0.2), 16383.0 - 512, 1.0, generator=gen(23))
    resid = bright.noisy * (16383 - 512) - 0.2 * (16383 - 512) - bright.params.independent
    assert resid.var().item() == pytest.approx(1.5 * 0.2 * (16383 - 512), rel=0.05)
    with pytest.raises(InputError, match="no system gain"):
        NoisyPairGenerator.from_dark_frames(kept, {800: 1.0})


def test_dark_bank_k_from_a_profile(make_dng):
    noise = NoiseParams(
        k_min=0.5,
        k_max=5.0,
        tukey=LogLinear(0.5, 0.1),
        gaussian=LogLinear(0.5, 0.2),
        row=LogLinear(0.5, -1.0),
    )
    from rawdenoise.specs import IsoPoint

    profile = CameraProfile(
        id="t",
        make="Test",
        model="Cam",
        noise=noise,
        iso_points=(IsoPoint(800, 0.8, 1.0), IsoPoint(3200, 3.2, 2.0)),
    )
    bank = DarkFrameBank.from_files(_dark_dngs(make_dng, frames=2))
    pg = NoisyPairGenerator.from_dark_frames(bank, profile, iso=3200)
    pair = pg(torch.zeros(1, 4, 16, 16), 1000.0, 1.0, generator=gen(24))
    assert pair.params.k.item() == pytest.approx(3.2) and pair.params.iso.item() == 3200


def test_an_empty_noise_type_is_refused_but_a_direct_generator_may_be_silent():
    from rawdenoise.noise import check_noise_type

    for build in (
        lambda: check_noise_type(""),
        lambda: NoisyPairGenerator.virtual(noise_type=""),
        lambda: NoisyPairGenerator.from_profile(A7S2, noise_type=""),
    ):
        with pytest.raises(ValueError, match="empty") as info:
            build()
        assert "p (shot)" in str(info.value)  # says which letters are valid
    assert check_noise_type("", allow_empty=True) == ""
    assert NoisyPairGenerator(ParametricCamera.from_profile(A7S2), noise_type="").noise_type == ""
