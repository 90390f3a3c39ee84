"""Write files atomically: to a temporary name beside the target, then rename.

An interrupted or failed write leaves no partial file under the target name, and an existing
target is only replaced when the caller asks for it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rawdenoise.errors import InputError, ResourceError


@contextlib.contextmanager
def atomic_path(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``target``.

    The temporary file keeps ``target``'s suffix so that writers that pick a format from the
    extension (imageio, tifffile) behave the same.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists", hint="pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600 files; give the result the permissions a plain open() would
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == 28:  # ENOSPC
            raise ResourceError(f"no space left while writing {target}") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(target: Path, text: str, *, overwrite: bool = False) -> None:
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(target: Path, data: bytes, *, overwrite: bool = False) -> None:
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
