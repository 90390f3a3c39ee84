"""The command line: ratio end to end, errors as one line, a torch-free fast start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _unsupported_dngs import write_linear_dng, write_xtrans_dng

from rawdenoise.cli import main


def run(*args: str, buffered: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if buffered:  # stdout block-buffered into the pipe, as for any user (not this CI's env)
        env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run(
        [sys.executable, "-m", "rawdenoise", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_ratio_from_numbers_json(capsys) -> None:
    code = main(
        [
            "ratio",
            "--bright-iso",
            "100",
            "--bright-time",
            "30",
            "--dark-iso",
            "6400",
            "--dark-time",
            "1/10",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ratio"] == pytest.approx(4.6875)
    assert data["plan"][0]["iso"] == 320 and data["plan"][0]["exposure_time"] == 2


def test_ratio_from_files(make_dng, capsys) -> None:
    bright = make_dng("bright.dng", iso=100, exposure="30")
    dark = make_dng("dark.dng", iso=6400, exposure="1/10")
    assert main(["ratio", str(bright), str(dark)]) == 0
    out = capsys.readouterr().out
    assert "ratio:  4.6875" in out and "also shoot ISO 320 at 2 s" in out


def test_ratio_warns_about_two_cameras(make_dng, capsys) -> None:
    bright = make_dng("bright.dng", iso=100, exposure="30", make="Sony", model="ILCE-7SM2")
    dark = make_dng("dark.dng", iso=6400, exposure="1/10", make="SONY", model="ilce-7sm2")
    assert main(["ratio", str(bright), str(dark)]) == 0
    assert capsys.readouterr().err == ""  # the same camera, whatever the case
    other = make_dng("other.dng", iso=6400, exposure="1/10", make="Canon", model="EOS R6")
    assert main(["ratio", str(bright), str(other), "--json"]) == 0
    captured = capsys.readouterr()
    warning = (
        "bright.dng comes from Sony ILCE-7SM2 and other.dng from Canon EOS R6: a noisy/clean "
        "pair for fine-tuning must come from one camera"
    )
    assert captured.err.startswith(f"rawdenoise: warning: {warning}")
    assert json.loads(captured.out)["warnings"][0].startswith(warning)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines, "expected an error message"
    assert lines[0].startswith("rawdenoise: error: ")
    assert all(ln.startswith(("rawdenoise: error: ", "hint: ")) for ln in lines), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_bad_inputs_give_one_line_and_exit_3(tmp_path: Path, make_dng) -> None:
    import imageio.v3 as iio

    jpeg = tmp_path / "IMG_0001.CR2"
    iio.imwrite(jpeg, np.zeros((32, 32, 3), np.uint8), extension=".jpg")
    no_exif = make_dng("noexif.dng", iso=None, exposure=None)
    good = make_dng("good.dng", h=256, w=256)
    truncated = tmp_path / "truncated.dng"
    truncated.write_bytes(good.read_bytes()[:3000])
    linear = tmp_path / "linear.dng"
    xtrans = tmp_path / "xtrans.dng"
    write_linear_dng(linear)
    write_xtrans_dng(xtrans)
    for path in (jpeg, no_exif, truncated, tmp_path / "missing.ARW", linear, xtrans):
        proc = run("ratio", str(path), str(good))
        assert proc.returncode == 3, proc.stderr
        line = _one_error_line(proc.stderr)
        if path in (linear, xtrans):
            assert ("X-Trans" if path == xtrans else "linear") in line


def test_usage_error_exit_2() -> None:
    proc = run("ratio", "--bright-iso", "100")
    assert proc.returncode == 2
    assert "needs a RAW file" in _one_error_line(proc.stderr)
    proc = run("ratio", "--no-such-option")
    assert proc.returncode == 2
    _one_error_line(proc.stderr)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["ratio", "--help"]])
def test_help_and_version_do_not_import_torch(args: list[str]) -> None:
    code = (
        "import sys, time; t=time.perf_counter(); from rawdenoise.cli import main\n"
        f"code = main({args!r})\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO_TORCH', time.perf_counter()-t)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    marker, _seconds = proc.stdout.strip().splitlines()[-1].split()
    assert marker == "NO_TORCH"


@pytest.mark.parametrize(
    "args", [["--help"], ["process", "--help"], ["--version"], ["models", "list"], ["plugins"]]
)
def test_a_reader_that_closes_the_pipe_early_is_not_an_error(args: list[str]) -> None:
    """``rawdenoise --help | head -1``: the reader is gone before rawdenoise writes (its end
    of the pipe is closed before the command starts): exit 0 and no message, as for the
    commands' own output, not typer's exit 1 ("internal error")."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rawdenoise", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the interpreter has even started: every write fails
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == ""


