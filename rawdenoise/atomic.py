"""Write files atomically: to a temporary name beside the target, then rename.

An interrupted or failed write leaves no partial file under the target name (nor the folders
it had to create), and an existing target is only replaced when the caller asks for it, even
when another process creates it while this one writes.

Whatever stops an output being written (disk full, a read-only file system, permission denied,
a folder in the way, a file where a folder should be) becomes one
:class:`~rawdenoise.errors.OutputError` that names the output and the reason (exit code 5).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from rawdenoise import interrupts
from rawdenoise.errors import OutputError, OutputExistsError, RawDenoiseError

_FREE_SPACE = "free some disk space, or write to another disk"
_WRITABLE = "write to a folder on a writable disk"
_PERMISSION = "check the folder's permissions, or write to another folder"

#: errno -> (reason, hint) for an output that cannot be written
_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", _FREE_SPACE),
    errno.EDQUOT: ("disk quota exceeded", _FREE_SPACE),
    errno.EFBIG: (
        "the file is too large for the file system (or the file size limit, ulimit -f)",
        "write to another disk",
    ),
    errno.EROFS: ("read-only file system", _WRITABLE),
    errno.EACCES: ("permission denied", _PERMISSION),
    errno.EPERM: ("operation not permitted", _PERMISSION),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter output path"),
    errno.ELOOP: ("too many levels of symbolic links", "choose another output path"),
}

#: errors that are about the data being written, whichever file the writer was writing
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def output_error(target: Path, exc: OSError) -> OutputError:
    """The one-line error for ``exc``, raised while writing the output ``target``."""
    target = Path(target)
    blocker = _file_in_the_way(target)
    if blocker is not None and exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        return _blocked(target, blocker)
    if exc.errno == errno.EISDIR or _is_dir(target):
        return _a_folder(target)
    reason, hint = _reason(exc)
    return OutputError(f"cannot write {target}: {reason}", hint=hint, path=target)


def _reason(exc: OSError) -> tuple[str, str]:
    """(why, hint) for an OSError met while writing."""
    reason, hint = _REASONS.get(exc.errno or 0, (None, None))
    if reason is None or hint is None:
        text = exc.strerror or str(exc) or type(exc).__name__
        reason, hint = text[:1].lower() + text[1:], "check the output path, or write elsewhere"
    return reason, hint


def check_output(target: Path, *, overwrite: bool = False) -> None:
    """Fail early, before any long work, when ``target`` cannot be written as an output.

    Refuses a target that is a folder, or whose path goes through a file, and an existing
    target without ``overwrite``: all exit 5. Creates nothing.
    """
    target = Path(target)
    if _is_dir(target):
        raise _a_folder(target)
    blocker = _file_in_the_way(target)
    if blocker is not None:
        raise _blocked(target, blocker)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists", path=target)


def check_output_folder(folder: Path) -> None:
    """Fail early when ``folder`` (where outputs go) is a file or lies below one (exit 5).

    Creates nothing: a folder that does not exist yet is made when the first output is written.
    """
    folder = Path(folder)
    if os.path.lexists(folder) and not _is_dir(folder):
        raise OutputError(
            f"cannot write in {folder}: it is a file, not a folder",
            hint="choose a folder for the outputs",
            path=folder,
        )
    blocker = _file_in_the_way(folder / "file")
    if blocker is not None:
        raise _blocked(folder, blocker)


def check_writable_folder(folder: Path) -> None:
    """Fail now, not after hours of training, when no file can be written in ``folder``.

    Creates the folder if needed (it is kept) and a temporary file in it (removed).
    """
    folder = Path(folder)
    try:
        _make_parents(folder)
        with interrupts.deferred():  # a Ctrl-C must not leave the test file behind
            fd, name = tempfile.mkstemp(prefix=".rawdenoise-write-test.", dir=folder)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        blocker = _file_in_the_way(folder / "file")
        if blocker is not None:
            raise _blocked(folder, blocker) from exc
        reason, hint = _reason(exc)
        raise OutputError(f"cannot write in {folder}: {reason}", hint=hint, path=folder) from exc


@contextlib.contextmanager
def atomic_path(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``target``.

    The temporary file keeps ``target``'s suffix so that writers that pick a format from the
    extension (imageio, tifffile) behave the same.
    """
    with atomic_paths([target], overwrite=overwrite) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(targets: Sequence[Path], *, overwrite: bool = False) -> Iterator[list[Path]]:
    """Write a group of files all or nothing: yield one temporary path per target.

    Only when every file has been written are they published under their targets. On any
    failure, Ctrl-C or SIGTERM the temporary files, the targets this call created and the
    folders it created are removed; files that existed before are never removed.

    Without ``overwrite`` a target is published with a hard link, which fails if the name is
    taken: a file another process wrote meanwhile (two runs into one folder) is never
    replaced, and this call reports it instead.
    """
    targets = [Path(t) for t in targets]
    staged: list[tuple[Path, Path]] = []  # (target, temporary file)
    created_dirs: list[Path] = []
    created: list[Path] = []  # targets that did not exist before this call
    # signals wait while temporary names are made and published, and during the cleanup: a
    # Ctrl-C between creating a file and remembering its name would leave it behind
    with interrupts.deferred():
        try:
            for target in targets:
                with _translated(target):
                    check_output(target, overwrite=overwrite)
                    created_dirs += _make_parents(target.parent)
                    fd, tmp_name = tempfile.mkstemp(
                        prefix=f".{target.stem}.",
                        suffix=f".part{target.suffix}",
                        dir=target.parent,
                    )
                    os.close(fd)
                staged.append((target, Path(tmp_name)))
            try:
                with interrupts.allowed():  # the caller's writing may be interrupted
                    yield [tmp for _, tmp in staged]
            except OutputError as exc:
                # a nested atomic write onto one of our temporary files: name the real output
                inner = os.path.abspath(exc.path) if exc.path is not None else None
                for target, tmp in staged:
                    if inner == os.path.abspath(tmp) and isinstance(exc.__cause__, OSError):
                        raise output_error(target, exc.__cause__) from exc.__cause__
                raise
            except OSError as exc:
                culprit = _concerned(exc, staged)
                if culprit is not None:
                    raise output_error(culprit, exc) from exc
                raise  # not about the output (reading an input, say): the caller's business
            for target, tmp in staged:
                with _translated(target):
                    existed = os.path.lexists(target)
                    if tmp.exists():
                        # mkstemp creates 0600 files; give the result the permissions of open()
                        os.chmod(tmp, 0o666 & ~_umask())
                    _publish(tmp, target, overwrite=overwrite)
                if not existed:
                    created.append(target)
        except BaseException:
            for _, tmp in staged:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            for target in created:
                with contextlib.suppress(OSError):
                    target.unlink(missing_ok=True)
            for folder in reversed(created_dirs):
                with contextlib.suppress(OSError):  # only when empty: never a user's file
                    folder.rmdir()
            raise


