"""The heap setting that lets each tile (or training step) reuse the last one's pages."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rawdenoise import heap
from rawdenoise.cli import main

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the setting is glibc's (Linux)"
)

FAULTS_ON_REUSE = textwrap.dedent(
    """
    import ctypes, resource, sys
    from rawdenoise import heap
    if sys.argv[1] == "tuned":
        assert heap.keep_freed_memory()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 2**20  # above glibc's largest mmap threshold (32 MB), as torch's activations
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)  # faulted in
    libc.free(block)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FAULTS_ON_REUSE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_a_freed_block_is_reused_without_new_page_faults() -> None:
    pages = 64 * 2**20 // 4096
    plain, tuned = _faults("plain"), _faults("tuned")
    if plain < pages // 8:
        pytest.skip(f"this libc reused the block anyway ({plain} faults): nothing to show")
    assert tuned < pages // 16 < plain


def test_process_sets_it_before_reading(
    tmp_path, make_dng, tiny_model, monkeypatch, capsys
) -> None:
    calls = []
    monkeypatch.setattr(heap, "keep_freed_memory", lambda: calls.append(1) or True)
    src = make_dng("a.dng", folder=tmp_path / "in")
    code = main(["process", str(src), "--model", str(tiny_model), "-f", "dng", "-q"])
    assert code == 0, capsys.readouterr().err
    assert calls == [1]
