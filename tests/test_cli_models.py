"""``rawdenoise models``: import LED checkpoints, list, info, remove; one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from rawdenoise.cli import main
from rawdenoise.errors import ExitCode
from rawdenoise.networks.repnr import RepNR
from rawdenoise.networks.unet import UNet
from rawdenoise.weights import load_model, model_path


@pytest.fixture
def led_pretrain(tmp_path: Path) -> Path:
    """An LED RepNR pretrain checkpoint (262 keys) of a channels-8 UNet, with `module.`."""
    torch.manual_seed(0)
    rep = RepNR(UNet(channels=8), branches=5, exclude=("conv10_1",))
    with torch.no_grad():
        for i in range(5):
            for _, conv in rep.repnr_convs():
                conv.align_weights[i].uniform_(0.8, 1.2)
                conv.align_biases[i].uniform_(-0.1, 0.1)
    path = tmp_path / "LED_Pretrain_ELD_Setting_Ratio1-200_Repnr.pth"
    torch.save({"params": {f"module.{k}": v for k, v in rep.state_dict().items()}}, path)
    return path


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("rawdenoise: error: "), stderr
    assert not any("Traceback" in ln for ln in lines)
    return lines[0]


def test_import_list_info_remove(led_pretrain, capsys):
    assert main(["models", "import", str(led_pretrain), "--name", "led-eld"]) == 0
    out = capsys.readouterr().out
    assert "imported" in out and "repnr with 5 camera branches" in out
    loaded = load_model("led-eld")
    assert loaded.repnr is not None and loaded.info.ratio_range == (1.0, 200.0)
    assert loaded.info.name == "led-eld"

    assert main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (row,) = [m for m in listing["models"] if m["name"] == "led-eld"]
    assert row["architecture"] == "unet" and row["options"] == {"channels": 32 // 4}
    assert row["kind"] == "repnr" and row["tensors"] == 262

    assert main(["models", "list"]) == 0
    assert "led-eld" in capsys.readouterr().out

    assert main(["models", "info", "led-eld", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["branches"] == 5 and info["parameters"] == row["parameters"]
    assert main(["models", "info", "led-eld"]) == 0
    assert "ratio range:     1-200" in capsys.readouterr().out

    assert main(["models", "remove", "led-eld"]) == 0
    assert "removed 'led-eld'" in capsys.readouterr().out
    assert not model_path("led-eld").exists()
    assert main(["models", "list", "--json"]) == 0
    assert all(m["name"] != "led-eld" for m in json.loads(capsys.readouterr().out)["models"])


def test_import_keeps_existing_models_unless_overwrite(led_pretrain, tmp_path, capsys):
    assert main(["models", "import", str(led_pretrain), "-n", "m"]) == 0
    before = model_path("m").read_bytes()
    plain = tmp_path / "plain.pth"
    torch.save({"params": UNet(channels=4).state_dict()}, plain)
    capsys.readouterr()
    assert main(["models", "import", str(plain), "-n", "m"]) == ExitCode.RESOURCE
    assert "exists" in _error_line(capsys.readouterr().err)
    assert model_path("m").read_bytes() == before
    assert main(["models", "import", str(plain), "-n", "m", "--overwrite"]) == 0
    assert dict(load_model("m").info.options) == {"channels": 4}
    # a model imported over the very file it is read from: refused (inputs are never written)
    before = model_path("m").read_bytes()
    capsys.readouterr()
    args = ["models", "import", str(model_path("m")), "-n", "m", "--overwrite"]
    assert main(args) == ExitCode.BAD_INPUT
    assert "would replace the file it is read from" in _error_line(capsys.readouterr().err)
    assert model_path("m").read_bytes() == before


def test_import_with_arch_options_and_recorded_metadata(tmp_path, capsys):
    from rawdenoise.networks.tiny import TinyNet

    src = tmp_path / "tiny.pth"
    torch.save({"params_deploy": TinyNet(channels=6).state_dict()}, src)
    args = ["models", "import", str(src), "-n", "t", "--arch", "tiny", "-O", "channels=6"]
    args += ["--camera", "Sony ILCE-7SM2", "--ratio-range", "100-300", "--json"]
    assert main(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["architecture"] == "tiny" and row["options"]["channels"] == 6
    assert row["camera"] == "Sony ILCE-7SM2" and row["ratio_range"] == [100.0, 300.0]
    # the wrong width is reported in one line, exit 3
    args = ["models", "import", str(src), "-n", "t2", "--arch", "tiny", "-O", "channels=8"]
    assert main(args) == ExitCode.BAD_INPUT
    line = _error_line(capsys.readouterr().err)
    assert "shape mismatch" in line and "tiny test network with channels=6" in line
    assert not model_path("t2").exists()


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["models", "info", "nosuch"], ExitCode.PLUGIN, "unknown model 'nosuch'"),
        (["models", "remove", "nosuch"], ExitCode.PLUGIN, "unknown model 'nosuch'"),
        (["models", "remove", "default"], ExitCode.USAGE, "cannot be removed"),
        (["models", "remove", "faithful"], ExitCode.USAGE, "cannot be removed"),
        (["models", "import", "x.pth", "-n", "faithful"], ExitCode.USAGE, "bundled model"),
        (["models", "info", "missing.pth"], ExitCode.BAD_INPUT, "does not exist"),
        (["models", "import", "x.pth", "-n", "default"], ExitCode.USAGE, "bundled model"),
        (["models", "import", "x.pth", "-n", "a/b"], ExitCode.USAGE, "invalid model name"),
        (
            ["models", "import", "x.pth", "-n", "ok", "-O", "channels"],
            ExitCode.USAGE,
            "invalid option",
        ),
    ],
)
def test_errors_are_one_line_with_exit_codes(args, code, text, capsys):
    assert main(args) == code
    assert text in _error_line(capsys.readouterr().err)


def test_refused_pickle_is_one_line_exit_3(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"conv1_1.weight": Path("/etc/passwd")}}, path)
    assert main(["models", "import", str(path), "-n", "evil"]) == ExitCode.BAD_INPUT
    assert "not just tensors" in _error_line(capsys.readouterr().err)
    assert not model_path("evil").exists()


def test_list_survives_a_broken_file(rawdenoise_home, capsys):
    folder = rawdenoise_home / "data" / "models"
    folder.mkdir(parents=True)
    (folder / "broken.safetensors").write_bytes(b"nonsense")
    assert main(["models", "list", "--json"]) == 0
    (row,) = [m for m in json.loads(capsys.readouterr().out)["models"] if m["name"] == "broken"]
    assert "error" in row
    assert main(["models", "list"]) == 0
    assert "unreadable" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["-O", "channels=abc"], "invalid option for architecture 'unet': channels=abc ("),
        (["-O", "channels=[1,2]"], "invalid option for architecture 'unet': channels=[1, 2] ("),
        (["-O", "channels=-4"], "invalid option for architecture 'unet': channels=-4 ("),
        (["--ratio-range", "100-inf"], "invalid --ratio-range '100-inf'"),
        (["--ratio-range", "1e400-1e500"], "invalid --ratio-range '1e400-1e500'"),
    ],
)
def test_import_refuses_bad_option_and_ratio_values(led_pretrain, extra, text, capsys):
    assert main(["models", "import", str(led_pretrain), "-n", "m2", *extra]) == ExitCode.USAGE
    assert text in _error_line(capsys.readouterr().err)
    assert not model_path("m2").exists()


def test_info_refuses_a_bad_option_value(led_pretrain, capsys):
    assert main(["models", "info", str(led_pretrain), "-O", "channels=abc"]) == ExitCode.USAGE
    line = _error_line(capsys.readouterr().err)
    assert "invalid option for architecture 'unet': channels=abc (" in line


def _bad_metadata_file(path: Path, **changes) -> Path:
    from safetensors.torch import save_file

    from rawdenoise.networks.tiny import TinyNet
    from rawdenoise.specs import ModelInfo

    meta = ModelInfo("tiny", {"channels": 8}).to_dict()
    meta.update(changes)
    save_file(TinyNet().state_dict(), str(path), metadata={"rawdenoise": json.dumps(meta)})
    return path


def test_one_file_with_bad_metadata_does_not_break_the_list(rawdenoise_home, tmp_path, capsys):
    good = _bad_metadata_file(tmp_path / "good.safetensors")
    assert main(["models", "import", str(good), "-n", "good"]) == 0
    folder = rawdenoise_home / "data" / "models"
    _bad_metadata_file(folder / "short.safetensors", ratio_range=[100])
    _bad_metadata_file(folder / "nan.safetensors", target_exposure=float("nan"))
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    rows = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert rows["good"]["architecture"] == "tiny"
    assert "ratio_range" in rows["short"]["error"] and "target_exposure" in rows["nan"]["error"]
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and out.count("unreadable") == 2
    assert main(["models", "info", "short"]) == ExitCode.BAD_INPUT
    line = _error_line(capsys.readouterr().err)
    assert "short.safetensors" in line and "ratio_range" in line
    # such a file is refused on import, too
    bad = _bad_metadata_file(tmp_path / "bad.safetensors", architecture=5)
    assert main(["models", "import", str(bad), "-n", "bad"]) == ExitCode.BAD_INPUT
    assert "architecture" in _error_line(capsys.readouterr().err)
    assert not model_path("bad").exists()


@pytest.mark.parametrize("options", [{"channels": -16}, {"channels": "x"}, {"foo": 1}])
def test_bad_options_in_a_file_are_exit_3_naming_the_file(tmp_path, options, capsys):
    path = _bad_metadata_file(tmp_path / "opts.safetensors", options=options)
    assert main(["models", "import", str(path), "-n", "m"]) == ExitCode.BAD_INPUT
    assert "opts.safetensors stores architecture options" in _error_line(capsys.readouterr().err)


def test_folder_and_dangling_link_in_the_models_folder(rawdenoise_home, capsys):
    folder = rawdenoise_home / "data" / "models"
    folder.mkdir(parents=True)
    (folder / "dir.safetensors").mkdir()
    (folder / "dangling.safetensors").symlink_to(folder / "gone.safetensors")
    assert main(["models", "info", "dir"]) == ExitCode.BAD_INPUT
    assert "'dir' is unreadable" in _error_line(capsys.readouterr().err)
    assert main(["models", "info", "dangling"]) == ExitCode.BAD_INPUT
    assert "dangling symbolic link" in _error_line(capsys.readouterr().err)
    assert main(["models", "remove", "dir"]) == ExitCode.BAD_INPUT
    assert "is a folder" in _error_line(capsys.readouterr().err)
    assert (folder / "dir.safetensors").is_dir()
    assert main(["models", "remove", "dangling"]) == 0
    assert not (folder / "dangling.safetensors").is_symlink()
    (folder / "broken.safetensors").write_bytes(b"nonsense")
    assert main(["models", "remove", "broken"]) == 0
    assert not (folder / "broken.safetensors").exists()


def test_empty_model_reference_is_a_usage_error(capsys):
    assert main(["models", "info", ""]) == ExitCode.USAGE
    assert "model name or path is empty" in _error_line(capsys.readouterr().err)


def test_info_shows_metadata_for_people_not_python_dicts(capsys) -> None:
    """The bundled model's virtual-camera parameters are nested float lists: info shows their
    shapes and 4-digit numbers, --json every value."""
    if main(["models", "info", "default"]) != 0:
        pytest.skip("this installation has no bundled default model")
    out = capsys.readouterr().out
    assert not re.search(r"^\S+:\s*[\[{]", out, re.MULTILINE)  # no value printed as a dict/list
    assert "0.24285714" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("virtual_camera_params:"))
    assert "color_biases (5x16x4)" in line and "tukey_lambdas (5)" in line
    assert "models info default --json" in out
    assert main(["models", "info", "default", "--json"]) == 0
    params = json.loads(capsys.readouterr().out)["extra"]["virtual_camera_params"]
    assert len(params["color_biases"]) == 5


def test_compact_values() -> None:
    from rawdenoise.cli._show import compact

    assert compact(0.123456789) == "0.1235" and compact(3) == "3" and compact("x") == "x"
    assert compact([1.0, 2.5]) == "1, 2.5" and compact([]) == ""
    assert compact(list(range(9))) == "9 values"
    assert compact([[1, 2], [3, 4], [5, 6]]) == "3x2 values"
    assert compact({"a": 1, "b": [1.5, 2]}) == "a=1; b=1.5, 2"
    big = {
        "lambdas": [-0.2428571432] * 5,
        "slopes": [0.46210494] * 5,
        "biases": [[[0.5] * 4] * 16] * 5,
    }
    assert compact(big) == "lambdas (5), slopes (5), biases (5x16x4)"