#: errnos of ``link()`` on file systems without hard links (FAT, exFAT, some network shares)
_NO_HARD_LINKS = frozenset(
    code
    for code in (
        errno.EPERM,
        errno.EOPNOTSUPP,
        getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
        errno.ENOSYS,
        errno.EMLINK,
        errno.EXDEV,
    )
)


def _publish(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Give ``tmp`` the name ``target``; without ``overwrite`` never replace a file.

    ``rename()`` replaces whatever has the name; ``link()`` fails when the name is taken, so
    it publishes a complete file only where nothing is. Where the file system has no hard
    links, the name is first claimed with ``O_EXCL`` (an empty file, briefly) and then
    replaced by the complete file.
    """
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise _taken(target) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise _taken(target) from None
        os.close(fd)
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(target)  # the empty file that claimed the name: ours
            raise
        return
    os.unlink(tmp)


def _taken(target: Path) -> RawDenoiseError:
    """The error for a target that appeared while this run was writing it."""
    if _is_dir(target):
        return _a_folder(target)
    return OutputExistsError(
        f"{target} exists: another run wrote it meanwhile; this result was not saved",
        hint="pass --overwrite to replace it, or write to another folder",
        path=target,
    )


@contextlib.contextmanager
def _translated(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise output_error(target, exc) from exc


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, outermost first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # made meanwhile by someone else: not ours to remove
        made.append(path)
    return made


def _concerned(exc: OSError, staged: list[tuple[Path, Path]]) -> Path | None:
    """The target that a writer's ``exc`` is about, or ``None`` when it is about another file."""
    names = {os.path.abspath(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n}
    for target, tmp in staged:
        if names & {os.path.abspath(tmp), os.path.abspath(target)}:
            return target
    if exc.errno in _WRITE_ERRNOS and staged:  # the disk is full (read-only...) for all of them
        return staged[0][0]
    return None


def _file_in_the_way(target: Path) -> Path | None:
    """The first component of ``target``'s folder that exists but is not a folder."""
    for parent in reversed(target.parents):
        if parent == Path(parent.anchor) or str(parent) == ".":
            continue
        try:
            if os.path.lexists(parent) and not parent.is_dir():
                return parent
        except OSError:
            return None
    return None


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _blocked(target: Path, blocker: Path) -> OutputError:
    return OutputError(
        f"cannot write {target}: {blocker} is a file, not a folder",
        hint="choose another output path",
        path=target,
    )


def _a_folder(target: Path) -> OutputError:
    return OutputError(
        f"cannot write {target}: it is a folder",
        hint="choose another output name, or move the folder away",
        path=target,
    )


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
