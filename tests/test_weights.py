"""Model files: LED .pth formats, our safetensors round trip, safety, errors, names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rawdenoise.dirs import models_dir
from rawdenoise.errors import ModelFileError, OutputExistsError, PluginError, UsageError
from rawdenoise.model_file import read_header
from rawdenoise.model_names import PACKAGED_DEFAULT, bundled_models
from rawdenoise.networks.repnr import RepNR
from rawdenoise.networks.tiny import TinyNet
from rawdenoise.networks.unet import UNet
from rawdenoise.specs import ModelInfo
from rawdenoise.weights import (
    list_models,
    load_model,
    model_path,
    read_model_info,
    resolve_model,
    save_model,
)

X = torch.rand(1, 4, 23, 19, generator=torch.Generator().manual_seed(1))


def unet8(seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(channels=8)


def randomized_repnr(base: torch.nn.Module, exclude=("conv10_1",), aux=True, seed=0) -> RepNR:
    rep = RepNR(base, branches=5, exclude=exclude, aux=aux)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in rep.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return rep.eval()


def run(net: torch.nn.Module, x: torch.Tensor = X) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


# -- LED checkpoints -------------------------------------------------------------------------


def test_led_plain_params_with_module_prefix_load(tmp_path):
    net = unet8()
    path = tmp_path / "SID_baseline.pth"
    torch.save({"params": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    loaded = load_model(path)
    assert loaded.source == "led" and loaded.repnr is None
    assert loaded.info.architecture == "unet" and dict(loaded.info.options)["channels"] == 8
    assert loaded.spec.multiple_of == 16 and not loaded.network.training
    assert torch.equal(run(loaded.network), run(net))


def test_params_deploy_is_preferred_over_repnr_params(tmp_path):
    rep = randomized_repnr(unet8())
    deployed = rep.deploy().eval()
    path = tmp_path / "LED_Deploy_SonyA7S2_Ratio100-300.pth"
    torch.save({"params": rep.state_dict(), "params_deploy": deployed.state_dict()}, path)
    assert len(rep.state_dict()) == 298
    loaded = load_model(path)
    assert loaded.repnr is None and loaded.info.kind == "plain"
    assert loaded.info.ratio_range == (100.0, 300.0)
    assert dict(loaded.info.extra)["param_key"] == "params_deploy"
    torch.testing.assert_close(run(loaded.network), run(rep), atol=1e-5, rtol=0)


def test_params_ema_is_preferred_over_params(tmp_path):
    ema, raw = unet8(1), unet8(2)
    path = tmp_path / "ema.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
    assert torch.equal(run(load_model(path).network), run(ema))


def test_led_repnr_pretrain_file_with_262_keys_loads_generalized_and_deploys(tmp_path):
    rep = randomized_repnr(unet8(), aux=False)
    state = rep.state_dict()
    for key in [k for k in state if k.endswith((".align_weights.5", ".align_biases.5"))]:
        state[key] = torch.full_like(state[key], 1.0 if "weights" in key else 0.0)
    assert len(state) == 262
    path = tmp_path / "LED_Pretrain_MM22_PMN_Setting_Ratio100-300_Repnr.pth"
    torch.save({"params": state}, path)
    loaded = load_model(path)
    assert loaded.repnr is not None and loaded.info.kind == "repnr" and loaded.info.branches == 5
    assert not loaded.repnr.has_aux
    assert any("generalize" in n for n in loaded.notes)
    conv = loaded.repnr.net.conv4_1
    mean = torch.stack([state[f"conv4_1.align_weights.{i}"] for i in range(5)]).mean(0)
    torch.testing.assert_close(conv.align_weights[5].detach(), mean)
    torch.testing.assert_close(run(loaded.network), run(loaded.repnr).detach(), atol=1e-5, rtol=0)
    rep.generalize()  # the same as what loading did
    torch.testing.assert_close(run(loaded.network), run(rep), atol=1e-5, rtol=0)


def test_trained_target_branch_is_not_generalized(tmp_path):
    rep = randomized_repnr(unet8(), aux=True)
    path = tmp_path / "finetuned_params_only.pth"
    torch.save({"params": rep.state_dict()}, path)
    loaded = load_model(path)
    assert loaded.repnr.has_aux and not any("generalize" in n for n in loaded.notes)
    torch.testing.assert_close(run(loaded.network), run(rep), atol=1e-5, rtol=0)


def test_bare_state_dict_pth_and_safetensors_without_metadata(tmp_path):
    from safetensors.torch import save_file

    net = unet8()
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    save_file(net.state_dict(), str(tmp_path / "bare.safetensors"))
    for name in ("bare.pth", "bare.safetensors"):
        loaded = load_model(tmp_path / name)
        assert loaded.source == "state_dict"
        assert torch.equal(run(loaded.network), run(net))


# -- safety ----------------------------------------------------------------------------------


class Payload:
    """Unpickling this would create a marker file: loading must never get that far."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_with_objects_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"params": unet8().state_dict(), "extra": Payload(marker)}, path)
    with pytest.raises(ModelFileError, match="Python objects") as info:
        load_model(path)
    assert not marker.exists()
    assert info.value.hint


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"params": {"conv1_1.weight": "not a tensor"}}, "not a plain tensor dict"),
        ({"params": {"conv1_1.weight": [1.0, 2.0]}}, "not a plain tensor dict"),
        ([torch.zeros(3)], "holds a list"),
        ({"params": {}}, "holds no tensors"),
    ],
)
def test_non_tensor_payloads_are_refused(tmp_path, payload, message):
    path = tmp_path / "odd.pth"
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_garbage_and_truncated_files_give_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02garbage" * 20)
    with pytest.raises(ModelFileError, match="not a PyTorch checkpoint"):
        load_model(junk)
    good = save_model(tmp_path / "m.safetensors", unet8(), ModelInfo("unet", {"channels": 8}))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-1000])
    with pytest.raises(ModelFileError, match="is truncated"):
        load_model(cut)
    with pytest.raises(ModelFileError, match=r"truncated \(\d+ of \d+ bytes\)"):
        read_model_info(cut)  # what `models info` / `models list` read: the header alone


