"""Models blended by ratio: two weight sets in one file, the network at each file's ratio."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rawpy
import torch
from safetensors.torch import load_file, save_file

from rawdenoise.cli import main
from rawdenoise.errors import ModelFileError, UsageError
from rawdenoise.model_file import read_header, read_model_info
from rawdenoise.networks.repnr import RepNR
from rawdenoise.networks.unet import UNet
from rawdenoise.ratio_blend import HIGH_PREFIX, blend_weight, network_at
from rawdenoise.ratio_blend_file import write_blend
from rawdenoise.specs import ModelInfo
from rawdenoise.weights import load_model, save_model

X = torch.rand(1, 4, 32, 48, generator=torch.Generator().manual_seed(3))


def repnr_unet(seed: int) -> RepNR:
    """A RepNR UNet (8 channels, 2 camera branches) with its own random weights."""
    torch.manual_seed(seed)
    rep = RepNR(UNet(channels=8), branches=2, exclude=("conv10_1",))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in rep.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return rep.eval()


def run(net: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return net(X)


@pytest.fixture
def two_sets(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(low model, high model, their blend from ratio 1 to 100)."""
    info = ModelInfo("unet", {"channels": 8}, target_exposure=100.0)
    low = save_model(tmp_path / "low.safetensors", repnr_unet(1), replace_range(info, 1, 17))
    high = save_model(tmp_path / "high.safetensors", repnr_unet(2), replace_range(info, 100, 300))
    blend = write_blend(low, high, 1, 100, tmp_path / "blend.safetensors", name="blend")
    return low, high, blend


def replace_range(info: ModelInfo, lo: float, hi: float) -> ModelInfo:
    from dataclasses import replace

    return replace(info, ratio_range=(lo, hi))


def test_blend_weight_is_log_linear_between_the_ends() -> None:
    assert blend_weight(0.5, 1, 100) == 0 and blend_weight(1, 1, 100) == 0
    assert blend_weight(100, 1, 100) == 1 and blend_weight(300, 1, 100) == 1
    assert blend_weight(10, 1, 100) == pytest.approx(0.5)
    assert blend_weight(math.sqrt(10), 1, 100) == pytest.approx(0.25)
    weights = [blend_weight(r, 2, 50) for r in np.geomspace(1, 80, 40)]
    assert weights == sorted(weights) and 0 < weights[20] < 1


def test_ends_are_the_two_models_and_the_middle_their_average(two_sets) -> None:
    low, high, blend = two_sets
    a, b, m = load_model(low), load_model(high), load_model(blend)
    assert m.blend is not None and m.info.ratio_blend == (1.0, 100.0)
    assert m.info.ratio_range == (1.0, 300.0)  # both sets' ratios
    assert any("blended by ratio" in note for note in m.notes)
    for ratio, model in ((0.5, a), (1, a), (100, b), (250, b)):
        assert torch.equal(run(m.network_for(ratio)), run(model.network))
    assert torch.equal(run(m.network), run(a.network))  # the low set, for plain use
    # at ratio 10 every weight is the average of the two sets' (RepNR state, then deployed)
    middle = m.blend.module_for(10).state_dict()
    sa, sb = a.repnr.state_dict(), b.repnr.state_dict()
    for key, value in middle.items():
        torch.testing.assert_close(value, (sa[key] + sb[key]) / 2, atol=1e-6, rtol=0)
    out = run(m.network_for(10))
    assert not torch.allclose(out, run(a.network)) and not torch.allclose(out, run(b.network))
    assert m.network_for(10) is m.network_for(10.0001)  # deployed once per weight


def test_file_holds_both_sets_and_says_so_for_newer_readers_only(two_sets) -> None:
    low, _, blend = two_sets
    metadata, tensors = read_header(blend)
    meta = json.loads(metadata["rawdenoise"])
    assert meta["ratio_blend"] == [1.0, 100.0] and meta["schema_version"] == 2
    plain = sum(not k.startswith(HIGH_PREFIX) for k in tensors)
    assert plain == len(read_header(low)[1]) and len(tensors) == 2 * plain
    # a file without a blend stays at schema 1, without the key: older versions read it
    meta_low = json.loads(read_header(low)[0]["rawdenoise"])
    assert meta_low["schema_version"] == 1 and "ratio_blend" not in meta_low


