"""The Nikon D850 (LRD) profile: valid, registered through the hook, numbers as published."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

pkg = pytest.importorskip(
    "rawdenoise_camera_nikon_d850_lrd",
    reason="plugin not installed: pip install -e plugins/rawdenoise-camera-nikon-d850-lrd",
)

from rawdenoise.plugin_records import PluginRecord  # noqa: E402
from rawdenoise.plugins import call_hooks, new_plugin_manager  # noqa: E402
from rawdenoise.specs import CameraProfile  # noqa: E402


def test_hook_registers_the_profile() -> None:
    pm = new_plugin_manager()
    pm.register(pkg, name="nikon-d850-lrd")
    record = PluginRecord(name="nikon-d850-lrd", kind="plugin")
    call_hooks(pm, pkg, record)
    assert record.errors == []
    assert [p.id for p in record.camera_profiles] == ["nikon-d850-lrd"]


def test_published_numbers_converted_from_log_k() -> None:
    noise = pkg.PROFILE.noise
    assert math.log(noise.k_min) == pytest.approx(1.2, abs=1e-12)
    assert math.log(noise.k_max) == pytest.approx(2.4828, abs=1e-12)
    assert (noise.tukey.slope, noise.tukey.bias) == (0.906, -0.6754)
    assert (noise.row.slope, noise.row.bias, noise.row.sigma) == (0.8322, -2.3326, 0.301333)
    assert noise.tukey_lambdas == (-0.26,)


def test_matches_exif_and_round_trips_json() -> None:
    assert pkg.PROFILE.matches("NIKON CORPORATION", "NIKON D850")
    assert not pkg.PROFILE.matches("SONY", "ILCE-7SM2")
    assert CameraProfile.from_dict(pkg.PROFILE.to_dict()) == pkg.PROFILE


def test_entry_module_imports_no_torch() -> None:
    code = "import sys, rawdenoise_camera_nikon_d850_lrd; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rawdenoise_contract_checks() -> None:
    from rawdenoise.testing import check_camera_profile, check_entry_module

    check_camera_profile(pkg.PROFILE)
    check_entry_module("rawdenoise_camera_nikon_d850_lrd")
