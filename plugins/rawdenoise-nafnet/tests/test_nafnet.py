"""rawdenoise-nafnet: the spec registers through the hook, the network works on packed RAW."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip(
    "rawdenoise_nafnet", reason="plugin not installed: pip install -e plugins/rawdenoise-nafnet"
)
from rawdenoise_nafnet import plugin
from rawdenoise_nafnet.network import NAFNet

from rawdenoise.plugin_records import PluginRecord
from rawdenoise.plugins import call_hooks, new_plugin_manager


def test_hook_registers_the_spec() -> None:
    pm = new_plugin_manager()
    pm.register(plugin, name="nafnet")
    record = PluginRecord(name="nafnet", kind="plugin")
    call_hooks(pm, plugin, record)
    assert record.errors == []
    (spec,) = record.architectures
    assert spec.name == "nafnet" and spec.factory == "rawdenoise_nafnet.network:NAFNet"
    assert spec.default_options["width"] == 32 and spec.multiple_of == 16


def test_entry_module_imports_no_torch() -> None:
    code = "import sys, rawdenoise_nafnet.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_configuration_matches_led_parameter_count() -> None:
    net = NAFNet(**plugin.NAFNET.options())
    assert sum(p.numel() for p in net.parameters()) == 7_600_228


@pytest.mark.parametrize("shape", [(1, 4, 16, 16), (2, 4, 21, 35)])
def test_any_size_in_same_size_out(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1)).eval()
    x = torch.rand(shape)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_fresh_blocks_are_identity_so_output_is_ending_plus_input() -> None:
    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blocks=(1,), middle_blocks=1, dec_blocks=(1,)).eval()
    torch.nn.init.zeros_(net.ending.weight)
    torch.nn.init.zeros_(net.ending.bias)
    x = torch.rand(1, 4, 10, 12)
    with torch.no_grad():
        assert torch.equal(net(x), x)


def test_learns_a_denoising_step() -> None:
    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blocks=(1,), middle_blocks=1, dec_blocks=(1,))
    clean = torch.rand(4, 4, 16, 16) * 0.5 + 0.25
    noisy = clean + 0.1 * torch.randn_like(clean)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(net(noisy), clean)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_rawdenoise_contract_checks() -> None:
    from rawdenoise.testing import check_architecture, check_entry_module

    check_entry_module("rawdenoise_nafnet.plugin")
    small = {"width": 8, "enc_blocks": [1, 1, 1, 1], "middle_blocks": 1, "dec_blocks": [1, 1, 1, 1]}
    check_architecture(plugin.NAFNET, small)  # shapes, determinism, RepNR deploy equivalence
