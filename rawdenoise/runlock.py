"""One training run per model name at a time.

Two ``pretrain`` (or ``finetune``) runs of one name would overwrite each other's checkpoint
every few minutes, and after hours of work one of them could not save its model. The first run
holds an exclusive ``flock`` on a lock file beside its checkpoint; a second one is refused at
once. The kernel drops the lock when its process ends, however it ends, so a crashed run never
leaves a stale lock; the file itself is removed when the run finishes.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from rawdenoise.errors import OutputError


@contextlib.contextmanager
def run_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` while the block runs; :class:`OutputError` if another
    process holds it (``what`` names the run in the message, e.g. ``"pretraining of 'x'"``)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; runs are not guarded there
        yield
        return
    path = Path(path)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # a read-only data folder: the run's own checks say so, better
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise OutputError(
                f"another {what} is going on{holder}",
                hint="wait for it to finish, or use another --name",
                path=path,
            ) from None
        try:  # the holder before us may have removed the file we opened: lock the new one
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: no one can be holding this file
        os.close(fd)


def _holder(fd: int) -> str:
    """`` (process N)`` from the lock file, or nothing."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""
