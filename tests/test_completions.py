"""Shell completion: committed scripts match the generator; --arch completes from the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rawdenoise import completions_gen
from rawdenoise.name_completion import complete_architectures, complete_cameras

REPO = Path(__file__).resolve().parents[1]

FAKE_DIST = """\
from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

@hookimpl
def register_architectures(register):
    register(ArchitectureSpec(name="zebranet", factory="fake_zebra_net:Net", aliases=("zebra",)))
"""

# Runs one completion request through click's env-var protocol (what the generated scripts do)
# and reports whether torch or the plugin's module got imported.
_COMPLETE = """\
import json, sys
{setup}
try:
    {call}
except SystemExit:
    pass
sys.stderr.write(json.dumps({{
    "torch": "torch" in sys.modules,
    "plugin": "fake_zebra" in sys.modules,
}}) + "\\n")
"""

_MINI_APP = """\
import typer
from rawdenoise.name_completion import complete_architectures
app = typer.Typer()
@app.command()
def process(arch: str = typer.Option("unet", "--arch", autocompletion=complete_architectures)):
    pass
command = typer.main.get_command(app)
"""


def test_committed_scripts_match_the_generator() -> None:
    drifted = completions_gen.stale(REPO / "completions")
    assert drifted == [], f"run python -m rawdenoise.completions_gen (stale: {drifted})"


def test_generator_check_mode_detects_drift(tmp_path: Path) -> None:
    assert completions_gen.main(["--check", str(tmp_path)]) == 1  # nothing there yet
    written = completions_gen.write(tmp_path)
    assert sorted(p.name for p in written) == ["_rawdenoise", "rawdenoise.bash", "rawdenoise.fish"]
    assert completions_gen.main(["--check", str(tmp_path)]) == 0
    zsh = (tmp_path / "_rawdenoise").read_text(encoding="utf-8")
    assert zsh.startswith("#compdef rawdenoise\n") and "_RAWDENOISE_COMPLETE=complete_zsh" in zsh
    (tmp_path / "rawdenoise.fish").write_text("# edited by hand\n", encoding="utf-8")
    assert completions_gen.stale(tmp_path) == [tmp_path / "rawdenoise.fish"]


def test_bash_script_is_valid_bash() -> None:
    proc = subprocess.run(
        ["bash", "-n", str(REPO / "completions" / "rawdenoise.bash")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_completion_helpers_list_builtins_in_process() -> None:
    assert "unet" in complete_architectures("")
    assert complete_architectures("ti") == ["tiny"]
    assert complete_architectures("zz") == []
    assert "sony-a7s2" in complete_cameras("sony") and "nikon-d850" not in complete_cameras("s")


def _fake_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "fake_zebra-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-zebra\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rawdenoise]\nzebra = fake_zebra\n")
    (site / "fake_zebra.py").write_text(FAKE_DIST)
    return site


def _complete(site: Path, setup: str, call: str, **env: str) -> tuple[list[str], dict]:
    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    code = _COMPLETE.format(setup=setup, call=call)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    flags = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.stdout.split(), flags


def test_arch_completes_from_the_manifest_without_torch(tmp_path: Path) -> None:
    """Bash protocol on an ``--arch`` option wired with ``complete_architectures``."""
    site = _fake_site(tmp_path)
    call = 'command.main(args=[], prog_name="rawdenoise", complete_var="_RAWDENOISE_COMPLETE")'
    env = {
        "_RAWDENOISE_COMPLETE": "complete_bash",
        "COMP_WORDS": "rawdenoise --arch ",
        "COMP_CWORD": "2",
    }
    # first run: the manifest is cold, so the plugin is imported once to learn what it registers
    words, flags = _complete(site, _MINI_APP, call, **env)
    assert {"unet", "tiny", "zebranet", "zebra"} <= set(words)
    assert flags == {"torch": False, "plugin": True}
    # warm: answered from the manifest, neither plugin code nor torch imported
    env["COMP_WORDS"] = "rawdenoise --arch ze"
    words, flags = _complete(site, _MINI_APP, call, **env)
    assert words == ["zebra", "zebranet"]
    assert flags == {"torch": False, "plugin": False}


def test_arch_completion_helper_in_a_fresh_process_without_torch(tmp_path: Path) -> None:
    site = _fake_site(tmp_path)
    setup = "from rawdenoise.name_completion import complete_architectures"
    call = "print(' '.join(complete_architectures('zebr')))"
    assert _complete(site, setup, call)[0] == ["zebra", "zebranet"]
    words, flags = _complete(site, setup, call)
    assert words == ["zebra", "zebranet"] and flags == {"torch": False, "plugin": False}


def _commands_with_arch_completion() -> list[list[str]]:
    """Paths of real subcommands whose ``--arch`` option has a completion callback."""
    import typer

    from rawdenoise.cli import app

    found: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        for param in getattr(cmd, "params", []):
            if "--arch" in getattr(param, "opts", []) and getattr(
                param, "_custom_shell_complete", None
            ):
                found.append(path)

    walk(typer.main.get_command(app), [])
    return found


def test_real_cli_arch_option_completes_without_torch(tmp_path: Path) -> None:
    paths = _commands_with_arch_completion()
    if not paths:
        pytest.skip("no command wires autocompletion=complete_architectures on --arch yet")
    site = _fake_site(tmp_path)
    setup = "from rawdenoise.cli import main"
    words_line = " ".join(["rawdenoise", *paths[0], "--arch", "zeb"])
    env = {
        "_RAWDENOISE_COMPLETE": "complete_bash",
        "COMP_WORDS": words_line,
        "COMP_CWORD": str(len(paths[0]) + 2),
    }
    _complete(site, setup, "main([])", **env)  # warms the manifest
    words, flags = _complete(site, setup, "main([])", **env)
    assert words == ["zebra", "zebranet"]
    assert flags == {"torch": False, "plugin": False}


_VALUES = """\
import contextlib, io, json, os, sys
from rawdenoise.cli import main
results = {}
for key, words in json.loads(sys.argv[1]).items():
    os.environ.update(
        _RAWDENOISE_COMPLETE="complete_bash",
        COMP_WORDS=" ".join(["rawdenoise", *words]),
        COMP_CWORD=str(len(words)),
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([])
        except SystemExit:
            pass
    results[key] = out.getvalue().split()
print(json.dumps({"results": results, "torch": "torch" in sys.modules}))
"""


def test_option_values_complete_without_torch(rawdenoise_home: Path) -> None:
    """--format, --model (installed names), --device, --precision, --camera, --preset."""
    models = rawdenoise_home / "data" / "models"
    models.mkdir(parents=True)
    (models / "mycam.safetensors").write_bytes(b"")  # listed by name; never opened
    cases = {
        "format": ["process", "x.dng", "--format", ""],
        "format_j": ["process", "x.dng", "-f", "j"],
        "model": ["process", "x.dng", "--model", ""],
        "model_finetune": ["finetune", "pairs.txt", "-m", "my"],
        "init": ["pretrain", "clean/", "--init", ""],
        "remove": ["models", "remove", ""],
        "device": ["evaluate", "pairs.txt", "--device", ""],
        "precision": ["process", "x.dng", "--precision", ""],
        "training_precision": ["finetune", "pairs.txt", "--precision", ""],
        "camera": ["pretrain", "clean/", "--camera", "sony"],
        "preset": ["finetune", "pairs.txt", "--preset", ""],
        "after_quiet": ["process", "x.dng", "-q", "--device", "c"],
    }
    proc = subprocess.run(
        [sys.executable, "-c", _VALUES, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    got = report["results"]
    assert got["format"] == ["png", "tiff", "jpeg", "dng"]
    assert got["format_j"] == ["jpeg"]
    assert got["model"] == ["default", "faithful", "mycam"] == got["init"]
    assert got["model_finetune"] == ["mycam"]
    assert got["remove"] == ["mycam"]  # bundled models cannot be removed
    assert got["device"] == ["auto", "cpu", "cuda", "mps"]
    assert got["precision"] == ["fp32", "bf16", "fp16", "auto"]
    assert got["training_precision"] == ["fp32", "bf16"]
    assert got["camera"] == ["sony-a7m4", "sony-a7s2"]
    assert got["preset"] == ["paper", "quick"]
    assert got["after_quiet"] == ["cpu", "cuda"]
    assert report["torch"] is False
