"""``python -m rawdenoise.samples.build``: a real command line, writing where it is told."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rawdenoise.samples import BRIGHT, DARK
from rawdenoise.samples.build import main


def test_help_is_usage_not_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rawdenoise.samples.build", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: python -m rawdenoise.samples.build")
    assert "--out DIR" in proc.stdout


def test_a_missing_source_is_one_error_line(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "none.dng"), "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err == f"rawdenoise: error: {tmp_path / 'none.dng'}: no such file\n"


def test_rebuilds_the_bundled_samples_into_the_folder_given(
    shared_data: Path, tmp_path: Path, capsys
) -> None:
    before = {p: p.read_bytes() for p in (BRIGHT, DARK)}
    source = str(shared_data / "gopro_hero6_iso100_GOPR0024.dng")
    assert main([source, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / BRIGHT.name),
        str(tmp_path / DARK.name),
    ]
    assert (tmp_path / BRIGHT.name).read_bytes() == before[BRIGHT]  # the same bytes as shipped
    assert (tmp_path / DARK.name).read_bytes() == before[DARK]
    assert {p: p.read_bytes() for p in (BRIGHT, DARK)} == before  # the package is untouched
    assert main([source, "--out", str(tmp_path)]) == 5  # a file in the way
    assert "exists" in capsys.readouterr().err
    assert main([source, "--out", str(tmp_path), "--overwrite"]) == 0
