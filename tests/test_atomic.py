"""Atomic output writes: every reason an output cannot be written is one clear error (exit 5),
and a failed write leaves nothing behind (no partial file, no temporary file, no new folder)."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

import pytest
import torch

from rawdenoise import atomic, weights
from rawdenoise.atomic import atomic_path, atomic_paths, check_output, write_text_atomic
from rawdenoise.cli import main
from rawdenoise.errors import ExitCode, OutputError, OutputExistsError
from rawdenoise.specs import ModelInfo

REASONS = {
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
}


def listing(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, hidden ones (temporary files) included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def fail_in(monkeypatch, name: str, code: int, folder: Path) -> None:
    """Make ``name`` (mkstemp, replace: publishing, or mkdir) fail with ``code`` for paths in
    ``folder``."""
    folder = os.path.abspath(folder)

    def inside(path) -> bool:
        return os.path.abspath(path) == folder or os.path.abspath(path).startswith(folder + os.sep)

    def boom(path):
        raise OSError(code, os.strerror(code), os.fspath(path))

    if name == "mkstemp":
        original = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and inside(dir):
                boom(Path(dir) / "tmp")
            return original(*args, dir=dir, **kwargs)

        monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    elif name == "replace":  # publishing: rename (--overwrite) or link (never replaces)
        original_replace, original_link = os.replace, os.link

        def publisher(original):
            def publish(src, dst):
                if inside(dst):
                    raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
                return original(src, dst)

            return publish

        monkeypatch.setattr(atomic.os, "replace", publisher(original_replace))
        monkeypatch.setattr(atomic.os, "link", publisher(original_link))
    else:
        original_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if inside(self):
                boom(self)
            return original_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)


def one_error(stderr: str, *words: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("rawdenoise: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


# ---- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_as_target_is_an_output_error(tmp_path, overwrite) -> None:
    target = tmp_path / "out.png"
    (target / "keep").mkdir(parents=True)
    with pytest.raises(OutputError) as info:
        write_text_atomic(target, "x", overwrite=overwrite)
    assert str(info.value) == f"cannot write {target}: it is a folder"
    assert info.value.hint and info.value.exit_code == ExitCode.RESOURCE == 5
    assert listing(tmp_path) == ["out.png", "out.png/keep"]  # untouched, no temporary file


@pytest.mark.parametrize("below", ["p.txt", "sub/p.txt", "sub/deeper/p.txt"])
def test_a_file_in_the_output_path_is_an_output_error(tmp_path, below) -> None:
    blocker = tmp_path / "bright.dng"
    blocker.write_bytes(b"raw")
    target = blocker / below
    with pytest.raises(OutputError) as info:
        write_text_atomic(target, "x")
    assert str(info.value) == f"cannot write {target}: {blocker} is a file, not a folder"
    assert info.value.exit_code == 5
    assert blocker.read_bytes() == b"raw" and listing(tmp_path) == ["bright.dng"]
    with pytest.raises(OutputError):  # the early check (before long work) says the same
        check_output(target)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC])
@pytest.mark.parametrize("where", ["mkdir", "mkstemp", "replace"])
def test_unwritable_output_is_one_error_and_leaves_nothing(tmp_path, monkeypatch, code, where):
    target = tmp_path / "new" / "folder" / "out.txt"
    fail_in(monkeypatch, where, code, tmp_path / "new")
    with pytest.raises(OutputError) as info:
        write_text_atomic(target, "data")
    assert str(info.value) == f"cannot write {target}: {REASONS[code]}"
    assert info.value.hint and info.value.exit_code == 5
    assert isinstance(info.value.__cause__, OSError)
    assert listing(tmp_path) == []  # no output, no temporary file, no folder it created


def test_disk_full_while_writing_leaves_nothing(tmp_path) -> None:
    existing = tmp_path / "keep.txt"
    existing.write_text("old")
    target = tmp_path / "out" / "image.tif"
    with (
        pytest.raises(OutputError, match="no space left on the device") as info,
        atomic_path(target) as tmp,
    ):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")  # a writer's write()
    assert info.value.exit_code == 5 and str(target) in str(info.value)
    # replacing an existing file: it keeps its content
    with (
        pytest.raises(OutputError, match="no space left"),
        atomic_path(existing, overwrite=True) as tmp,
    ):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert existing.read_text() == "old"
    assert listing(tmp_path) == ["keep.txt"]


def test_a_writer_error_about_another_file_is_not_an_output_error(tmp_path) -> None:
    """Reading an input inside the write is the caller's business: passed on unchanged."""
    missing = tmp_path / "input.dng"
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out.png"):
        missing.read_bytes()
    assert listing(tmp_path) == []


