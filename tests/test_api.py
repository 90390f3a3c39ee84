"""The public Python API: the same results and the same errors as the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import rawdenoise
from rawdenoise.cli import main
from rawdenoise.errors import OutputExistsError, UsageError


def test_import_rawdenoise_and_its_api_names_load_no_torch_or_numpy() -> None:
    code = (
        "import sys, rawdenoise\n"
        "rawdenoise.ProcessOptions, rawdenoise.RawDenoiseError\n"
        "print(sorted(m for m in ('torch', 'numpy', 'rawpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_every_public_name_resolves() -> None:
    for name in rawdenoise.__all__:
        assert getattr(rawdenoise, name) is not None
    with pytest.raises(AttributeError):
        rawdenoise.no_such_thing  # noqa: B018


def test_denoise_file_matches_the_process_command(tmp_path, make_dng, tiny_model, capsys) -> None:
    src = make_dng("f.dng", h=64, w=96)
    assert main(["process", str(src), "-m", str(tiny_model), "--ratio", "2", "-f", "dng"]) == 0
    by_cli = rawdenoise.read_raw(tmp_path / "denoised" / "f.dng").mosaic

    result = rawdenoise.denoise_file(src, model=tiny_model, ratio=2)
    assert result.mosaic.dtype == np.uint16 and result.ratio == 2.0
    written = rawdenoise.write_output(result, tmp_path / "api.dng")
    assert np.array_equal(rawdenoise.read_raw(written).mosaic, by_cli)
    with pytest.raises(OutputExistsError):
        rawdenoise.write_output(result, written)
    png = rawdenoise.write_output(result, tmp_path / "api.png", bit_depth=8)
    assert png.stat().st_size > 0


def test_denoise_array_takes_a_loaded_model_and_checks_its_input(tiny_model) -> None:
    model = rawdenoise.load_model(tiny_model)
    x = np.full((4, 16, 24), 0.25, dtype=np.float32)
    y = rawdenoise.denoise_array(x, model, ratio=2, device="cpu")
    assert y.shape == x.shape and y.dtype == np.float32
    with pytest.raises(UsageError, match="packed array"):
        rawdenoise.denoise_array(np.zeros((16, 24), np.float32), model)
    for bad in (0, float("inf"), "bright"):  # the command line's message for each
        with pytest.raises(UsageError, match="invalid --ratio"):
            rawdenoise.denoise_array(x, model, ratio=bad)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fmt": "gif"}, "unknown --format 'gif'"),
        ({"overwrite": True, "skip_existing": True}, "not both"),
        ({"fmt": "jpeg", "bit_depth": 16}, "JPEG is 8-bit"),
        ({"quality": 90}, "--quality applies to --format jpeg only"),
        ({"ensemble": 3}, "--ensemble must be one of"),
        ({"ratio": "x"}, "invalid --ratio 'x'"),
        ({"suffix": "a/b"}, "path separator"),
    ],
)
def test_process_options_raise_what_the_command_line_prints(
    tmp_path, make_dng, capsys, options, message
) -> None:
    src = make_dng("f.dng")
    with pytest.raises(UsageError) as caught:
        rawdenoise.process(rawdenoise.ProcessOptions(paths=(src,), **options))
    assert message in caught.value.message
    args = {
        "fmt": "--format", "bit_depth": "--bit-depth", "quality": "--quality",
        "ensemble": "--ensemble", "ratio": "--ratio", "suffix": "--suffix",
    }  # fmt: skip
    argv = ["process", str(src)]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}"] if value is True else [args[key], str(value)]
    assert main(argv) == 2
    assert f"rawdenoise: error: {caught.value.message}" in capsys.readouterr().err


def test_process_reports_through_events(tmp_path, make_dng, tiny_model) -> None:
    make_dng("a.dng")
    (tmp_path / "bad.dng").write_bytes(b"not a raw file")
    seen: list[tuple[str, str]] = []
    events = rawdenoise.ProcessEvents(
        file_started=lambda i, job: seen.append(("start", job.source.name)),
        file_done=lambda n, r: seen.append((r.status, r.source.name)),
    )
    options = rawdenoise.ProcessOptions(paths=(tmp_path,), model=str(tiny_model))
    report = rawdenoise.process(options, events)
    assert ("start", "a.dng") in seen and ("done", "a.dng") in seen
    assert ("failed", "bad.dng") in seen
    assert report.count("done") == 1 and report.count("failed") == 1
    assert report.exit_code == 3
    assert report.to_dict()["processed"] == 1


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("rawdenoise.cli.process:process", "rawdenoise.jobs.process_options:ProcessOptions"),
        (
            "rawdenoise.cli.calibrate:calibrate",
            "rawdenoise.jobs.calibrate_options:CalibrateOptions",
        ),
        ("rawdenoise.cli.pair:pair", "rawdenoise.jobs.pair:PairOptions"),
        ("rawdenoise.cli.finetune:finetune", "rawdenoise.jobs.finetune:FinetuneOptions"),
        ("rawdenoise.cli.pretrain:pretrain", "rawdenoise.jobs.pretrain:PretrainOptions"),
        ("rawdenoise.cli.evaluate:evaluate", "rawdenoise.jobs.evaluate:EvaluateOptions"),
        ("rawdenoise.cli.models:import_", "rawdenoise.jobs.models:ImportOptions"),
    ],
)
def test_each_commands_options_map_one_to_one_onto_its_options_object(
    command: str, options: str
) -> None:
    """What the command shows (--json) and its click context are its own; every other
    parameter is a field of the library's options object, and every field a parameter."""
    import dataclasses
    import importlib
    import inspect

    def resolve(ref: str):
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)

    params = set(inspect.signature(resolve(command)).parameters) - {"json_out", "ctx"}
    fields = {f.name for f in dataclasses.fields(resolve(options))}
    assert params == fields


def test_pretrains_defaults_are_its_options_and_its_configs() -> None:
    """The command line, the options object and the training configuration each name their
    defaults; a default changed in one place only would make the API train differently."""
    command = "rawdenoise.cli.pretrain:pretrain"
    options = "rawdenoise.jobs.pretrain:PretrainOptions"
    config = "rawdenoise.training.pretrain_config:PretrainConfig"
    import dataclasses
    import importlib
    import inspect

    def resolve(ref: str):
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)

    def default(field: dataclasses.Field):
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return field.default

    cli = {
        name: getattr(p.default, "default", p.default)
        for name, p in inspect.signature(resolve(command)).parameters.items()
    }
    opts = {f.name: default(f) for f in dataclasses.fields(resolve(options))}
    cfg = {f.name: default(f) for f in dataclasses.fields(resolve(config))}

    def same(a: object, b: object) -> bool:
        if isinstance(b, str) and isinstance(a, tuple):  # "LOW,HIGH" against (LOW, HIGH)
            b = tuple(type(v)(x) for v, x in zip(a, b.split(","), strict=True))
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return list(a) == list(b)  # a repeatable option's [] is the options' ()
        return a == b

    compared = 0
    for name, value in opts.items():
        if value is dataclasses.MISSING:
            continue
        if name in cli and cli[name] is not ...:
            assert same(cli[name], value), name
        # None in the options means "not given": the configuration's own default applies
        if name in cfg and cfg[name] is not dataclasses.MISSING and value is not None:
            assert same(cfg[name], value), name
            compared += 1
    assert compared >= 10
