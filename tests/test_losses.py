"""Pretraining losses: LED's L1 and the per-crop log L1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rawdenoise.training.losses import training_loss


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
        training_loss("l2", output, target)
