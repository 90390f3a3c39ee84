"""Fault injection: truncated RAW files, concurrent writers, SIGINT/SIGTERM at random points,
a full disk, read-only folders and non-finite weights, against the real commands.

Every run asserts the documented exit code, one ``rawdenoise: error:`` line on stderr (plus an
optional ``hint:``) and no traceback, that no temporary file (``.part``, a lock, a write test)
is left, and that every file that existed before (inputs, old outputs, other models) is
byte-for-byte unchanged. Commands run as subprocesses where the fault needs a process of its
own (a signal, a file size limit, dropped privileges); the others run in-process.

The signal points are random: ``RAWDENOISE_FAULT_SEED`` repeats a run (failures print it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
from _faults import Run, assert_unchanged, error_lines, leftovers, one_error, run_together, snapshot
from _training_data import write_clean, write_pairs
from conftest import SHARED_DATA

from rawdenoise import weights
from rawdenoise.calibration.synthetic import true_parameters, write_calibration_set
from rawdenoise.cli import main
from rawdenoise.default_plugins.camera_profiles import PROFILES
from rawdenoise.networks.tiny import TinyNet
from rawdenoise.specs import ModelInfo

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

SEED = int(os.environ.get("RAWDENOISE_FAULT_SEED", random.randrange(1 << 30)))

# --------------------------------------------------------------------------------------------
# Data: tiny frames, a tiny model, a calibration shoot, a pair list (built once)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    root: Path
    frames: Path  #: 8 clean 256x384 DNGs
    model: Path  #: a tiny plain model
    dark: Path
    flat: Path
    pairs: Path  #: a pair list of generated noisy/clean frames


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("faults")
    for s in range(8):
        write_clean(root / "frames" / f"f{s}.dng", s, h=256, w=384)
    torch.manual_seed(0)
    model = root / "tiny.safetensors"
    weights.save_model(model, TinyNet(), ModelInfo(architecture="tiny"))
    dark, flat = write_calibration_set(
        root / "calib",
        true_parameters(PROFILES[0], (100, 1600)),
        dark_frames=2,
        flat_levels=(0.3,),
        make="SONY",
        model="ILCE-7SM2",
        seed=1,
    )
    pairs = write_pairs(root / "pairs", [1, 2], [100])
    return Workspace(root, root / "frames", model, dark, flat, pairs)


def nan_model(path: Path) -> Path:
    """A tiny model whose weights hold one NaN and one infinity."""
    net = TinyNet()
    with torch.no_grad():
        first = next(iter(net.parameters()))
        first.view(-1)[0] = float("nan")
        first.view(-1)[1] = float("inf")
    weights.save_model(path, net, ModelInfo(architecture="tiny"))
    return path


# --------------------------------------------------------------------------------------------
# Truncated RAW files (issue 24, case 1)
# --------------------------------------------------------------------------------------------

#: (sample, cut-off points: byte counts, or fractions of the size; negative: bytes before the end)
TRUNCATIONS = {
    "sony_ilce7rm3_iso3200_DSC2164.ARW": [0, 100, 1000, 9324928, 0.9, -856],
    "gopro_hero6_iso100_GOPR0024.dng": [100, 0.5, -1],
    "gopro_hero6_original_GOPR0024.GPR": [1000, 0.5],
}


def _cut_points(size: int, cuts: list[float]) -> list[int]:
    return [int(c * size) if isinstance(c, float) else (size + c if c < 0 else c) for c in cuts]


@pytest.fixture(scope="module")
def truncated(tmp_path_factory) -> Path:
    """Cut-off copies of each RAW format in ../shared/data, in one folder."""
    if not (SHARED_DATA / "MANIFEST.md").exists():
        pytest.skip(f"real RAW samples not found at {SHARED_DATA} (set RAWDENOISE_SHARED_DATA)")
    folder = tmp_path_factory.mktemp("truncated")
    for name, cuts in TRUNCATIONS.items():
        source = SHARED_DATA / name
        data = source.read_bytes()
        for n in _cut_points(len(data), cuts):
            stem, ext = name.rsplit(".", 1)
            (folder / f"{stem}_{n}.{ext}").write_bytes(data[:n])
    return folder


@pytest.mark.realdata
def test_truncated_raw_files_are_refused_at_every_offset(truncated, ws, tmp_path, capsys) -> None:
    """A cut-off file is a bad file of the batch (exit 3, its own line), never an image: the
    Sony ARW decodes without complaint when cut, into a frame whose lower part is garbage."""
    out = tmp_path / "out"
    before = snapshot(truncated)
    code = main(["-q", "process", str(truncated), "-m", str(ws.model), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 3, captured.err
    files = json.loads(captured.out)["files"]
    assert len(files) == len(before) and all(f["status"] == "failed" for f in files), files
    cut = [f for f in files if int(Path(f["input"]).stem.rsplit("_", 1)[1]) > 0]
    assert all("the file is truncated" in f["error"] for f in cut), files
    assert len(error_lines(captured.err)) == len(files)
    assert not out.exists() or not list(out.iterdir())
    assert_unchanged(before)


@pytest.mark.realdata
@pytest.mark.parametrize("command", ["pair", "calibrate", "finetune", "evaluate", "pretrain"])
def test_a_truncated_raw_file_is_refused_by_every_command(
    truncated, ws, tmp_path, capsys, command
) -> None:
    """The Sony ARW cut in half, as the input of each command that reads RAW files: exit 3 and
    the reason. ``pretrain`` (a batch of clean frames) leaves it out, trains on the others and
    then exits 3; ``calibrate`` meets a cut-off frame among its own camera's darks."""
    arw = next(truncated.glob("sony_*_9324928.ARW"))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / arw.name).write_bytes(arw.read_bytes())
    (folder / "DSC2164.ARW").symlink_to(SHARED_DATA / "sony_ilce7rm3_iso3200_DSC2164.ARW")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{folder / arw.name} {folder / 'DSC2164.ARW'}\n")
    darks = tmp_path / "dark"
    shutil.copytree(ws.dark, darks)
    cut = darks / "dark_iso100_00.dng"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / arw.name).write_bytes(arw.read_bytes())
    shutil.copy(ws.frames / "f0.dng", frames)
    args = {
        "pair": ["pair", folder, "--no-verify"],
        "calibrate": ["calibrate", "--dark", darks, "--flat", ws.flat, "--out", tmp_path / "p"],
        "finetune": ["finetune", pairs, "-m", ws.model, "--name", "x", "--threads", "1"],
        "evaluate": ["evaluate", pairs, "-m", ws.model, "--threads", "1"],
        "pretrain": ["pretrain", frames, "--name", "x", "--arch", "tiny", "--threads", "1",
                     "--iterations", "2", "--crop", "32", "--batch", "1"],
    }[command]  # fmt: skip
    before = snapshot(folder, pairs, darks, frames)
    code = main(["-q", *map(str, args)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "the file is truncated" in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert_unchanged(before)
    assert leftovers(tmp_path) == []
    if command == "pretrain":  # the batch went on: a model of the good frame, then exit 3
        assert weights.load_model("x").info.extra["training_frames"] == ["f0.dng"]
        assert "could not be decoded" in error_lines(err.split("\n", 1)[1])[-1]


# --------------------------------------------------------------------------------------------
# Concurrent writers (case 2)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "while"])
def test_an_output_another_run_wrote_meanwhile_is_not_replaced(
    ws, tmp_path, capsys, monkeypatch, when
) -> None:
    """The output is free when the run starts; another run publishes it while this one
    denoises (``before`` this one starts writing) or ``while`` this one writes its temporary
    file. The other run's file stays, and this run says so (exit 5: a file in the way)."""
    from rawdenoise import batch, render

    out = tmp_path / "out"
    theirs = out / "f0.png"
    patched, name = (batch, "run_network") if when == "before" else (render, "write_png")
    real = getattr(patched, name)

    def meanwhile(*args, **kwargs):
        out.mkdir(exist_ok=True)
        theirs.write_bytes(b"the other run's result")
        return real(*args, **kwargs)

    monkeypatch.setattr(patched, name, meanwhile)
    code = main(["-q", "process", str(ws.frames / "f0.dng"), "-m", str(ws.model), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 5
    line = one_error(err, f"{theirs} exists")
    assert when == "before" or "another run wrote it meanwhile" in line
    assert theirs.read_bytes() == b"the other run's result"
    assert leftovers(tmp_path) == [] and sorted(out.iterdir()) == [theirs]


def test_a_model_imported_meanwhile_under_the_name_is_not_replaced(
    ws, rawdenoise_home, capsys, monkeypatch
) -> None:
    """Two ``models import --name X`` at once: the name is free when both check it, and the
    one that publishes second must not replace the first one's model."""
    from rawdenoise import atomic

    real = atomic.tempfile.mkstemp
    target = weights.model_path("mine")

    def mkstemp(*args, prefix="", **kwargs):
        made = real(*args, prefix=prefix, **kwargs)
        if prefix.startswith(".mine."):  # the other process, right after our check
            target.write_bytes(b"the other import")
        return made

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    code = main(["models", "import", str(ws.model), "--name", "mine"])
    assert code == 5  # a file in the way
    one_error(capsys.readouterr().err, "mine.safetensors exists", "another run")
    assert target.read_bytes() == b"the other import"
    assert leftovers(rawdenoise_home) == []


def test_two_runs_into_one_folder_write_each_output_exactly_once(ws, tmp_path) -> None:
    """Two real processes into one ``--out``: every file is denoised by one of them (the other
    skips it or reports it in its way), every output is a whole PNG, nothing is lost."""
    out = tmp_path / "out"
    args = ["-q", "process", ws.frames, "-m", ws.model, "-o", out, "--json", "--threads", "1"]
    before = snapshot(ws.frames)
    results = run_together(Run(args), Run(args))
    done: dict[str, int] = {}
    for code, stdout, stderr in results:
        assert code in (0, 5), stderr  # 5: the other run's outputs were in the way
        for line in error_lines(stderr):  # the other run was quicker: its file is in the way
            assert "exists" in line, line
        for f in json.loads(stdout)["files"]:
            done[f["input"]] = done.get(f["input"], 0) + (f["status"] == "done")
    assert sorted(done.values()) == [1] * 8, done  # each input denoised exactly once
    for png in out.iterdir():
        assert iio.imread(png).shape == (256, 384, 3)
    assert len(list(out.iterdir())) == 8 and leftovers(tmp_path) == []
    assert_unchanged(before)


# --------------------------------------------------------------------------------------------
# SIGINT and SIGTERM at random points (case 4)
# --------------------------------------------------------------------------------------------


def _wait_for_handlers(proc: subprocess.Popen) -> None:
    """Until the process catches SIGTERM (rawdenoise's handler is in place) or has exited;
    without /proc (not Linux), a second: start-up is not what these tests interrupt."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        time.sleep(1.0)
        return
    deadline = time.monotonic() + 10
    while proc.poll() is None:
        try:
            caught = next(ln for ln in status.read_text().splitlines() if ln.startswith("SigCgt"))
        except (OSError, StopIteration):
            return  # exited meanwhile
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        assert time.monotonic() < deadline, "no SIGTERM handler after 10 s"
        time.sleep(0.005)


@dataclass
class SignalCase:
    """A command, where it writes, and what a finished run must have written."""

    args: Callable[[Workspace, Path], list]
    span: float  #: seconds of work after start-up: the signal falls at a random point of it
    check_outputs: Callable[[Path], None]


def _process_outputs(work: Path) -> None:
    for png in (work / "out").glob("*.png"):
        if png.name != "f0.png":  # there before the run (and skipped by it)
            assert iio.imread(png).shape == (256, 384, 3), png


def _calibrate_outputs(work: Path) -> None:
    old = ("keep.json", "f0.png")  # there before the run
    written = sorted(p.name for p in (work / "out").iterdir() if p.name not in old)
    assert written in ([], ["prof.json", "prof_mean_variance.png", "prof_noise_fits.png",
                            "prof_ppcc.png"]), written  # fmt: skip
    if written:
        json.loads((work / "out" / "prof.json").read_text())


def _model_outputs(work: Path) -> None:
    models = work / "home" / "data" / "models"
    for path in models.glob("*.safetensors"):
        weights.load_model(path)
    for path in (work / "home" / "data").rglob("*.ckpt"):
        torch.load(path, weights_only=True)


SIGNAL_CASES = {
    "process": SignalCase(
        lambda ws, work: (
            # f0.png is there before the run: --skip-existing counts it as done (exit 0 when
            # the run finishes before the signal; without it a kept output is exit 5)
            ["process", ws.frames, "-m", ws.model, "-o", work / "out"]
            + "--threads 1 --skip-existing".split()
        ),
        span=2.5,
        check_outputs=_process_outputs,
    ),
    "calibrate": SignalCase(
        lambda ws, work: (
            ["calibrate", "--dark", ws.dark, "--flat", ws.flat]
            + ["--out", work / "out" / "prof.json"]
        ),
        span=2.0,
        check_outputs=_calibrate_outputs,
    ),
    "finetune": SignalCase(
        lambda ws, work: (
            ["finetune", ws.pairs, "-m", ws.model, "--name", "ft"]
            + "--iterations 20,10 --crop 48 --batch 2 --checkpoint-every 5 --threads 1".split()
        ),
        span=2.5,
        check_outputs=_model_outputs,
    ),
    "pretrain": SignalCase(
        lambda ws, work: (
            ["pretrain", ws.frames, "--name", "pt", "--arch", "tiny"]
            + "--iterations 30 --batch 2 --crop 32 --checkpoint-every 5 --threads 1".split()
        ),
        span=3.0,
        check_outputs=_model_outputs,
    ),
}


def _prepare(ws: Workspace, work: Path) -> dict[Path, str]:
    """A work folder with old outputs and another model that the run must leave alone."""
    (work / "out").mkdir(parents=True)
    shutil.copy(ws.model, work / "out" / "f0.png")  # an old output: skipped, not replaced
    (work / "out" / "keep.json").write_text('{"old": true}')
    models = work / "home" / "data" / "models"
    models.mkdir(parents=True)
    shutil.copy(ws.model, models / "old.safetensors")
    return snapshot(work, ws.frames, ws.dark, ws.flat, ws.pairs.parent, ws.model)


def _signal_cases() -> list:
    """Each command with each signal; the default suite runs two of each signal, the other
    four are marked slow."""
    quick = {("process", "SIGTERM"), ("calibrate", "SIGINT"), ("finetune", "SIGTERM"),
             ("pretrain", "SIGINT")}  # fmt: skip
    return [
        pytest.param(
            command,
            signum,
            id=f"{command}-{signum.name}",
            marks=() if (command, signum.name) in quick else pytest.mark.slow,
        )
        for command in SIGNAL_CASES
        for signum in (signal.SIGINT, signal.SIGTERM)
    ]


@pytest.mark.parametrize(("command", "signum"), _signal_cases())
def test_a_signal_at_a_random_point_leaves_nothing_half_written(
    ws, tmp_path, command, signum
) -> None:
    """SIGINT (exit 130) or SIGTERM (exit 143) at a random point of the command: cleaned up,
    one line, nothing half-written, nothing else touched. A run the signal reaches only after
    its work is done exits 0 with everything written."""
    case = SIGNAL_CASES[command]
    delay = random.Random(f"{SEED}-{command}-{signum.name}").uniform(0.0, case.span)
    before = _prepare(ws, tmp_path)
    run = Run(["-q", *case.args(ws, tmp_path)], env={"RAWDENOISE_HOME": str(tmp_path / "home")})
    proc = run.start().proc
    assert proc is not None
    _wait_for_handlers(proc)
    time.sleep(delay)
    finished_first = proc.poll() is not None
    if not finished_first:
        proc.send_signal(signum)
    code, _, err = run.finish()
    where = f"{command} {signum.name} after {delay:.3f} s (RAWDENOISE_FAULT_SEED={SEED})"
    expected = 130 if signum == signal.SIGINT else 143
    assert code in (expected, 0) and (code == 0 or not finished_first), f"{where}: {code}\n{err}"
    if code:
        line = one_error(err)
        assert "interrupted" in line or "stopped at iteration" in line, f"{where}: {line}"
        assert signum == signal.SIGINT or "SIGTERM" in line, f"{where}: {line}"
    else:
        assert "Traceback" not in err and "error" not in err, f"{where}: {err}"
    assert leftovers(tmp_path) == [], where
    assert_unchanged(before)
    case.check_outputs(tmp_path)


@pytest.mark.parametrize("command", ["process", "calibrate"])
def test_sigterm_while_outputs_are_written_removes_them(ws, tmp_path, command) -> None:
    """Not at a random point: the moment a temporary output exists (``process`` renders and
    writes a PNG, ``calibrate`` draws its plots), SIGTERM. Nothing half-written stays; the
    run says so and exits 143 (it was killed on the spot, leaving ``.part`` files)."""
    case = SIGNAL_CASES[command]
    before = _prepare(ws, tmp_path)
    run = Run(["-q", *case.args(ws, tmp_path)], env={"RAWDENOISE_HOME": str(tmp_path / "home")})
    proc = run.start().proc
    assert proc is not None
    out = tmp_path / "out"
    while proc.poll() is None and not any(".part" in p.name for p in out.iterdir()):
        time.sleep(0.0005)
    assert proc.poll() is None, "finished before writing anything"
    proc.send_signal(signal.SIGTERM)
    code, stdout, err = run.finish()
    print("DEBUG", code, repr(stdout), repr(err), sorted(p.name for p in out.iterdir()))
    assert code == 143, err
    one_error(err, "interrupted (SIGTERM)")
    assert leftovers(tmp_path) == []
    assert_unchanged(before)
    case.check_outputs(tmp_path)


# --------------------------------------------------------------------------------------------
# A full disk (RLIMIT_FSIZE), read-only folders
# --------------------------------------------------------------------------------------------


def test_a_full_disk_is_one_error_and_leaves_nothing(ws, tmp_path, rawdenoise_home) -> None:
    """Writes fail with EFBIG past a 16 KiB file size limit, as they fail with ENOSPC on a
    full disk: exit 5, the file named, no partial output, old files intact."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"an old output")
    before = snapshot(out, ws.frames, ws.model)
    (process, _, process_err), (imported, _, import_err) = run_together(
        Run(["-q", "process", ws.frames / "f1.dng", "-m", ws.model, "-o", out], fsize=16384),
        Run(["models", "import", ws.model, "--name", "big"], fsize=4096),
    )
    assert process == 5, process_err
    one_error(process_err, f"cannot write {out / 'f1.png'}", "too large")
    assert imported == 5
    one_error(import_err, "big.safetensors", "too large")
    assert sorted(p.name for p in out.iterdir()) == ["old.png"]
    assert not list(rawdenoise_home.rglob("big*"))
    assert leftovers(tmp_path, rawdenoise_home) == []
    assert_unchanged(before)


@pytest.mark.slow
def test_a_full_disk_while_calibrate_writes_its_plots(ws, tmp_path) -> None:
    """The profile and its three plots are one group: all written, or none."""
    out = tmp_path / "out"
    ((code, _, err),) = run_together(
        Run(["calibrate", "--dark", ws.dark, "--flat", ws.flat, "--out", out / "p.json"],
            fsize=16384),
    )  # fmt: skip
    assert code == 5, err
    one_error(err, "cannot write", "too large")
    assert not out.exists() and leftovers(tmp_path) == []


def test_read_only_folders_are_one_error_and_stay_as_they_were(
    ws, tmp_path, rawdenoise_home, unprivileged_ok
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"an old output")
    models = rawdenoise_home / "data" / "models"
    models.mkdir(parents=True)
    before = snapshot(out, models, ws.frames)
    out.chmod(0o555)
    models.chmod(0o555)
    try:
        (process, _, process_err), (imported, _, import_err) = run_together(
            Run(
                ["-q", "process", ws.frames / "f1.dng", "-m", ws.model, "-o", out],
                unprivileged=True,
            ),
            Run(["models", "import", ws.model, "--name", "m"], unprivileged=True),
        )
    finally:
        out.chmod(0o755)
        models.chmod(0o755)
    assert process == 5, process_err
    one_error(process_err, f"cannot write {out / 'f1.png'}", "permission denied")
    assert imported == 5
    one_error(import_err, "m.safetensors", "permission denied")
    assert sorted(p.name for p in out.iterdir()) == ["old.png"] and not list(models.iterdir())
    assert_unchanged(before)


# --------------------------------------------------------------------------------------------
# Non-finite weights (case 8)
# --------------------------------------------------------------------------------------------


def test_non_finite_weights_are_refused_by_every_command(ws, tmp_path, capsys) -> None:
    bad = nan_model(tmp_path / "nan.safetensors")
    out = tmp_path / "out"
    for args in (
        ["models", "import", bad, "--name", "nan"],
        ["process", ws.frames / "f0.dng", "-m", bad, "-o", out],
        ["evaluate", ws.pairs, "-m", bad, "--threads", "1"],
    ):
        code = main(["-q", *map(str, args)])
        err = capsys.readouterr().err
        assert code == 3, (args, err)
        one_error(err, "non-finite weights (NaN or infinity)", "weight")
    assert not out.exists() and not weights.model_path("nan").exists()
