"""Pretraining losses: LED's L1, the mean squared error and the per-crop log L1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rawdenoise.training.losses import LEVEL_WEIGHT, training_loss


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros(2, 4, 8, 8)
    output = torch.empty(2, 4, 8, 8)
    output[0] = 0.01  # a crop the network nearly gets right (low noise)
    output[1] = 0.1  # a crop with ten times the error (very noisy)
    return output.requires_grad_(), target


def test_l1_is_the_plain_mean_absolute_error() -> None:
    output, target = _batch()
    assert training_loss("l1", output, target).item() == pytest.approx(0.055)
    torch.testing.assert_close(training_loss("l1", output, target), F.l1_loss(output, target))


def test_l2_is_the_mean_squared_error_and_its_minimum_is_the_mean() -> None:
    output, target = _batch()
    assert training_loss("l2", output, target).item() == pytest.approx((0.01**2 + 0.1**2) / 2)
    # a skewed sample (a few electrons: mostly dark, one bright): L2's best constant is the
    # mean, L1's the median, which sits below it
    samples = torch.tensor([0.0, 0.0, 0.0, 1.0]).view(1, 4, 1, 1)

    def slope(name: str, value: float) -> float:
        guess = torch.full_like(samples, value).requires_grad_()
        training_loss(name, guess, samples).backward()
        return float(guess.grad.sum())

    assert slope("l2", 0.25) == pytest.approx(0.0, abs=1e-7)
    assert slope("l2", 0.0) < 0  # from the median, L2 still pulls up
    assert slope("l1", 0.25) > 0  # from the mean, L1 pulls down to the median


def test_log_l1_weighs_each_crop_relative_to_its_own_error() -> None:
    output, target = _batch()
    loss = training_loss("log-l1", output, target)
    assert loss.item() == pytest.approx(
        (torch.log(torch.tensor(0.01)) + torch.log(torch.tensor(0.1))).item() / 2, rel=1e-3
    )
    loss.backward()
    g = output.grad.abs().flatten(1).mean(1)
    # L1 gives both crops the same gradient; log-L1 gives the low-error crop ten times more
    assert (g[0] / g[1]).item() == pytest.approx(10.0, rel=1e-3)
    # and it does not depend on the overall scale of the errors (dB-like)
    scaled = training_loss("log-l1", output.detach() * 3, target)
    assert scaled.item() == pytest.approx(
        loss.item() + torch.log(torch.tensor(3.0)).item(), rel=1e-4
    )


def test_unknown_loss_is_refused() -> None:
    output, target = _batch()
    with pytest.raises(ValueError, match="unknown loss"):
        training_loss("l3", output, target)


def test_log_l1_level_ignores_zero_mean_detail_and_counts_a_level_offset() -> None:
    target = torch.zeros(1, 4, 16, 16)
    checker = torch.ones(16, 16)
    checker[0::2, 1::2] = -1
    checker[1::2, 0::2] = -1
    detail = (0.02 * checker).expand(1, 4, 16, 16)  # zero mean in every 8x8 block
    assert training_loss("log-l1-level", detail, target).item() == pytest.approx(
        training_loss("log-l1", detail, target).item(), abs=1e-5
    )
    offset = torch.full((1, 4, 16, 16), 0.02)  # the same L1, all of it a level error
    assert training_loss("log-l1-level", offset, target).item() == pytest.approx(
        torch.log(torch.tensor(0.02 * (1 + LEVEL_WEIGHT))).item(), rel=1e-4
    )


def test_log_l1_level_moves_a_skewed_estimate_from_the_median_towards_the_mean() -> None:
    """What the term is for: a constant fitted to skewed (exponential) targets."""
    g = torch.Generator().manual_seed(0)
    target = torch.empty(4, 4, 32, 32).exponential_(1.0, generator=g)
    fitted = {}
    for name in ("log-l1", "log-l1-level"):
        c = torch.full((1, 1, 1, 1), 0.3, requires_grad=True)
        opt = torch.optim.Adam([c], lr=0.01)
        for _ in range(600):
            opt.zero_grad()
            training_loss(name, c.expand_as(target), target).backward()
            opt.step()
        fitted[name] = c.item()
    median, mean = target.median().item(), target.mean().item()
    assert fitted["log-l1"] == pytest.approx(median, abs=0.03)  # ln 2 = 0.69
    assert mean - fitted["log-l1-level"] < 0.5 * (mean - median)


def test_log_l1_level_grid_counts_a_dot_grid_that_the_same_error_scattered_does_not() -> None:
    """The grid term sees a regular pattern of period 2 or 4 px and nothing else: a dot grid
    and the same error values at random positions cost the same per-pixel L1."""
    from rawdenoise.training.losses import periodic_error

    target = torch.full((2, 4, 32, 32), 0.1)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    dots = ((yy % 2 == 0) & (xx % 2 == 0)).float() * 0.01  # a period-2 dot grid
    grid = target + dots
    perm = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0))
    scattered = target + dots.flatten()[perm].reshape(32, 32)
    assert periodic_error(grid, target).min() > 0.004
    assert periodic_error(scattered, target).max() < 0.3 * periodic_error(grid, target).min()
    assert periodic_error(target + 0.02, target).abs().max() < 1e-7  # a level error: no grid
    assert training_loss("log-l1", grid, target).item() == pytest.approx(
        training_loss("log-l1", scattered, target).item(), abs=1e-6
    )
    gap = training_loss("log-l1-level-grid", grid, target) - training_loss(
        "log-l1-level-grid", scattered, target
    )
    assert gap.item() > 0.3


def test_l1_level_grid_is_linear_so_the_noisiest_crop_weighs_the_most() -> None:
    """The same terms as log-l1-level-grid, averaged without the log: like LED's L1, a crop
    with ten times the error gets the same per-pixel gradient, not a tenth of it."""
    from rawdenoise.training.losses import GRID_WEIGHT, _block_mean_l1, periodic_error

    output, target = _batch()
    loss = training_loss("l1-level-grid", output, target)
    per_crop = (
        (output - target).abs().flatten(1).mean(1)
        + LEVEL_WEIGHT * _block_mean_l1(output, target)
        + GRID_WEIGHT * periodic_error(output, target)
    )
    torch.testing.assert_close(loss, per_crop.mean())
    loss.backward()
    g = output.grad.abs().flatten(1).mean(1)
    assert (g[0] / g[1]).item() == pytest.approx(1.0, rel=1e-3)
    # its log counterpart gives the low-error crop ten times more
    out2 = output.detach().clone().requires_grad_()
    training_loss("log-l1-level-grid", out2, target).backward()
    g2 = out2.grad.abs().flatten(1).mean(1)
    assert (g2[0] / g2[1]).item() == pytest.approx(10.0, rel=1e-3)


def test_soft_log_weighs_crops_between_the_log_and_the_linear_mean() -> None:
    """log(error + floor): a crop's gradient is divided by its error plus the floor, so the
    low-error crop gets more than under the linear mean (1x) and less than under the log
    (10x): (0.2 + floor) / (0.02 + floor) times the noisy crop's."""
    from rawdenoise.training.losses import SOFT_FLOOR

    output, target = _batch()
    loss = training_loss("soft-log-l1-level-grid", output, target)
    per_crop = torch.tensor([0.02, 0.2])  # L1 + the same block-mean L1, no grid
    torch.testing.assert_close(loss, torch.log(per_crop + SOFT_FLOOR).mean())
    loss.backward()
    g = output.grad.abs().flatten(1).mean(1)
    want = (0.2 + SOFT_FLOOR) / (0.02 + SOFT_FLOOR)
    assert 1.5 < want < 9.5
    assert (g[0] / g[1]).item() == pytest.approx(want, rel=1e-3)