def test_a_blend_file_missing_its_second_set_is_one_clear_error(two_sets, tmp_path) -> None:
    _, _, blend = two_sets
    metadata, _ = read_header(blend)
    state = load_file(str(blend))
    cut = tmp_path / "cut.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith(HIGH_PREFIX)}, cut, metadata)
    with pytest.raises(ModelFileError, match="holds one"):
        load_model(cut)
    odd = tmp_path / "odd.safetensors"
    state = dict(state)
    state.pop(HIGH_PREFIX + "conv10_1.weight")
    save_file(state, odd, metadata)
    with pytest.raises(ModelFileError, match=r"two weight sets differ \(conv10_1.weight\)"):
        load_model(odd)


def test_only_two_trainings_of_one_network_blend(two_sets, tmp_path) -> None:
    low, _, blend = two_sets
    other = save_model(
        tmp_path / "wide.safetensors", repnr_unet_wide(), ModelInfo("unet", {"channels": 16})
    )
    with pytest.raises(UsageError, match="not the same network"):
        write_blend(low, other, 1, 100, tmp_path / "x.safetensors")
    with pytest.raises(UsageError, match="blend already"):
        write_blend(blend, low, 1, 100, tmp_path / "y.safetensors")
    with pytest.raises(UsageError, match="invalid ratio blend range 100-100") as refused:
        write_blend(low, low, 100, 100, tmp_path / "z.safetensors")
    assert refused.value.hint == "it needs 0 < LOW < HIGH"
    assert not (tmp_path / "x.safetensors").exists()


def repnr_unet_wide() -> RepNR:
    torch.manual_seed(5)
    return RepNR(UNet(channels=16), branches=2, exclude=("conv10_1",)).eval()


def _pixels(path: Path) -> np.ndarray:
    with rawpy.imread(str(path)) as raw:
        return raw.raw_image.copy()


def test_process_runs_each_file_at_its_own_ratio(two_sets, make_dng, tmp_path, capsys) -> None:
    """--ratio auto gives the two files ratios 1 and 100 (target exposure 100 / ISO x seconds):
    each comes out as the model trained for its ratio makes it, in one run."""
    low, high, blend = two_sets
    shoot = tmp_path / "shoot"
    make_dng("bright.dng", exposure=Fraction(1), folder=shoot, seed=1)  # 100 x 1 s: ratio 1
    make_dng("dark.dng", exposure=Fraction(1, 100), folder=shoot, seed=2)  # ratio 100
    common = ["-f", "dng", "--device", "cpu", "--precision", "fp32", "--threads", "1"]
    code = main(["process", str(shoot), "--model", str(blend), "--ratio", "auto",
                 "--out", str(tmp_path / "blend"), *common])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    for name, ratio, model in (("bright", "1", low), ("dark", "100", high)):
        out = tmp_path / name
        code = main(["process", str(shoot / f"{name}.dng"), "--model", str(model),
                     "--ratio", ratio, "--out", str(out), *common])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        got = _pixels(tmp_path / "blend" / f"{name}.dng")
        assert np.array_equal(got, _pixels(out / f"{name}.dng")), name
    assert not np.array_equal(
        _pixels(tmp_path / "bright" / "bright.dng"), _pixels(shoot / "bright.dng")
    )


def test_network_at_picks_a_loaded_models_network_for_the_ratio(two_sets) -> None:
    _, high, blend = two_sets
    m, b = load_model(blend), load_model(high)
    assert network_at(m, 100) is m.network_for(100)
    assert torch.equal(run(network_at(m, 300)), run(b.network))
    plain = torch.nn.Identity()
    assert network_at(plain, 100) is plain  # a bare network runs at every ratio


def _scores(capsys, pairs: Path, model: Path) -> list[float]:
    capsys.readouterr()
    code = main(["evaluate", str(pairs), "--model", str(model), "--json", "--threads", "1"])
    assert code == 0
    return [p["psnr"] for p in json.loads(capsys.readouterr().out)["pairs"]]


def test_evaluate_and_finetune_use_each_pairs_ratio(capsys, tmp_path) -> None:
    """Pairs at ratios 100 and 250 with a blend from 100 to 250: ``evaluate`` scores the first
    with the low set, the second with the high set; ``finetune`` starts between."""
    from _training_data import write_pairs

    pairs = write_pairs(tmp_path / "pairs", [3], [100, 250], h=64, w=64)
    info = ModelInfo("unet", {"channels": 8})
    low = save_model(tmp_path / "low.safetensors", repnr_unet(1), info)
    high = save_model(tmp_path / "high.safetensors", repnr_unet(2), info)
    blend = write_blend(low, high, 100, 250, tmp_path / "blend.safetensors")
    by_low, by_high, both = (_scores(capsys, pairs, m) for m in (low, high, blend))
    assert both == [by_low[0], by_high[1]] and by_low[1] != by_high[1]
    fast = ["--iterations", "1,1", "--crop", "32", "--batch", "1", "--threads", "1"]
    code = main(["finetune", str(pairs), "--model", str(blend), "--name", "tuned", *fast])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "ratio blend taken at ratio 158.114 (high-ratio set's share 0.50)" in err
    assert load_model("tuned").blend is None


