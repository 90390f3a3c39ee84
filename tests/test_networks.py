"""UNet (LED's exact keys), TinyNet, padding and the RepNR wrapper (merge maths, deploy)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rawdenoise.networks.padding import crop_padding, pad_to_multiple
from rawdenoise.networks.repnr import RepNR, add_conv_biases, convertible_convs
from rawdenoise.networks.tiny import TinyNet
from rawdenoise.networks.unet import UNet

# LED UNetArch state dict at channels 32, transcribed from method.md §2.1 (verified against LED).
LED_UNET_TABLE: list[tuple[str, tuple[int, ...], int]] = [
    ("conv1_1", (32, 4, 3, 3), 32),
    ("conv1_2", (32, 32, 3, 3), 32),
    ("conv2_1", (64, 32, 3, 3), 64),
    ("conv2_2", (64, 64, 3, 3), 64),
    ("conv3_1", (128, 64, 3, 3), 128),
    ("conv3_2", (128, 128, 3, 3), 128),
    ("conv4_1", (256, 128, 3, 3), 256),
    ("conv4_2", (256, 256, 3, 3), 256),
    ("conv5_1", (512, 256, 3, 3), 512),
    ("conv5_2", (512, 512, 3, 3), 512),
    ("upv6", (512, 256, 2, 2), 256),
    ("conv6_1", (256, 512, 3, 3), 256),
    ("conv6_2", (256, 256, 3, 3), 256),
    ("upv7", (256, 128, 2, 2), 128),
    ("conv7_1", (128, 256, 3, 3), 128),
    ("conv7_2", (128, 128, 3, 3), 128),
    ("upv8", (128, 64, 2, 2), 64),
    ("conv8_1", (64, 128, 3, 3), 64),
    ("conv8_2", (64, 64, 3, 3), 64),
    ("upv9", (64, 32, 2, 2), 32),
    ("conv9_1", (32, 64, 3, 3), 32),
    ("conv9_2", (32, 32, 3, 3), 32),
    ("conv10_1", (4, 32, 1, 1), 4),
]
LED_UNCONVERTED = ("upv6", "upv7", "upv8", "upv9", "conv10_1")


def led_unet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, wshape, nbias in LED_UNET_TABLE:
        state[f"{name}.weight"] = torch.randn(wshape, generator=g) * 0.05
        state[f"{name}.bias"] = torch.randn(nbias, generator=g) * 0.01
    return state


def led_repnr_keys(aux: bool, branches: int = 5) -> list[str]:
    """LED's RepNR key order (method.md §3.3): per converted conv main, [aux], align w, align b."""
    keys = []
    for name, _, _ in LED_UNET_TABLE:
        if name in LED_UNCONVERTED:
            keys += [f"{name}.weight", f"{name}.bias"]
            continue
        keys += [f"{name}.main_weight", f"{name}.main_bias"]
        if aux:
            keys += [f"{name}.aux_weight", f"{name}.aux_bias"]
        keys += [f"{name}.align_weights.{i}" for i in range(branches + 1)]
        keys += [f"{name}.align_biases.{i}" for i in range(branches + 1)]
    return keys