def test_version_is_fast_because_it_loads_no_heavy_module() -> None:
    """What keeps ``--version`` quick, asserted without timing it (timings are benchmarks)."""
    from rawdenoise import __version__

    assert run("--version").stdout.strip() == f"rawdenoise {__version__}"
    code = (
        "import sys; from rawdenoise.cli import main; main(['--version'])\n"
        "print(sorted(m for m in ('torch', 'numpy', 'rawpy', 'scipy', 'imageio') "
        "if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--threads", "100000"], 2, "--threads 100000 is more than this machine can use"),
        (["--threads", "99999999999999999999"], 2, "is more than this machine can use"),
        (["--device", "cpu:x"], 2, "invalid device 'cpu:x'"),
        (["--device", "cuda:x"], 2, "invalid device 'cuda:x'"),
    ],
)
def test_process_and_evaluate_refuse_impossible_threads_and_devices(
    capsys, args, code, text
) -> None:
    from rawdenoise.samples import DARK

    for command in (["process", str(DARK), "--dry-run"], ["evaluate", "nosuch.txt"]):
        if command[0] == "process" and "--device" in args:
            command = command[:-1]  # the device is checked when the run starts
        assert main([*command, *args]) == code
        err = capsys.readouterr().err
        assert err.startswith(f"rawdenoise: error: {text}") or text in err, err
        assert "internal error" not in err


def test_an_over_long_file_name_is_one_line(capsys) -> None:
    name = "a" * 300 + ".dng"
    assert main(["process", name]) == 3
    err = capsys.readouterr().err
    assert err.startswith("rawdenoise: error: file name too long") and err.count("\n") <= 2


def test_a_home_that_cannot_be_expanded_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAWDENOISE_HOME", "~no-such-user-here/x")
    assert main(["models", "list"]) == 2
    assert "cannot expand '~no-such-user-here'" in capsys.readouterr().err


def test_file_names_with_brackets_are_text_not_markup(tmp_path, capsys) -> None:
    from rawdenoise.samples import BRIGHT

    folder = tmp_path / "x["
    folder.mkdir()
    odd = folder / "b].dng"
    odd.write_bytes(BRIGHT.read_bytes())
    missing = tmp_path / "nope[/x].dng"
    code = main(["process", str(missing), str(odd), "--dry-run"])  # a rich table
    out, err = capsys.readouterr()
    assert code == 3 and "internal error" not in err and "would write" in out
    assert main(["process", str(missing), str(odd), "--dry-run", "--json"]) == 3
    files = json.loads(capsys.readouterr().out)["files"]
    assert [f["input"] for f in files] == [str(missing), str(odd)]


def test_json_never_holds_nan_or_infinity(capsys) -> None:
    from rawdenoise.cli._console import emit_json

    emit_json({"psnr": float("inf"), "rows": [float("nan"), 1.5], "ok": "x"})
    assert json.loads(capsys.readouterr().out) == {"psnr": None, "rows": [None, 1.5], "ok": "x"}


@pytest.mark.parametrize("value", ["0", "false", "no", "off"])
def test_rawdenoise_debug_off_values_do_not_turn_tracebacks_on(capsys, monkeypatch, value):
    monkeypatch.setenv("RAWDENOISE_DEBUG", value)
    assert main(["ratio", "nosuch_bright.dng", "nosuch_dark.dng"]) == 3
    assert capsys.readouterr().err.startswith("rawdenoise: error:")


def test_an_empty_model_reference_is_a_usage_error_not_the_default(capsys, tmp_path) -> None:
    from rawdenoise.samples import DARK

    assert main(["process", str(DARK), "--model", "", "--out", str(tmp_path)]) == 2
    assert "the model name or path is empty" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_program_ends_with_its_streams_flushed_and_its_exit_code(
    tmp_path, make_dng, tiny_model
) -> None:
    """Once torch is loaded the program ends without the interpreter's teardown (os._exit):
    everything written to stdout and stderr must still arrive, with the command's exit code."""
    src = make_dng("a.dng", folder=tmp_path / "in")
    out = str(tmp_path / "o")
    args = ["process", str(src), "--model", str(tiny_model), "-f", "dng", "--out", out]
    first = run(*args, "--json", buffered=True)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)  # the whole document, not a cut-off buffer
    assert summary["processed"] == 1 and Path(summary["files"][0]["output"]).is_file()
    again = run(*args, buffered=True)
    assert again.returncode == 5
    assert again.stderr.strip().splitlines()[-1].startswith("hint: pass --overwrite")
