"""``pretrain/finetune --precision bf16``: the forward pass under autocast, the rest float32."""

from __future__ import annotations

import pytest
import torch
from _training_data import training_set
from safetensors.torch import load_file

from rawdenoise.cli import main
from rawdenoise.dirs import models_dir
from rawdenoise.errors import UsageError
from rawdenoise.training import precision as prec
from rawdenoise.weights import load_model

FAST = ["--arch", "tiny", "--batch", "2", "--crop", "32", "--threads", "1"]


def test_precision_names_and_devices(monkeypatch) -> None:
    assert prec.check_training_precision(" BF16 ") == "bf16"
    with pytest.raises(UsageError, match="loss scaling"):
        prec.check_training_precision("fp16")
    with pytest.raises(UsageError, match="unknown precision"):
        prec.check_training_precision("fp8")
    assert prec.precision_warning("fp32", torch.device("mps")) is None
    with pytest.raises(UsageError, match="cpu and cuda, not mps"):
        prec.precision_warning("bf16", torch.device("mps"))
    monkeypatch.setattr("rawdenoise.devices.cpu_has_native_bf16", lambda: False)
    assert "emulated" in prec.precision_warning("bf16", torch.device("cpu"))
    monkeypatch.setattr("rawdenoise.devices.cpu_has_native_bf16", lambda: True)
    assert prec.precision_warning("bf16", torch.device("cpu")) is None


def test_bf16_runs_the_convolutions_in_bfloat16_and_returns_float32() -> None:
    conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    seen: list[torch.dtype] = []
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    x = torch.rand(1, 4, 8, 8)
    assert prec.with_precision(conv, "fp32", torch.device("mps")) is conv
    out = prec.with_precision(conv, "bf16", torch.device("cpu"))(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert conv.weight.dtype == torch.float32  # the weights stay float32
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.dtype == torch.float32


def test_training_runs_the_network_on_channels_last_inputs_on_cpu() -> None:
    conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    layouts: list[bool] = []
    conv.register_forward_pre_hook(
        lambda _m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    x = torch.rand(2, 4, 8, 8)
    fast = prec.with_precision(conv, "fp32", torch.device("cpu"))
    assert fast is not conv
    torch.testing.assert_close(fast(x), conv(x), rtol=1e-5, atol=1e-6)
    assert layouts == [True, False]  # the wrapped call got NHWC, the plain call NCHW
    assert conv.weight.is_contiguous()  # the weights keep their layout


def test_pretrain_and_finetune_train_in_bf16_and_record_it(tmp_path_factory, capsys) -> None:
    data = training_set(tmp_path_factory)
    run = ["pretrain", str(data.clean_dir), "--iterations", "3", "--seed", "4", *FAST]
    assert main([*run, "--name", "b32"]) == 0
    assert main([*run, "--name", "b32again"]) == 0
    assert main([*run, "--name", "b16", "--precision", "bf16"]) == 0, capsys.readouterr().err
    assert "bf16" in capsys.readouterr().err  # said in the run's summary line
    assert load_model("b16").info.extra["precision"] == "bf16"
    assert load_model("b32").info.extra["precision"] == "fp32"
    w32 = load_file(str(models_dir() / "b32.safetensors"))
    w16 = load_file(str(models_dir() / "b16.safetensors"))
    assert w32.keys() == w16.keys()
    assert all(torch.isfinite(w16[k]).all() and w16[k].dtype == w32[k].dtype for k in w16)
    # the same seed and data give the same fp32 weights; bf16's arithmetic changes them
    again = load_file(str(models_dir() / "b32again.safetensors"))
    assert all(torch.equal(w32[k], again[k]) for k in w32)
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)

    tune = ["finetune", str(data.pairs), "--model", "b16", "--iterations", "2,1", *FAST[2:]]
    assert main([*tune, "--name", "t16", "--precision", "bf16"]) == 0, capsys.readouterr().err
    assert load_model("t16").info.extra["precision"] == "bf16"
    capsys.readouterr()
    assert main([*tune, "--name", "t8", "--precision", "fp16"]) == 2
    assert capsys.readouterr().err.startswith("rawdenoise: error: fp16 is not offered")