def test_training_from_a_blend_starts_at_the_weights_for_its_ratio(two_sets) -> None:
    _, _, blend = two_sets
    m = load_model(blend)
    start = m.at_ratio(10)
    assert start.blend is None and start.info.ratio_blend is None and start.repnr is not None
    assert "ratio blend taken at ratio 10" in start.notes[-1]
    assert torch.equal(run(start.network), run(m.network_for(10)))
    for key, value in start.repnr.state_dict().items():
        assert torch.equal(value, m.blend.module_for(10).state_dict()[key])


def test_models_commands_show_keep_and_count_a_blend_once(two_sets, capsys) -> None:
    low, _, blend = two_sets
    assert main(["models", "import", str(blend), "--name", "mine"]) == 0
    capsys.readouterr()
    assert main(["models", "info", "mine", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["ratio_blend"] == [1.0, 100.0]
    low_row = read_header(low)[1]
    assert row["parameters"] == sum(math.prod(t["shape"]) for t in low_row.values())
    imported = load_model("mine")
    assert torch.equal(run(imported.network_for(100)), run(load_model(blend).network_for(100)))
    assert read_model_info(imported.path).ratio_blend == (1.0, 100.0)
    assert main(["models", "list"]) == 0
    assert "blend 1-100" in capsys.readouterr().out
    assert main(["models", "info", "mine"]) == 0
    assert "up to ratio 1, the second from 100" in capsys.readouterr().out


def test_models_blend_makes_a_named_model_and_refuses_bad_input(two_sets, capsys) -> None:
    low, high, blend = two_sets
    args = ["models", "blend", str(low), str(high), "--name", "both", "--ratios", "1-100"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "blended" in captured.out and "as 'both'" in captured.out
    made = load_model("both")
    assert torch.equal(run(made.network_for(10)), run(load_model(blend).network_for(10)))
    assert made.info.name == "both"
    assert main(args) == 5  # taken: kept unless --overwrite
    assert "a model named 'both' exists" in capsys.readouterr().err
    bad = ["models", "blend", str(low), str(high), "--name", "b2", "--ratios"]
    assert main([*bad, "100-1"]) == 2
    assert "rawdenoise: error: invalid --ratios '100-1'" in capsys.readouterr().err
    assert main([*bad, "5-5"]) == 2
    assert "LOW must be below HIGH" in capsys.readouterr().err
    assert main(["models", "blend", str(low), "both", "--name", "b3", "--ratios", "1-100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rawdenoise: error: ") and "is a blend already" in err
    assert "Traceback" not in err


def test_pretrain_init_from_a_blend_starts_at_the_middle_of_its_ratios(
    two_sets, tmp_path_factory, capsys
) -> None:
    """``pretrain --init BLEND --ratio-range 10,1000 --ratio-sampling log`` starts from the
    blend at ratio 100 (the run's middle as drawn): the high set, as the blend ends at 100."""
    from _training_data import training_set

    data = training_set(tmp_path_factory)
    _, _, blend = two_sets
    args = ["pretrain", str(data.clean_dir), "--init", str(blend), "--name", "again",
            "--iterations", "1", "--batch", "2", "--crop", "32", "--threads", "1",
            "--ratio-range", "10,1000", "--ratio-sampling", "log",
            "--virtual-cameras", "2"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "ratio blend taken at ratio 100 (high-ratio set's share 1.00)" in text
    assert text.index("pretraining unet") < text.index("ratio blend taken")  # after the summary
    assert load_model("again").blend is None


def test_python_api_runs_a_blend_at_the_ratio_given(two_sets) -> None:
    from rawdenoise.api import denoise_array, load_model

    low, high, blend = two_sets
    x = np.random.default_rng(0).uniform(0, 0.01, (4, 32, 48)).astype(np.float32)
    both = load_model(str(blend))  # loaded once, run at two ratios
    for ratio, model in ((1, low), (100, high)):
        got = denoise_array(x, both, ratio=ratio, device="cpu", precision="fp32")
        want = denoise_array(x, str(model), ratio=ratio, device="cpu", precision="fp32")
        assert np.array_equal(got, want), ratio