def randomize(module: nn.Module, scale: float = 0.1, seed: int = 0) -> None:
    """Perturb every parameter (alignments and aux included) to non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


# -- UNet ------------------------------------------------------------------------------------


def test_unet_has_led_keys_and_shapes_and_loads_strictly():
    net = UNet()
    expected = {k: v.shape for k, v in led_unet_state().items()}
    assert {k: v.shape for k, v in net.state_dict().items()} == expected
    net.load_state_dict(led_unet_state(), strict=True)
    assert torch.equal(net.conv5_2.weight, led_unet_state()["conv5_2.weight"])


def test_unet_parameter_count_matches_led():
    assert sum(p.numel() for p in UNet().parameters()) == 7_760_484


def test_unet_options_change_widths():
    net = UNet(in_channels=4, out_channels=1, channels=8)
    assert net.conv1_1.weight.shape == (8, 4, 3, 3)
    assert net.conv5_2.weight.shape == (128, 128, 3, 3)
    assert net(torch.rand(1, 4, 20, 24)).shape == (1, 1, 20, 24)


@pytest.mark.parametrize("size", [(1, 1), (1, 6), (2, 3), (5, 9), (17, 16), (37, 53)])
def test_unet_and_tiny_keep_any_input_size(size):
    x = torch.rand(2, 4, *size)
    assert UNet(channels=4)(x).shape == x.shape
    assert TinyNet(channels=4)(x).shape == x.shape


def test_unet_padding_is_leds_reflect_split():
    x = torch.rand(1, 4, 37, 53)
    padded, pads = pad_to_multiple(x, 16)
    # LED: dh = (-h) mod 16, top = dh // 2: 11 -> (5, 6); dw = 11 -> (5, 6)
    assert pads == (5, 6, 5, 6)
    assert torch.equal(padded, F.pad(x, (5, 6, 5, 6), mode="reflect"))
    assert torch.equal(crop_padding(padded, pads), x)


def test_padding_short_axes_pads_in_steps_and_replicates_single_pixels():
    x = torch.arange(3.0).reshape(1, 1, 1, 3)
    padded, pads = pad_to_multiple(x, 16)
    assert padded.shape == (1, 1, 16, 16)
    assert torch.equal(crop_padding(padded, pads), x)
    # single row: replicated; width 3 -> 13 more: reflected in steps, values stay from x
    assert torch.equal(padded[0, 0, 0], padded[0, 0, 15])
    assert set(padded.unique().tolist()) == {0.0, 1.0, 2.0}
    # a step-wise reflection of a short axis: the row next to the edge mirrors the edge's neighbour
    y = torch.arange(4.0).reshape(1, 1, 4, 1).expand(1, 1, 4, 16)
    py, (top, _, _, _) = pad_to_multiple(y, 16)
    assert top == 6 and py[0, 0, top - 1, 0] == 1.0 and py[0, 0, top - 2, 0] == 2.0


def test_unet_output_crop_is_aligned_with_input():
    """A 1x1 identity-like path: the cropped output is the input's own pixels, not shifted."""
    net = TinyNet(channels=4)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.conv_out.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    out = net(torch.rand(1, 4, 7, 10))
    assert torch.equal(out[0, :, 3, 5], torch.tensor([0.0, 1.0, 2.0, 3.0]))


# -- RepNR -----------------------------------------------------------------------------------


def test_repnr_unet_has_leds_262_and_298_keys_in_order():
    rep = RepNR(UNet(), branches=5, exclude=("conv10_1",))
    assert list(rep.state_dict()) == led_repnr_keys(aux=False)
    assert len(rep.state_dict()) == 262
    assert len(rep.converted) == 18
    rep.add_aux()
    assert list(rep.state_dict()) == led_repnr_keys(aux=True)
    assert len(rep.state_dict()) == 298
    assert rep.state_dict()["conv3_1.align_weights.5"].shape == (1, 64, 1, 1)
    assert rep.state_dict()["conv3_1.aux_weight"].shape == (128, 64, 3, 3)


def test_repnr_loads_led_pretrain_state_strictly():
    rep = RepNR(UNet(channels=8), exclude=("conv10_1",))
    state = {k: torch.randn_like(v) for k, v in rep.state_dict().items()}
    fresh = RepNR(UNet(channels=8), exclude=("conv10_1",))
    fresh.load_state_dict(state, strict=True)
    assert torch.equal(
        fresh.state_dict()["conv2_1.align_biases.3"], state["conv2_1.align_biases.3"]
    )
    with pytest.raises(RuntimeError, match="aux_weight"):
        RepNR(UNet(channels=8), exclude=("conv10_1",)).load_state_dict(
            {**state, "conv1_1.aux_weight": torch.zeros(8, 4, 3, 3)}, strict=True
        )


def test_repnr_starts_as_the_base_network_and_leaves_base_untouched():
    base = UNet(channels=8)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    rep = RepNR(base, exclude=("conv10_1",), aux=True)
    x = torch.rand(1, 4, 19, 23)
    for branch in (-1, 0, 4):
        torch.testing.assert_close(rep(x, branch), base(x), atol=1e-6, rtol=0)
    randomize(rep)
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())