def test_an_existing_output_still_needs_overwrite(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(OutputExistsError, match="exists"):
        write_text_atomic(target, "new")
    write_text_atomic(target, "new", overwrite=True)
    assert target.read_text() == "new" and listing(tmp_path) == ["out.txt"]


def test_group_failing_while_written_leaves_every_file_as_it_was(tmp_path) -> None:
    old = tmp_path / "old.json"
    old.write_text("old")
    targets = [old, tmp_path / "a.png", tmp_path / "sub" / "b.png"]
    with (
        pytest.raises(OutputError, match="no space left"),
        atomic_paths(targets, overwrite=True) as tmps,
    ):
        for tmp in tmps[:2]:
            tmp.write_text("new")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert old.read_text() == "old"
    assert listing(tmp_path) == ["old.json"]


def test_group_failing_while_renamed_removes_only_what_it_created(tmp_path, monkeypatch) -> None:
    old = tmp_path / "old.json"
    old.write_text("old")
    first, last = tmp_path / "a.png", tmp_path / "z" / "c.png"
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == last:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", src, None, dst)
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with (
        pytest.raises(OutputError, match=re.escape(f"cannot write {last}: it is a folder")),
        atomic_paths([first, old, last], overwrite=True) as tmps,
    ):
        for tmp in tmps:
            tmp.write_text("new")
    assert old.exists()  # a file that existed before is never removed
    assert listing(tmp_path) == ["old.json"]  # a.png it had created is gone, so is z/


# A real writer meeting a real limit: RLIMIT_FSIZE makes write() fail with EFBIG past 4 KiB,
# the way a full disk makes it fail with ENOSPC (safetensors' and torch's own writers used to
# turn that into a SafetensorError / RuntimeError: an "internal error", exit 1).
_WRITE_UNDER_A_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
from rawdenoise.errors import OutputError
from rawdenoise.networks.tiny import TinyNet
from rawdenoise.specs import ModelInfo
from rawdenoise.training.checkpoint import Checkpoint, save_checkpoint
from rawdenoise.weights import save_model

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
folder = Path(sys.argv[1])
big = TinyNet(channels=32)  # ~0.7 MB of weights
writes = {
    "model.safetensors": lambda p: save_model(p, big, ModelInfo(architecture="tiny")),
    "run.ckpt": lambda p: save_checkpoint(
        p, Checkpoint(iteration=1, stage=0, model=big.state_dict(), optimizer=None, fingerprint={})
    ),
}
for name, write in writes.items():
    try:
        write(folder / name)
    except OutputError as exc:
        print(f"{exc.exit_code.value} {exc}")
    else:
        print("written")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX")
def test_model_and_checkpoint_writers_report_a_full_disk_as_an_output_error(tmp_path) -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_A_SIZE_LIMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    reason = "the file is too large for the file system (or the file size limit, ulimit -f)"
    assert run.stdout.splitlines() == [
        f"5 cannot write {tmp_path / 'model.safetensors'}: {reason}",
        f"5 cannot write {tmp_path / 'run.ckpt'}: {reason}",
    ]
    assert listing(tmp_path) == []  # no partial file, no temporary file


# ---- the commands ------------------------------------------------------------------------------


@pytest.fixture
def frames(make_dng) -> tuple[Path, Path]:
    bright = make_dng("bright.dng", iso=100, exposure="1/100")
    dark = make_dng("dark.dng", iso=6400, exposure="1/10000", capture_time="2024:05:01 12:00:01")
    return bright, dark


@pytest.fixture
def tiny_model(tmp_path_factory) -> Path:
    from rawdenoise.networks.tiny import TinyNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    weights.save_model(path, TinyNet(), ModelInfo(architecture="tiny", target_exposure=0.64))
    return path


def test_pair_output_through_a_file(frames, tmp_path, capsys) -> None:
    bright, _ = frames
    before = listing(tmp_path)
    assert main(["pair", str(tmp_path), "-o", str(bright / "p.txt")]) == 5
    one_error(capsys.readouterr().err, f"cannot write {bright / 'p.txt'}", "is a file")
    assert listing(tmp_path) == before


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_pair_into_a_read_only_folder(frames, tmp_path, monkeypatch, capsys, code) -> None:
    out = tmp_path / "lists"
    out.mkdir()
    fail_in(monkeypatch, "mkstemp", code, out)
    assert main(["pair", str(tmp_path), "-o", str(out / "p.txt")]) == 5
    one_error(capsys.readouterr().err, f"cannot write {out / 'p.txt'}: {REASONS[code]}")
    assert listing(out) == []


def test_process_output_folder_through_a_file(frames, tmp_path, tiny_model, capsys) -> None:
    bright, _ = frames
    before = listing(tmp_path)
    assert main(["process", str(bright), "-m", str(tiny_model), "-o", str(bright / "sub")]) == 5
    one_error(capsys.readouterr().err, f"cannot write {bright / 'sub'}", "is a file")
    assert listing(tmp_path) == before


def test_process_overwrite_onto_a_folder(frames, tmp_path, tiny_model, capsys) -> None:
    bright, _ = frames
    out = tmp_path / "out"
    (out / "bright.png" / "mine").mkdir(parents=True)
    args = ["process", str(bright), "-m", str(tiny_model), "-o", str(out), "--overwrite"]
    assert main(args) == 5
    one_error(capsys.readouterr().err, f"cannot write {out / 'bright.png'}: it is a folder")
    assert listing(out) == ["bright.png", "bright.png/mine"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_process_into_an_unwritable_folder(
    frames, tmp_path, tiny_model, monkeypatch, capsys, code
) -> None:
    bright, _ = frames
    out = tmp_path / "out"
    out.mkdir()
    fail_in(monkeypatch, "replace", code, out)
    assert main(["process", str(bright), "-m", str(tiny_model), "-o", str(out)]) == 5
    one_error(capsys.readouterr().err, f"cannot write {out / 'bright.png'}: {REASONS[code]}")
    assert listing(out) == []


def test_models_import_into_a_read_only_folder(
    tiny_model, rawdenoise_home, monkeypatch, capsys
) -> None:
    fail_in(monkeypatch, "mkstemp", errno.EROFS, rawdenoise_home)
    assert main(["models", "import", str(tiny_model), "-n", "mine"]) == 5
    line = one_error(capsys.readouterr().err, "mine.safetensors: read-only file system")
    assert line.startswith("rawdenoise: error: cannot write ")
    assert not list(rawdenoise_home.rglob("*.safetensors")) and not list(
        rawdenoise_home.rglob(".*part*")
    )
