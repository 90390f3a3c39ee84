"""LibRaw's messages on file descriptor 2, kept off the terminal without losing Python's own.

LibRaw (C) prints straight to fd 2; :func:`silenced_c_stderr` points fd 2 at a temporary file
while it runs, one redirection at a time, and gives ``sys.stderr`` a copy of the real fd 2
first so that what Python prints meanwhile, from any thread, still arrives.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

#: one redirection of file descriptor 2 at a time (``process`` decodes and renders in threads)
_FD2_LOCK = threading.RLock()
_python_stderr_kept = False


def _keep_python_stderr() -> None:
    """Give Python's ``sys.stderr`` its own copy of file descriptor 2, once.

    :func:`silenced_c_stderr` points fd 2 elsewhere while LibRaw runs. ``process`` decodes the
    next file and renders the previous one in worker threads while the main thread reports
    progress, warnings and errors: written to fd 2 during such a window, they would vanish.
    """
    global _python_stderr_kept
    if _python_stderr_kept:
        return
    _python_stderr_kept = True
    stream = sys.stderr
    try:
        if stream is None or stream.fileno() != 2:
            return  # already elsewhere (a test's capture, an IDE): nothing to protect
        stream.flush()
        copy = os.dup(2)
    except (AttributeError, OSError, ValueError):
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "backslashreplace"
    sys.stderr = open(copy, "w", buffering=1, encoding=encoding, errors=errors)  # noqa: SIM115


@contextlib.contextmanager
def silenced_c_stderr() -> Iterator[list[str]]:
    """Keep what LibRaw prints straight to file descriptor 2 ("Unexpected end of file") off
    the terminal; the yielded list holds that text once the block is over. Python's own
    ``sys.stderr`` keeps writing to the terminal meanwhile, from any thread."""
    with _FD2_LOCK:
        _keep_python_stderr()
        with _redirected_fd2() as said:
            yield said


@contextlib.contextmanager
def _redirected_fd2() -> Iterator[list[str]]:
    import tempfile

    said: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters)
        yield said
        return
    try:
        try:
            sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the with below)
        except OSError:  # no writable temporary folder: hide the text, as before
            sink = open(os.devnull, "w+b")  # noqa: SIM115
        with sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield said
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                said.append(sink.read(4096).decode("utf-8", "replace"))
    finally:
        os.close(saved)