def test_displacement_term_counts_a_plane_moved_by_a_fraction_of_a_pixel_not_noise_or_blur():
    """A red plane moved by 0.2 px against the others costs little per-pixel L1; the
    displacement term sees it, and not zero-mean noise or the blur of symmetric detail that
    cost more L1."""
    from rawdenoise.training.losses import displacement_error

    g = torch.Generator().manual_seed(1)
    scene = F.avg_pool2d(torch.rand(2, 4, 70, 70, generator=g), 5, 1)  # smooth detail, 66 px
    target = scene[..., 1:-1, 1:-1]
    moved = target.clone()
    moved[:, 0] = 0.8 * scene[:, 0, 1:-1, 1:-1] + 0.2 * scene[:, 0, 1:-1, 2:]  # 0.2 px along x
    noisy = target + 0.02 * torch.randn(target.shape, generator=g)
    blurred = F.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
    for other in (noisy, blurred):  # more L1 than the shift, less displacement
        assert (other - target).abs().mean() > 5 * (moved - target).abs().mean()
        shift = displacement_error(moved, target).min()
        assert displacement_error(other, target).max() < 0.5 * shift
    assert displacement_error(target + 0.03, target).max() < 1e-4  # a level error moves nothing
    assert displacement_error(target, target).max() < 1e-5
    gap = training_loss("log-l1-level-grid-shift", moved, target) - training_loss(
        "log-l1-level-grid", moved, target
    )
    assert gap.item() > 0.3  # the term weighs in the log, beside the per-pixel error
    flat = torch.full((1, 4, 16, 16), 0.2)  # no gradient: nothing to explain, no NaN
    assert torch.isfinite(displacement_error(flat + 0.01, flat)).all()
