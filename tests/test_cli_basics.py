"""The command line: ratio end to end, errors as one line, a torch-free fast start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _unsupported_dngs import write_linear_dng, write_xtrans_dng

from rawdenoise.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rawdenoise", *args],
        capture_output=True,
        text=True,
        env={**os.environ},
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


def test_version_starts_fast() -> None:
    from rawdenoise import __version__

    best = min(_timed(["--version"]) for _ in range(3))
    assert run("--version").stdout.strip() == f"rawdenoise {__version__}"
    # "well under half a second": generous bound for a loaded 2-core CI machine
    assert best < 0.5, f"rawdenoise --version took {best:.2f}s"


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start