def test_merged_form_matches_leds_trivial_form_inside_and_differs_at_the_border():
    """Independent check of the merge maths on one conv: a*W + aux, b + sum(W*c) + b_aux."""
    conv = nn.Conv2d(3, 5, 3, 1, 1)
    rep = RepNR(nn.Sequential(conv), branches=2, aux=True)
    randomize(rep, scale=0.3)
    layer = rep.net[0]
    a, c = layer.align_weights[1], layer.align_biases[1]
    x = torch.randn(2, 3, 11, 13)
    trivial = F.conv2d(a * x + c, layer.main_weight, layer.main_bias, padding=1) + F.conv2d(
        x, layer.aux_weight, layer.aux_bias, padding=1
    )
    merged = rep(x, 1)
    torch.testing.assert_close(merged[..., 1:-1, 1:-1], trivial[..., 1:-1, 1:-1])
    assert (merged - trivial).abs().amax() > 1e-3  # zero padding of a shifted input differs


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (17, 29), (33, 47)])
def test_deploy_equals_wrapper_on_odd_sizes(size):
    rep = RepNR(UNet(channels=8), branches=5, exclude=("conv10_1",), aux=True)
    randomize(rep, scale=0.05, seed=size[0])
    x = torch.rand(2, 4, *size)
    for branch in (-1, 2):
        with torch.no_grad():
            torch.testing.assert_close(rep.deploy(branch)(x), rep(x, branch), atol=1e-5, rtol=0)


def test_deploy_is_a_plain_base_network_that_loads_into_a_fresh_one():
    rep = RepNR(UNet(channels=8), exclude=("conv10_1",), aux=True)
    randomize(rep, scale=0.05)
    plain = rep.deploy()
    assert not any(isinstance(m, type(rep.net.conv1_1)) for m in plain.modules())
    fresh = UNet(channels=8)
    fresh.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 4, 21, 18)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), rep(x), atol=1e-5, rtol=0)
    # the wrapper itself is unchanged by deploy
    assert "conv1_1.main_weight" in rep.state_dict()


def test_deploy_adds_a_bias_to_bias_free_convs():
    rep = RepNR(TinyNet(bias=False), branches=3, exclude=("conv_out",), aux=True)
    randomize(rep, scale=0.1)
    plain = rep.deploy()
    assert plain.conv1.bias is not None and plain.conv1.bias.abs().sum() > 0
    x = torch.rand(1, 4, 9, 14)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), rep(x), atol=1e-5, rtol=0)
        fresh = TinyNet(bias=False)
        state = plain.state_dict()
        assert sorted(add_conv_biases(fresh, state)) == [
            "conv1",
            "conv2",
            "conv3",
            "conv4",
            "conv5",
        ]
        fresh.load_state_dict(state, strict=True)
        torch.testing.assert_close(fresh(x), rep(x), atol=1e-5, rtol=0)


def test_eligibility_skips_transposed_grouped_dilated_and_excluded_convs():
    base = nn.Sequential()
    base.add_module("plain", nn.Conv2d(4, 8, 3, padding=1))
    base.add_module("depthwise", nn.Conv2d(8, 8, 3, padding=1, groups=8))
    base.add_module("dilated", nn.Conv2d(8, 8, 3, padding=2, dilation=2))
    base.add_module("up", nn.ConvTranspose2d(8, 8, 2, stride=2))
    inner = nn.Sequential()
    inner.add_module("head", nn.Conv2d(8, 4, 1))
    inner.add_module("strided", nn.Conv2d(4, 4, 3, stride=2, padding=1, padding_mode="reflect"))
    base.add_module("inner", inner)
    assert convertible_convs(base, exclude=("head",)) == ["plain", "inner.strided"]
    assert convertible_convs(base, exclude=("inner.strided",)) == ["plain", "inner.head"]
    rep = RepNR(base, branches=2, exclude=("head",), aux=True)
    randomize(rep, scale=0.1)
    x = torch.rand(1, 4, 10, 12)
    with torch.no_grad():
        torch.testing.assert_close(rep.deploy()(x), rep(x), atol=1e-5, rtol=0)


def test_generalize_sets_target_to_mean_of_cameras():
    rep = RepNR(TinyNet(), branches=4, exclude=("conv_out",))
    randomize(rep)
    assert not rep.target_is_initial()
    conv = rep.net.conv2
    mean_w = torch.stack([conv.align_weights[i] for i in range(4)]).mean(0)
    mean_b = torch.stack([conv.align_biases[i] for i in range(4)]).mean(0)
    rep.generalize()
    torch.testing.assert_close(conv.align_weights[-1], mean_w)
    torch.testing.assert_close(conv.align_biases[-1], mean_b)
    assert RepNR(TinyNet(), exclude=("conv_out",)).target_is_initial()


