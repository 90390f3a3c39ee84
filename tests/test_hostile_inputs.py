"""Hostile and odd inputs each command must survive: one line and the documented exit code,
inputs and other files untouched (issue 24's cases 3, 5, 6, 7, 9 and 10, and the faults of
the same kinds found beside them; cases 1, 2, 4 and 8 are in ``test_faults.py``)."""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
from pathlib import Path

import pytest
import torch
from _faults import Run, digest, leftovers, one_error, run_together, snapshot
from _training_data import write_clean

from rawdenoise import plugin_cache, plugins, weights
from rawdenoise.cli import main
from rawdenoise.networks.tiny import TinyNet
from rawdenoise.specs import ModelInfo


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    weights.save_model(path, TinyNet(), ModelInfo(architecture="tiny"))
    return path


def process(capsys, *args) -> tuple[int, dict | None, str]:
    """``rawdenoise -q process ARGS --json``: (exit code, the JSON summary, stderr)."""
    code = main(["-q", "process", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def by_name(summary: dict) -> dict[str, dict]:
    return {Path(f["input"]).name: f for f in summary["files"]}


# --------------------------------------------------------------------------------------------
# Case 3: an output never lands on another input of the run
# --------------------------------------------------------------------------------------------


def test_an_output_never_lands_on_another_input_of_the_run(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """``a.dng`` with ``--suffix _d -f dng --out`` its own folder would be written as
    ``a_d.dng``, which is the run's other input: refused, even with ``--overwrite``."""
    folder = tmp_path / "in"
    make_dng("a.dng", folder=folder)
    make_dng("a_d.dng", folder=folder, seed=1)
    before = snapshot(folder)
    args = [folder, "-m", tiny_model, "-o", folder, "-f", "dng", "--suffix", "_d", "--overwrite"]
    code, summary, err = process(capsys, *args)
    assert code == 3, err
    files = by_name(summary)
    assert files["a.dng"]["status"] == "failed"
    assert (
        f"would replace another input of this run ({folder / 'a_d.dng'})"
        in (files["a.dng"]["error"])
    )
    assert files["a_d.dng"]["status"] == "done"  # as a_d_d.dng
    assert {p: digest(p) for p in before} == before
    assert sorted(p.name for p in folder.iterdir()) == ["a.dng", "a_d.dng", "a_d_d.dng"]


def test_an_output_folder_holding_inputs_never_overwrites_them(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """Inputs from two folders, ``--out`` the second: the first one's output would be the
    second folder's input."""
    first = make_dng("a.dng", folder=tmp_path / "x")
    second = make_dng("a_d.dng", folder=tmp_path / "y", seed=2)
    before = snapshot(first, second)
    args = [first, second, "-m", tiny_model, "-o", second.parent, "-f", "dng", "--suffix", "_d"]
    code, summary, err = process(capsys, *args, "--overwrite")
    assert code == 3, err
    files = by_name(summary)
    assert files["a.dng"]["status"] == "failed" and "would replace" in files["a.dng"]["error"]
    assert files["a_d.dng"]["status"] == "done"
    assert {p: digest(p) for p in before} == before


# --------------------------------------------------------------------------------------------
# Case 5: a corrupt plugin cache is rebuilt
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe{\x00 not UTF-8 \x80\x81", b"[" * 100_000],
    ids=["not-utf8", "nested-too-deep"],
)
def test_a_corrupt_plugin_cache_is_rebuilt_not_fatal(capsys, content) -> None:
    path = plugin_cache.manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    plugins.reset()
    assert main(["plugins", "--json"]) == 0, capsys.readouterr().err
    listing = json.loads(capsys.readouterr().out)
    assert any(p["name"] == "builtin" for p in listing["plugins"])
    assert plugin_cache.read_manifest()[1] == "ok"  # rewritten
    plugins.reset()


# --------------------------------------------------------------------------------------------
# Case 6: symbolic link loops and broken links in a folder
# --------------------------------------------------------------------------------------------


def test_link_loops_and_broken_links_in_a_folder_are_reported_not_fatal(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    folder = tmp_path / "shoot"
    make_dng("good.dng", folder=folder)
    (folder / "loop.ARW").symlink_to("loop.ARW")
    (folder / "gone.NEF").symlink_to("no_such_file.NEF")
    (folder / "sub").mkdir()
    (folder / "sub" / "a").symlink_to("b")  # two links pointing at each other
    (folder / "sub" / "b").symlink_to("a")
    (folder / "sub" / "up").symlink_to("..")  # a link to a parent folder: not followed
    make_dng("deep.dng", folder=folder / "sub")
    for extra in ([], ["-o", tmp_path / "out"]):
        code, summary, err = process(capsys, folder, "-r", "-m", tiny_model, *extra)
        assert code == 3, err
        files = by_name(summary)
        assert files["good.dng"]["status"] == "done" and files["deep.dng"]["status"] == "done"
        assert "symbolic link loop" in files["loop.ARW"]["error"]
        assert "broken symbolic link (to no_such_file.NEF)" in files["gone.NEF"]["error"]
        assert len(files) == 4 and "internal error" not in err


# --------------------------------------------------------------------------------------------
# Case 7: unreadable files (a process of its own: root has to give up its override)
# --------------------------------------------------------------------------------------------


def test_unreadable_inputs_are_bad_files_of_the_batch(
    tmp_path, make_dng, tiny_model, unprivileged_ok
) -> None:
    """Named on the command line or found in a folder, an unreadable RAW file is reported as
    "permission denied" and the others are processed (exit 3); so is a folder that cannot be
    listed. An unreadable model or config file, or a folder of clean frames that cannot be
    listed, is one line (exit 3), not a crash."""
    named = make_dng("named.dng", folder=tmp_path / "a")
    good = make_dng("good.dng", folder=tmp_path / "a", seed=1)
    tree = tmp_path / "tree"
    inside = make_dng("inside.dng", folder=tree)
    make_dng("hidden.dng", folder=tree / "closed")
    locked_model = tmp_path / "locked.safetensors"
    locked_model.write_bytes(tiny_model.read_bytes())
    config = tmp_path / "settings.toml"
    config.write_text('preset = "quick"\n')
    locked = [named, inside, tree / "closed", locked_model, config]
    for path in locked:
        path.chmod(0)
    out = tmp_path / "out"
    try:
        results = run_together(
            Run(["-q", "process", named, good, tree, "-r", "-m", tiny_model, "-o", out,
                 "--json"], unprivileged=True),
            Run(["models", "import", locked_model, "--name", "m"], unprivileged=True),
            Run(["finetune", tmp_path / "pairs.txt", "-m", tiny_model, "--name", "f",
                 "--config", config], unprivileged=True),
            Run(["pretrain", tree / "closed", "--name", "p", "--arch", "tiny"], unprivileged=True),
        )  # fmt: skip
    finally:
        for path in locked:
            path.chmod(0o755 if path.is_dir() else 0o644)
    (code, stdout, err), (model_code, _, model_err), (config_code, _, config_err) = results[:3]
    assert code == 3, err
    files = by_name(json.loads(stdout))
    assert files["good.dng"]["status"] == "done"
    assert files["named.dng"]["error"] == "named.dng: permission denied"
    assert files["inside.dng"]["error"] == "inside.dng: permission denied"
    assert "cannot read the folder (permission denied)" in files["closed"]["error"]
    assert "Traceback" not in err
    assert model_code == 3
    one_error(model_err, f"cannot read the model file {locked_model} (permission denied)")
    assert config_code == 3
    one_error(config_err, f"{config}: cannot read the config file (permission denied)")
    pretrain_code, _, pretrain_err = results[3]
    assert pretrain_code == 3
    one_error(pretrain_err, f"{tree / 'closed'}: cannot read the folder (permission denied)")


# --------------------------------------------------------------------------------------------
# Case 9: plugins that misbehave are named and isolated
# --------------------------------------------------------------------------------------------

PRINTS_AT_IMPORT = """\
print("hello from a chatty plugin")
from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

@hookimpl
def register_architectures(register):
    print("registering")
    register(ArchitectureSpec(name="chatty", factory="fake_chatty:make", multiple_of=4))

def make():
    from rawdenoise.networks.tiny import TinyNet
    print("building")
    return TinyNet()
"""

BAD_NETWORKS = """\
from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

@hookimpl
def register_architectures(register):
    for name in ("nomodule", "narrow", "nans"):
        register(ArchitectureSpec(name=name, factory=f"fake_badnets:{name}", multiple_of=4))

def nomodule():
    return ("not", "a", "module")

def _tiny(forward):
    from rawdenoise.networks.tiny import TinyNet

    class Broken(TinyNet):
        def forward(self, x):
            return forward(super().forward(x))

    return Broken()

def narrow():
    return _tiny(lambda y: y[:, :3])

def nans():
    return _tiny(lambda y: y * float("nan"))
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Installs fake plugin distributions (dist-info + module) on sys.path, in-process."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    plugins.reset()

    def add(dist: str, module: str, source: str) -> None:
        info = folder / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[rawdenoise]\n{dist} = {module}\n")
        (folder / f"{module}.py").write_text(source)
        importlib.invalidate_caches()

    yield add
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]
    plugins.reset()
    importlib.invalidate_caches()


def test_a_plugin_that_prints_does_not_corrupt_json_output(
    site, make_dng, tiny_model, tmp_path, capsys
) -> None:
    site("fake-chatty", "fake_chatty", PRINTS_AT_IMPORT)
    assert main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    assert any(p["name"] == "fake-chatty" for p in json.loads(captured.out)["plugins"])
    assert "hello from a chatty plugin" in captured.err
    src = make_dng("a.dng")
    code, summary, err = process(capsys, src, "-m", tiny_model, "--arch", "chatty")
    assert code == 0, err
    assert summary["files"][0]["status"] == "done"  # stdout held the JSON and nothing else
    assert "building" in err


@pytest.mark.parametrize(
    ("arch", "words"),
    [
        ("nomodule", "its factory fake_badnets:nomodule returned a tuple, not a torch.nn.Module"),
        ("narrow", "returned shape (1, 3, "),
        ("nans", "non-finite values (NaN or infinity)"),
    ],
)
def test_a_broken_plugin_network_is_exit_4_naming_the_plugin(
    site, make_dng, tiny_model, tmp_path, capsys, arch, words
) -> None:
    site("fake-badnets", "fake_badnets", BAD_NETWORKS)
    src = make_dng("a.dng")
    out = tmp_path / "out"
    code = main(["-q", "process", str(src), "-m", str(tiny_model), "--arch", arch, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 4, err
    line = one_error(err, f"architecture {arch!r} of plugin 'fake-badnets' (fake-badnets 1.0)")
    assert words in line
    assert not out.exists() or not list(out.iterdir())


# --------------------------------------------------------------------------------------------
# Case 10: RANK/WORLD_SIZE, --out naming a file, a FIFO
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RANK": "abc", "WORLD_SIZE": "2"}, "RANK='abc' in the environment is not a whole"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 is outside 0-1"),
        ({"RANK": "1"}, "RANK=1 is outside 0-0"),
        ({"WORLD_SIZE": "3"}, "WORLD_SIZE=3 but RANK is not set"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE=0 in the environment: it must be"),
    ],
)
def test_a_rank_that_makes_no_sense_is_refused(
    make_dng, tiny_model, capsys, monkeypatch, env, words
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    src = make_dng("a.dng")
    code = main(["process", str(src), "-m", str(tiny_model), "--dry-run"])
    assert code == 2
    one_error(capsys.readouterr().err, words)
    monkeypatch.setenv("RANK", "abc")  # an explicit --shard does not look at the environment
    assert main(["process", str(src), "-m", str(tiny_model), "--dry-run", "--shard", "1/1"]) == 0


def test_out_naming_a_file_is_an_output_error(tmp_path, make_dng, tiny_model, capsys) -> None:
    src = make_dng("a.dng")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    assert main(["process", str(src), "-m", str(tiny_model), "-o", str(blocker)]) == 5
    one_error(capsys.readouterr().err, f"cannot write in {blocker}: it is a file, not a folder")
    assert blocker.read_text() == "keep me"
    # the same rule for pair's list: a folder where the file goes is an output in the way
    (tmp_path / "list").mkdir()
    assert main(["pair", str(src.parent), "--no-verify", "-o", str(tmp_path / "list")]) == 5
    one_error(capsys.readouterr().err, f"cannot write {tmp_path / 'list'}: it is a folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_named_for_what_it_is(tmp_path, make_dng, tiny_model, capsys) -> None:
    fifo = tmp_path / "capture.dng"
    os.mkfifo(fifo)
    folder = tmp_path / "shoot"
    make_dng("good.dng", folder=folder)
    os.mkfifo(folder / "pipe.ARW")
    code, summary, err = process(capsys, fifo, folder, "-m", tiny_model)
    assert code == 3, err
    files = by_name(summary)
    assert files["capture.dng"]["error"] == f"{fifo}: is a FIFO (named pipe), not a RAW file"
    assert "is a FIFO" in files["pipe.ARW"]["error"]
    assert files["good.dng"]["status"] == "done"


# --------------------------------------------------------------------------------------------
# Beyond the list: one training run per name; truncation of other containers
# --------------------------------------------------------------------------------------------


def test_a_second_training_run_of_the_same_name_is_refused(tmp_path, capsys) -> None:
    """Two runs of one name would overwrite each other's checkpoint and race to save the
    model: the second is refused at once (exit 5), the first one's files untouched."""
    from rawdenoise.training.checkpoint import checkpoint_path, run_lock

    frames = tmp_path / "frames"
    for s in range(2):
        write_clean(frames / f"c{s}.dng", s, h=64, w=64)
    args = ["pretrain", str(frames), "--name", "busy", "--arch", "tiny", "--iterations", "1"]
    with run_lock("pretrain", "busy"):
        code = main([*args, "--crop", "16", "--batch", "1", "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 5, err
    one_error(err, f"another pretraining of 'busy' is going on (process {os.getpid()})")
    assert not weights.model_path("busy").exists()
    assert leftovers(checkpoint_path("pretrain", "busy").parent) == []  # lock file removed


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


@pytest.mark.parametrize(
    ("head", "cut"),
    [("bmff", 60), ("raf", 150)],
)
def test_truncated_cr3_and_raf_containers_are_noticed(tmp_path, head, cut) -> None:
    """Canon CR3 (ISO base media boxes) and Fujifilm RAF (offsets in the header) say where
    their data ends, as TIFF-based RAW files do."""
    from rawdenoise.truncation import missing_data

    if head == "bmff":
        data = (
            _box(b"ftyp", b"crx \x00\x00\x00\x01")
            + _box(b"moov", b"m" * 8)
            + _box(b"mdat", b"d" * 40)
        )
    else:
        data = b"FUJIFILMCCD-RAW 0201FF383501".ljust(84, b"\x00")
        data += struct.pack(">6I", 108, 20, 128, 10, 138, 40)
        data = data.ljust(178, b"r")
    whole = tmp_path / "whole"
    whole.write_bytes(data)
    assert missing_data(whole) is None
    cut_file = tmp_path / "cut"
    cut_file.write_bytes(data[:cut])
    assert missing_data(cut_file) == (len(data), cut)