# -- mismatches ------------------------------------------------------------------------------


def test_shape_mismatch_says_what_the_file_looks_like(tmp_path):
    path = tmp_path / "c16.pth"
    torch.save({"params": UNet(channels=16).state_dict()}, path)
    with pytest.raises(ModelFileError) as info:
        load_model(path, options={"channels": 8})
    msg = str(info.value)
    assert "looks like an LED/SID UNet with channels=16" in msg
    assert "shape mismatch" in msg and "conv1_1.weight (16, 4, 3, 3) vs (8, 4, 3, 3)" in msg
    assert "\n" not in msg
    # without options, channels are read from the file
    assert dict(load_model(path).info.options)["channels"] == 16


def test_wrong_architecture_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "unet.pth"
    torch.save({"params": unet8().state_dict()}, path)
    with pytest.raises(ModelFileError) as info:
        load_model(path, arch="tiny")
    msg = str(info.value)
    assert "architecture 'tiny'" in msg and "LED/SID UNet with channels=8" in msg
    assert "missing keys: conv1.weight" in msg and "unexpected keys: conv1_1.weight" in msg
    assert "more)" in msg


def test_unrecognised_file_asks_for_arch(tmp_path):
    path = tmp_path / "nafnet.pth"
    torch.save({"params": {"intro.weight": torch.zeros(2), "ending.weight": torch.zeros(2)}}, path)
    with pytest.raises(ModelFileError, match="looks like LED's NAFNet") as info:
        load_model(path)
    assert "--arch" in info.value.hint and "unet" in info.value.hint
    with pytest.raises(PluginError, match="unknown architecture 'no-such-net'"):
        load_model(path, arch="no-such-net")


# -- our files -------------------------------------------------------------------------------


def test_plain_round_trip_is_identical_and_keeps_metadata(tmp_path):
    net = unet8().eval()
    info = ModelInfo(
        "unet",
        {"channels": 8},
        name="mine",
        camera="Sony ILCE-7SM2",
        ratio_range=(100, 300),
        trained_on="6 pairs",
        extra={"iterations": 1500},
    )
    path = save_model(tmp_path / "mine.safetensors", net, info)
    stored = read_model_info(path)
    assert stored.camera == "Sony ILCE-7SM2" and stored.ratio_range == (100.0, 300.0)
    assert stored.kind == "plain" and stored.rawdenoise_version
    metadata, tensors = read_header(path)
    assert metadata["format"] == "rawdenoise.model" and json.loads(metadata["rawdenoise"])
    assert set(tensors) == set(net.state_dict())
    loaded = load_model(path)
    assert loaded.source == "rawdenoise" and loaded.info.trained_on == "6 pairs"
    assert torch.equal(run(loaded.network), run(net))