def test_stages_choose_trainable_parameters_like_led():
    rep = RepNR(TinyNet(), branches=2, exclude=("conv_out",))

    def trainable() -> set[str]:
        ids = {id(p) for p in rep.trainable_parameters()}
        return {k for k, p in rep.named_parameters() if id(p) in ids}

    rep.set_stage("pretrain")
    names = trainable()
    assert "net.conv1.main_weight" in names and "net.conv1.align_weights.1" in names
    assert "net.conv1.align_weights.2" not in names and "net.conv_out.weight" in names
    rep.set_stage("align")
    assert trainable() == {
        f"net.{c}.align_{k}.2" for c in rep.converted for k in ("weights", "biases")
    }
    rep.set_stage("aux")  # adds the aux convs
    assert trainable() == {f"net.{c}.aux_{k}" for c in rep.converted for k in ("weight", "bias")}
    with pytest.raises(ValueError, match="stage"):
        rep.set_stage("finetune")


def test_branch_index_is_checked():
    rep = RepNR(TinyNet(), branches=2, exclude=("conv_out",))
    x = torch.rand(1, 4, 4, 4)
    rep(x, 1)
    rep(x, -3)
    with pytest.raises(IndexError, match="branch 3"):
        rep(x, 3)


def test_repnr_training_step_changes_only_the_trained_branch():
    rep = RepNR(TinyNet(), branches=2, exclude=("conv_out",))
    rep.set_stage("align")
    opt = torch.optim.Adam(rep.trainable_parameters(), lr=1e-2)
    x = torch.rand(2, 4, 8, 8)
    before = {k: v.clone() for k, v in rep.state_dict().items()}
    loss = (rep(x) - x).abs().mean()
    loss.backward()
    opt.step()
    after = rep.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".align_" in k and k.endswith(".2") for k in changed)


def test_nested_wrapper_keys_keep_the_outer_prefix_only():
    """Inside another module (DDP's ``module.``, a trainer), keys are PREFIX + LED's keys."""
    outer = nn.Module()
    outer.model = RepNR(TinyNet(), branches=2, exclude=("conv_out",))
    keys = list(outer.state_dict())
    assert keys[0] == "model.conv1.main_weight" and "model.conv_out.weight" in keys
    again = nn.Module()
    again.model = RepNR(TinyNet(), branches=2, exclude=("conv_out",))
    again.load_state_dict(outer.state_dict(), strict=True)
    assert torch.equal(again.model.net.conv2.main_weight, outer.model.net.conv2.main_weight)


def _randomized(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter random (alignments too), so that a widening bug cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (0.8 if p.dim() == 4 else 0))
    return module


@pytest.mark.parametrize("new", [6, 9])
def test_widening_a_unet_keeps_every_branchs_output(new):
    from rawdenoise.networks.widen import widen_unet_state

    narrow = _randomized(RepNR(UNet(channels=4), branches=2, exclude=("conv10_1",)), 1)
    for _, conv in narrow.repnr_convs():  # random alignments, not RepNR's initial ones
        for params in (conv.align_weights, conv.align_biases):
            for p in params:
                p.data = torch.rand(p.shape) + 0.5
    wide = RepNR(UNet(channels=new), branches=2, exclude=("conv10_1",))
    state = widen_unet_state(narrow.state_dict(), new, seed=3)
    wide.load_state_dict(state)  # strict: every key, every shape of a fresh wide network
    x = torch.rand(2, 4, 32, 48)
    with torch.no_grad():
        for branch in (0, 1, -1):
            torch.testing.assert_close(wide(x, branch), narrow(x, branch), atol=1e-5, rtol=1e-4)
        # a plain state dict grows the same way
        plain = narrow.deploy(0)
        grown = UNet(channels=new)
        grown.load_state_dict(widen_unet_state(plain.state_dict(), new, seed=3))
        torch.testing.assert_close(grown(x), plain(x), atol=1e-5, rtol=1e-4)
    # the copies of one feature map are split unevenly, so they grow apart in training
    w = state["conv1_2.main_weight"]
    assert not torch.equal(w[:, 4], w[:, 0]) and not torch.equal(w[:, 4], w[:, 3])


