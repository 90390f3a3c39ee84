"""Contract checks for plugin authors: call these from your plugin's own tests.

    from rawdenoise.testing import check_architecture, check_entry_module

    def test_contract():
        check_entry_module("rawdenoise_nafnet.plugin")          # imports no torch
        check_architecture("nafnet", {"width": 8})               # builds, shapes, RepNR

Each check raises ``AssertionError`` with a message saying what is wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from rawdenoise.specs import ArchitectureSpec, CameraProfile


def check_entry_module(module: str) -> None:
    """Importing ``module`` in a fresh interpreter must not import torch (nor numpy)."""
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "print(','.join(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"importing {module} failed:\n{proc.stderr}"
    heavy = proc.stdout.strip()
    assert not heavy, f"importing {module} imports {heavy}; entry modules must stay light"


def check_camera_profile(profile: CameraProfile) -> None:
    """The profile round-trips through JSON and matches its own EXIF make/model."""
    assert isinstance(profile, CameraProfile), f"expected a CameraProfile, got {profile!r}"
    assert CameraProfile.from_dict(profile.to_dict()) == profile, "JSON round trip differs"
    assert profile.matches(profile.make, profile.model), "does not match its own make/model"
    assert profile.source, f"camera profile {profile.id!r}: say where the numbers come from"


def check_architecture(
    name: str | ArchitectureSpec,
    options: Mapping[str, Any] | None = None,
    *,
    repnr: bool = True,
) -> None:
    """Build the network and check what rawdenoise relies on.

    - a packed (N, in_channels, H, W) batch with H, W multiples of ``multiple_of`` maps to
      (N, out_channels, H, W), finite, deterministic in eval mode;
    - every name in ``repnr_exclude`` is a child module of the network;
    - (``repnr=True``) wrapped in RepNR and deployed, it computes the same function.
    """
    import torch

    from rawdenoise.registry import create_network, get_architecture

    spec = get_architecture(name) if isinstance(name, str) else name
    net = create_network(spec, options)
    assert isinstance(net, torch.nn.Module), f"factory returned {type(net).__name__}"
    net.eval()
    m = spec.multiple_of
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, spec.in_channels, 2 * m, 3 * m, generator=generator)
    with torch.no_grad():
        y = net(x)
        again = net(x)
    expected = (2, spec.out_channels, 2 * m, 3 * m)
    assert tuple(y.shape) == expected, f"output shape {tuple(y.shape)}, expected {expected}"
    assert torch.isfinite(y).all(), "output has NaN or inf"
    assert torch.equal(y, again), "eval-mode output is not deterministic"

    children = {n.rsplit(".", 1)[-1] for n, _ in net.named_modules()} | {
        n for n, _ in net.named_modules()
    }
    missing = [n for n in spec.repnr_exclude if n not in children]
    assert not missing, f"repnr_exclude names no module of the network: {missing}"

    if repnr:
        from rawdenoise.networks.repnr import RepNR

        wrapped = RepNR(net, branches=2, exclude=spec.repnr_exclude).eval()
        assert wrapped.converted, "RepNR found no conv to convert"
        deployed = wrapped.deploy().eval()
        with torch.no_grad():
            z = deployed(x)
        assert torch.allclose(z, y, atol=1e-5, rtol=1e-4), "RepNR deploy changes the output"