def test_repnr_round_trip_keeps_branches_for_finetune(tmp_path):
    rep = randomized_repnr(unet8(), aux=True)
    path = save_model(tmp_path / "rep.safetensors", rep, ModelInfo("unet", {"channels": 8}))
    info = read_model_info(path)
    assert info.kind == "repnr" and info.branches == 5
    _, tensors = read_header(path)
    assert "conv1_1.align_weights.5" in tensors and "conv1_1.aux_bias" in tensors
    loaded = load_model(path)
    assert loaded.repnr is not None and loaded.repnr.has_aux
    assert all(torch.equal(v, rep.state_dict()[k]) for k, v in loaded.repnr.state_dict().items())
    assert torch.equal(run(loaded.repnr), run(rep))
    torch.testing.assert_close(run(loaded.network), run(rep), atol=1e-5, rtol=0)
    with torch.no_grad():  # camera branches survive
        for branch in (0, 4):
            assert torch.equal(loaded.repnr(X, branch), rep(X, branch))


def test_bias_free_deployed_network_round_trips(tmp_path):
    rep = randomized_repnr(TinyNet(bias=False), exclude=("conv_out",))
    plain = rep.deploy().eval()
    info = ModelInfo("tiny", {"channels": 8, "bias": False})
    loaded = load_model(save_model(tmp_path / "t.safetensors", plain, info))
    torch.testing.assert_close(run(loaded.network), run(rep), atol=1e-5, rtol=0)