def test_widening_refuses_to_shrink_or_change_other_options():
    from rawdenoise.networks.widen import widen_unet

    state = UNet(channels=4).state_dict()
    with pytest.raises(ValueError, match="shrink"):
        widen_unet(state, {"channels": 4}, {"channels": 2}, 0)
    with pytest.raises(ValueError, match="in_channels"):
        widen_unet(state, {"channels": 4}, {"channels": 8, "in_channels": 3}, 0)
    assert widen_unet(state, {"channels": 4}, {"channels": 4}, 0).keys() == state.keys()


# ---- option values the factory cannot build ----------------------------------------------


@pytest.mark.parametrize(
    ("arch", "options", "shown"),
    [
        ("unet", {"channels": "abc"}, "channels=abc"),
        ("unet", {"channels": 0}, "channels=0"),
        ("unet", {"channels": -4}, "channels=-4"),
        ("unet", {"channels": [1, 2]}, "channels=[1, 2]"),
        ("unet", {"channels": 2.5}, "channels=2.5"),  # not silently int(2.5) = 2 channels
        ("unet", {"channels": float("inf")}, "channels=inf"),
        ("tiny", {"channels": -3}, "channels=-3"),  # torch: RuntimeError, negative dimension
        ("tiny", {"channels": 0}, "channels=0"),  # builds empty layers that fail in training
        ("tiny", {"channels": True}, "channels=true"),
    ],
)
def test_create_network_refuses_bad_option_values_naming_option_and_architecture(
    arch, options, shown, recwarn
):
    from rawdenoise.errors import UsageError
    from rawdenoise.registry import create_network

    with pytest.raises(UsageError) as info:
        create_network(arch, options)
    message = info.value.message
    assert message.startswith(f"invalid option for architecture {arch!r}: {shown} ("), message
    assert "channels=" in (info.value.hint or "")  # the defaults
    assert not [w for w in recwarn if "zero-element" in str(w.message)]  # one clear line only


