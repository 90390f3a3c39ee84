"""Helpers of the fault-injection tests: run the command in a process of its own (under a file
size limit, or without root's file access override), and check what every run must leave:
one error line, no temporary file, every file that existed before unchanged."""

from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: names the atomic writer, the run lock and the write test give their temporary files
TEMPORARY = (".part", ".lock", ".rawdenoise-write-test")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(*roots: Path) -> dict[Path, str]:
    """The hash of every file below ``roots`` (or of the files themselves)."""
    out = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                out[path] = digest(path)
    return out


def assert_unchanged(before: dict[Path, str]) -> None:
    after = {path: digest(path) if path.is_file() else "gone" for path in before}
    changed = [str(p) for p in before if after[p] != before[p]]
    assert not changed, f"changed or removed: {changed}"


def leftovers(*roots: Path) -> list[str]:
    return sorted(
        str(p)
        for root in roots
        if root.exists()
        for p in root.rglob("*")
        if any(mark in p.name for mark in TEMPORARY)
    )


def one_error(stderr: str, *words: str) -> str:
    """The single error line (a hint line may follow); nothing else on stderr."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert lines and lines[0].startswith("rawdenoise: error: "), stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def error_lines(stderr: str) -> list[str]:
    """The error lines of a batch (each may have a hint); nothing else on stderr."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert all(ln.startswith(("rawdenoise: error: ", "hint: ")) for ln in lines), stderr
    return [ln for ln in lines if ln.startswith("rawdenoise: error: ")]


_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def drop_file_access_override() -> None:
    """In the child, before exec: root loses the right to ignore file permissions (Linux
    capabilities), so that chmod 000 and read-only folders stop it as they stop a user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@dataclass
class Run:
    """One ``rawdenoise`` subprocess, optionally under a file size limit or without root's
    file access override."""

    args: list[str | Path]
    fsize: int | None = None
    unprivileged: bool = False
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self) -> Run:
        def limits() -> None:
            if self.fsize is not None:
                hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
                resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize, hard))
            if self.unprivileged and os.geteuid() == 0:
                drop_file_access_override()

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rawdenoise", *map(str, self.args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **self.env},
            preexec_fn=limits,
        )
        return self

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def run_together(*runs: Run) -> list[tuple[int, str, str]]:
    """Start every run at once (they are independent), then wait for all."""
    for r in runs:
        r.start()
    return [r.finish() for r in runs]