def test_save_is_atomic_and_never_overwrites_silently(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, unet8(0), ModelInfo("unet", {"channels": 8}))
    with pytest.raises(OutputExistsError, match="exists"):
        save_model(path, unet8(1), ModelInfo("unet", {"channels": 8}))
    assert torch.equal(run(load_model(path).network), run(unet8(0)))
    save_model(path, unet8(1), ModelInfo("unet", {"channels": 8}), overwrite=True)
    assert torch.equal(run(load_model(path).network), run(unet8(1)))
    with pytest.raises(PluginError, match="unknown architecture"):
        save_model(tmp_path / "x.safetensors", unet8(), ModelInfo("unett"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_newer_schema_is_refused(tmp_path):
    from safetensors.torch import save_file

    info = ModelInfo("unet", {"channels": 8}).to_dict()
    info["schema_version"] = 99
    path = tmp_path / "future.safetensors"
    save_file(unet8().state_dict(), str(path), metadata={"rawdenoise": json.dumps(info)})
    with pytest.raises(ModelFileError, match="newer rawdenoise"):
        load_model(path)


# -- names -----------------------------------------------------------------------------------


def test_models_are_found_by_name(rawdenoise_home):
    path = model_path("my-a7s2")
    assert path == rawdenoise_home / "data" / "models" / "my-a7s2.safetensors"
    save_model(path, unet8(), ModelInfo("unet", {"channels": 8}, name="my-a7s2"))
    assert ("my-a7s2", path) in list_models()
    assert load_model("my-a7s2").path == path
    with pytest.raises(PluginError, match="unknown model 'my-a7s3'") as info:
        load_model("my-a7s3")
    assert "my-a7s2" in info.value.hint
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model("missing/file.pth")
    with pytest.raises(UsageError, match="invalid model name"):
        model_path("../escape")


@pytest.mark.parametrize("name", ["default", "faithful"])
def test_bundled_names_resolve_to_the_packaged_models(name, monkeypatch, tmp_path):
    """``default`` and ``faithful`` name the package's files, listed first; a user's file of
    the same name in the models folder is neither used nor listed."""
    packaged = bundled_models()[name]
    assert packaged.parent == PACKAGED_DEFAULT.parent
    assert model_path(name) == packaged
    models_dir().mkdir(parents=True, exist_ok=True)
    save_model(models_dir() / f"{name}.safetensors", unet8(), ModelInfo("unet", {"channels": 8}))
    if packaged.exists():
        loaded = load_model(name)
        assert loaded.path == packaged and loaded.info.name == name
        assert [n for n, _ in list_models()][:2] == ["default", "faithful"]
        assert [p for n, p in list_models() if n == name] == [packaged]
    else:
        with pytest.raises(PluginError, match=f"'{name}' model") as info:
            load_model(name)
        assert "rawdenoise models import" in info.value.hint


# -- metadata and options stored in a file are checked ---------------------------------------


def tiny_file(path: Path, **changes) -> Path:
    """A TinyNet (channels 8) model file whose stored metadata has ``changes`` applied."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    meta = ModelInfo("tiny", {"channels": 8}, target_exposure=0.64).to_dict()
    meta.update(changes)
    state = TinyNet(channels=8).state_dict()
    save_file(state, str(path), metadata={"rawdenoise": json.dumps(meta)})
    return path


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ratio_range": [100]}, "ratio_range"),
        ({"ratio_range": [1, 2, 3]}, "ratio_range"),
        ({"ratio_range": [float("nan"), 300]}, "ratio_range"),
        ({"ratio_range": [100, float("inf")]}, "ratio_range"),
        ({"ratio_range": [300, 100]}, "ratio_range"),
        ({"ratio_range": [0, 100]}, "ratio_range"),
        ({"ratio_range": "ab"}, "ratio_range"),
        ({"ratio_range": 100}, "ratio_range"),
        ({"ratio_range": [True, 2]}, "ratio_range"),
        ({"architecture": 5}, "architecture"),
        ({"architecture": ""}, "architecture"),
        ({"camera": 5}, "camera"),
        ({"name": ["x"]}, "name"),
        ({"target_exposure": "abc"}, "target_exposure"),
        ({"target_exposure": float("nan")}, "target_exposure"),
        ({"target_exposure": float("inf")}, "target_exposure"),
        ({"target_exposure": -1}, "target_exposure"),
        ({"target_exposure": 0}, "target_exposure"),
        ({"options": "x"}, "options"),
        ({"options": [["channels", 8]]}, "options"),
        ({"extra": 3}, "extra"),
        ({"branches": "5"}, "branches"),
        ({"schema_version": float("inf")}, "metadata"),
        ({"ratio_range": [10**400, 10**401]}, "ratio_range"),
        ({"kind": ["plain"]}, "kind"),
    ],
)
def test_invalid_stored_metadata_is_a_model_file_error_naming_file_and_field(
    tmp_path, changes, field
):
    path = tiny_file(tmp_path / "bad.safetensors", **changes)
    for read in (read_model_info, load_model):
        with pytest.raises(ModelFileError) as info:
            read(path)
        assert "bad.safetensors" in str(info.value) and field in str(info.value)
        assert "\n" not in str(info.value)


def test_valid_metadata_values_are_kept():
    info = ModelInfo("tiny", {"channels": 8}, ratio_range=[100, 300], target_exposure=2)
    assert info.ratio_range == (100.0, 300.0) and info.target_exposure == 2
    assert ModelInfo("tiny", ratio_range=(5, 5)).ratio_range == (5.0, 5.0)
    assert ModelInfo.from_dict(info.to_dict()) == info
    assert ModelInfo("tiny", target_exposure=None).target_exposure is None


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"channels": -16}, "channels=-16"),
        ({"channels": "x"}, "channels=x"),
        ({"channels": 8, "foo": 1}, "does not accept 'foo'"),
    ],
)
def test_bad_options_stored_in_a_file_are_a_model_file_error(tmp_path, options, text):
    path = tiny_file(tmp_path / "opts.safetensors", options=options)
    with pytest.raises(ModelFileError, match=r"opts\.safetensors stores architecture options") as e:
        load_model(path)
    assert text in str(e.value)


def test_user_options_are_still_blamed_on_the_user(tmp_path):
    good = tiny_file(tmp_path / "good.safetensors")
    with pytest.raises(UsageError, match="channels=-4"):
        load_model(good, options={"channels": -4})
    with pytest.raises(PluginError, match="does not accept 'foo'"):
        load_model(good, options={"foo": 1})
    bad = tiny_file(tmp_path / "bad.safetensors", options={"channels": -16})
    with pytest.raises(UsageError, match="channels=abc"):  # the user's value is the first fault
        load_model(bad, options={"channels": "abc"})
    # the user's option replaces the file's bad one: the weights fit channels=8
    assert dict(load_model(bad, options={"channels": 8}).info.options)["channels"] == 8
    unknown = tiny_file(tmp_path / "unknown.safetensors", options={"channels": 8, "foo": 1})
    with pytest.raises(ModelFileError, match=r"unknown\.safetensors stores"):
        load_model(unknown, options={"channels": 8})


# -- names: empty, folders and dangling links ------------------------------------------------


@pytest.mark.parametrize("ref", ["", "  "])
def test_empty_model_reference_is_a_usage_error(ref):
    with pytest.raises(UsageError, match="model name or path is empty"):
        resolve_model(ref)


def test_unreadable_entries_are_named_not_unknown(rawdenoise_home):
    folder = rawdenoise_home / "data" / "models"
    folder.mkdir(parents=True)
    (folder / "dir.safetensors").mkdir()
    (folder / "dangling.safetensors").symlink_to(folder / "nowhere.safetensors")
    with pytest.raises(ModelFileError, match=r"model 'dir' is unreadable: .* is a folder"):
        resolve_model("dir")
    with pytest.raises(ModelFileError, match=r"'dangling' is unreadable: .* dangling symbolic"):
        load_model("dangling")
    with pytest.raises(PluginError, match="unknown model 'dirr'") as info:
        resolve_model("dirr")
    assert "dir" in info.value.hint