def test_residual_unet_adds_its_input_and_keeps_leds_keys():
    torch.manual_seed(0)
    plain, residual = UNet(channels=4), UNet(channels=4, residual=True)
    residual.load_state_dict(plain.state_dict(), strict=True)  # no extra parameters
    x = torch.rand(1, 4, 21, 18)  # padded and cropped back inside
    with torch.no_grad():
        torch.testing.assert_close(residual(x), plain(x) + x)
    # RepNR's merge and deploy keep the residual
    rep = RepNR(UNet(channels=4, residual=True), branches=2, exclude=("conv10_1",), aux=True)
    randomize(rep, scale=0.05)
    with torch.no_grad():
        torch.testing.assert_close(rep.deploy(1)(x), rep(x, 1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="true or false"):
        UNet(channels=4, residual="yes")


def _unet_eager(net: UNet, x: torch.Tensor) -> torch.Tensor:
    """The UNet's function written with the eager ops only (conv, then leaky ReLU)."""
    from rawdenoise.networks import fused

    saved = fused._fused_op
    fused._fused_op = lambda: None
    try:
        return net(x)
    finally:
        fused._fused_op = saved


def _counting_fused_op(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from rawdenoise.networks import fused

    op, calls = fused._fused_op(), []
    if op is None:
        pytest.skip("this torch build has no oneDNN convolution_pointwise operator")

    def counted(*args: object) -> torch.Tensor:
        calls.append(1)
        return op(*args)

    monkeypatch.setattr(fused, "_fused_op", lambda: counted)
    return calls


def test_cpu_inference_fuses_conv_and_activation_with_the_same_fp32_results(monkeypatch):
    calls = _counting_fused_op(monkeypatch)
    torch.manual_seed(0)
    net = UNet(channels=8).eval()
    x = torch.rand(1, 4, 48, 64).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = _unet_eager(net, x)
        got = net(x)
    assert len(calls) == 18  # every conv followed by the activation; not the last 1x1 conv
    # the same sums; only where eager picks another convolution kernel (small convs) may their
    # order differ: float32 rounding, nothing more
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_fused_bf16_inference_stays_within_a_bf16_unit_of_the_eager_ops(monkeypatch):
    from rawdenoise.networks import fused

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no oneDNN bf16 kernels (the fused path is not taken)")
    calls = _counting_fused_op(monkeypatch)
    torch.manual_seed(1)
    net = UNet(channels=8).eval()
    x = torch.rand(1, 4, 48, 64).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = _unet_eager(net, x).float()
        got = net(x)
    assert calls and got.dtype == torch.bfloat16
    assert (got.float() - expected).abs().max() < 0.02
    assert fused._WORKS[torch.bfloat16]


def test_training_and_contiguous_inputs_run_the_eager_ops(monkeypatch):
    calls = _counting_fused_op(monkeypatch)
    net = UNet(channels=8)
    x = torch.rand(2, 4, 32, 32).contiguous(memory_format=torch.channels_last)
    net(x).mean().backward()  # with gradients: the fused operator has no backward
    assert net.conv1_1.weight.grad is not None
    with torch.inference_mode():
        net(torch.rand(1, 4, 32, 32))  # NCHW
    assert calls == []


def test_a_build_whose_fused_operator_fails_falls_back_to_the_eager_ops(monkeypatch):
    from rawdenoise.networks import fused

    def broken(*args: object) -> torch.Tensor:
        raise RuntimeError("no such oneDNN primitive")

    monkeypatch.setattr(fused, "_fused_op", lambda: broken)
    monkeypatch.setattr(fused, "_WORKS", {})
    net = UNet(channels=8).eval()
    x = torch.rand(1, 4, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        got = net(x)
        monkeypatch.setattr(fused, "_fused_op", lambda: None)
        expected = net(x)
    assert torch.equal(got, expected)
    assert {torch.float32: False} == fused._WORKS


def _unet_reference(net: UNet, x: torch.Tensor) -> torch.Tensor:
    """The SID/LED UNet written out plainly, one name per activation, all kept to the end."""
    x, pads = pad_to_multiple(x, 16)

    def block(a: nn.Module, b: nn.Module, t: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(b(F.leaky_relu(a(t), 0.2)), 0.2)

    c1 = block(net.conv1_1, net.conv1_2, x)
    c2 = block(net.conv2_1, net.conv2_2, F.max_pool2d(c1, 2))
    c3 = block(net.conv3_1, net.conv3_2, F.max_pool2d(c2, 2))
    c4 = block(net.conv4_1, net.conv4_2, F.max_pool2d(c3, 2))
    c5 = block(net.conv5_1, net.conv5_2, F.max_pool2d(c4, 2))
    c6 = block(net.conv6_1, net.conv6_2, torch.cat([net.upv6(c5), c4], 1))
    c7 = block(net.conv7_1, net.conv7_2, torch.cat([net.upv7(c6), c3], 1))
    c8 = block(net.conv8_1, net.conv8_2, torch.cat([net.upv8(c7), c2], 1))
    c9 = block(net.conv9_1, net.conv9_2, torch.cat([net.upv9(c8), c1], 1))
    return crop_padding(net.conv10_1(c9), pads)


def test_unet_forward_is_leds_function_exactly():
    torch.manual_seed(3)
    net = UNet(channels=8)
    randomize(net, scale=0.2)
    x = torch.rand(2, 4, 37, 50)
    with torch.no_grad():
        assert torch.equal(net(x), _unet_reference(net, x))
    y = torch.rand(1, 4, 32, 48, requires_grad=True)  # training: the same gradients too
    net(y).square().sum().backward()
    want = torch.autograd.grad(_unet_reference(net, y).square().sum(), y)[0]
    assert torch.equal(y.grad, want)


def test_unet_inference_frees_skips_and_concatenations_before_the_last_convolution():
    """The memory peak is at full resolution: there, the first level's skip and the
    concatenation must be gone before the last convolution runs (a third less peak memory)."""
    import weakref

    net = UNet(channels=4).eval()
    seen: dict[str, weakref.ref] = {}
    alive: list[tuple[bool, bool]] = []

    def keep(name: str, tensor: torch.Tensor) -> None:  # hooks returning None change nothing
        seen[name] = weakref.ref(tensor)

    def check(*_: object) -> None:
        alive.append((seen["skip"]() is not None, seen["cat"]() is not None))

    net.pool1.register_forward_pre_hook(lambda m, i: keep("skip", i[0]))  # the first skip
    net.conv9_1.register_forward_pre_hook(lambda m, i: keep("cat", i[0]))
    net.conv9_2.register_forward_pre_hook(check)
    with torch.inference_mode():
        net(torch.rand(1, 4, 32, 32))  # contiguous: the eager modules run, so hooks fire
    assert alive == [(False, False)]
