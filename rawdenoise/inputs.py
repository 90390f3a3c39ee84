"""The inputs of a ``process`` run: find RAW files in files and folders, name each output,
and take this process's share of them (``--shard``, torchrun's ``RANK``/``WORLD_SIZE``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rawdenoise.errors import InputError, UsageError
from rawdenoise.formats import EXTENSIONS
from rawdenoise.rawio import is_raw_path

#: output folder beside each input when ``--out`` is not given
DEFAULT_OUT_DIR = "denoised"


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes; ``error`` when it cannot even be tried."""

    source: Path
    output: Path | None = None
    error: InputError | None = None

    @property
    def sort_key(self) -> str:
        return str(self.source)


@dataclass
class Collected:
    """What :func:`collect_inputs` found: (file, the folder argument it came from or None)."""

    files: list[tuple[Path, Path | None]] = field(default_factory=list)
    bad: list[Job] = field(default_factory=list)
    ignored: int = 0  #: files in folders without a RAW extension


def collect_inputs(
    paths: Iterable[Path], *, recursive: bool = False, out_dir: Path | None = None
) -> Collected:
    """Files named explicitly and RAW files in folders (sorted, de-duplicated).

    A missing path or an explicitly named file without a RAW extension is a bad job; in folders
    only RAW extensions count, hidden files are skipped, and so are output folders
    (``denoised/`` and ``out_dir``) so that a second run does not denoise its own outputs. A
    folder that cannot be read, and a RAW name in a folder that leads nowhere (a broken
    symbolic link, a link loop) or to something that is no file (a FIFO), are bad jobs too:
    nothing is skipped without a word.
    """
    found = Collected()
    seen: set[str] = set()
    out_resolved = _real(out_dir) if out_dir is not None else None

    def add(path: Path, root: Path | None) -> None:
        key = str(_real(path))
        if key not in seen:
            seen.add(key)
            found.files.append((path, root))

    def bad(path: Path, message: str, hint: str | None = None) -> None:
        found.bad.append(Job(path, error=InputError(message, hint=hint)))

    for path in paths:
        path = Path(path)
        if path.is_dir():
            candidates, unreadable = _listing(path, recursive)
            for folder, reason in unreadable:
                bad(folder, f"{folder}: cannot read the folder ({reason})")
            raw_seen = False
            for item in candidates:
                rel_parts = item.relative_to(path).parts
                if any(part.startswith(".") for part in rel_parts):
                    continue
                if recursive and _in_output_folder(item, path, out_resolved):
                    continue
                if item.is_dir():
                    continue
                if not is_raw_path(item):
                    if item.is_file():
                        found.ignored += 1
                    continue
                raw_seen = True
                problem = _unusable(item)
                if problem is not None:
                    bad(item, f"{item}: {problem}")
                    continue
                add(item, path)
            if not raw_seen and not unreadable:
                deeper = not recursive and any(
                    c.is_dir() and c.name != DEFAULT_OUT_DIR and not c.name.startswith(".")
                    for c in candidates
                )
                bad(
                    path,
                    f"{path}: no RAW files in this folder",
                    hint="add -r to look into its sub-folders" if deeper else None,
                )
        elif path.is_file():
            if is_raw_path(path):
                add(path, None)
            else:
                bad(
                    path,
                    f"{path.name}: not a RAW file (extension {path.suffix or 'none'})",
                    hint="rawdenoise reads camera RAW files such as .ARW, .NEF, .CR2, .DNG",
                )
        else:
            bad(path, f"{path}: {_unusable(path) or 'no such file or folder'}")
    return found


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved as far as they go (never raises on a loop, as
    ``Path.resolve`` does on Python 3.11)."""
    return Path(os.path.realpath(path))


def _unusable(path: Path) -> str | None:
    """Why a path cannot be read as a RAW file (no such file, a link loop, a FIFO, a folder);
    ``None`` when it is a regular file (it may still be unreadable: read_raw says so)."""
    from rawdenoise.rawio import describe_missing, not_a_regular_file

    if not os.path.lexists(path):
        return "no such file or folder"
    if not path.exists():
        return describe_missing(path)
    return not_a_regular_file(path)


def _listing(folder: Path, recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(every entry of ``folder``, or below it, sorted; the folders that could not be read).

    Symbolic links to folders are listed but not followed (as ``Path.rglob`` does), so a link
    to a parent folder cannot make the walk endless.
    """
    entries: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    todo = [folder]
    while todo:
        current = todo.pop()
        try:
            with os.scandir(current) as it:
                children = list(it)
        except OSError as exc:
            unreadable.append((current, (exc.strerror or type(exc).__name__).lower()))
            continue
        for child in children:
            path = current / child.name
            entries.append(path)
            if recursive and not child.name.startswith(".") and _is_real_dir(child):
                todo.append(path)
    return sorted(entries), sorted(unreadable)


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _in_output_folder(item: Path, root: Path, out_resolved: Path | None) -> bool:
    """Whether ``item`` lies in an output folder inside the folder argument ``root``.

    ``--out`` counts only when it is strictly inside ``root``: an ``--out`` that is the input
    folder itself (or above it) would otherwise hide every input.
    """
    parents = item.relative_to(root).parts[:-1]
    if DEFAULT_OUT_DIR in parents:
        return True
    if out_resolved is None:
        return False
    root_resolved = _real(root)
    if out_resolved == root_resolved or out_resolved in root_resolved.parents:
        return False
    resolved = _real(item)
    return resolved == out_resolved or out_resolved in resolved.parents


def plan_jobs(collected: Collected, *, out_dir: Path | None, suffix: str, fmt: str) -> list[Job]:
    """Output paths ``<stem><suffix>.<ext>``; sorted by input; every output name unique.

    With ``out_dir`` the sub-folders below a folder argument are kept; otherwise outputs go to
    ``denoised/`` beside each input. Two inputs that would share an output name (``a.CR2`` and
    ``a.DNG``) get the source extension in the name (``a_cr2``, ``a_dng``); inputs that still
    clash (``a.CR2`` from two folders given with one ``--out``, or ``a.CR2`` and ``a.cr2``) get
    a counter as well (``a_cr2``, ``a_cr2_2``), in sorted input order, so that no input's
    result replaces another's. Names are compared case-insensitively (macOS, Windows). An
    output that would be one of the run's inputs, its own or another's (through ``--suffix``,
    ``--out``, ``-f dng``, a hard or symbolic link), is refused: inputs are never written.
    """
    if fmt not in EXTENSIONS:
        raise UsageError(f"unknown format {fmt!r}", hint="choose png, tiff, jpeg or dng")
    ext = EXTENSIONS[fmt]

    def folder(src: Path, root: Path | None) -> Path:
        if out_dir is None:
            return src.parent / DEFAULT_OUT_DIR
        if root is None:
            return out_dir
        return out_dir / src.parent.relative_to(root)

    def output(src: Path, dest: Path, tag: str = "") -> Path:
        return dest / f"{src.stem}{tag}{suffix}{ext}"

    def key(path: Path) -> str:
        return str(_real(path)).casefold()

    inputs = _InputIdentities(
        [src for src, _ in collected.files] + [j.source for j in collected.bad]
    )

    planned = sorted(
        ((src, folder(src, root)) for src, root in collected.files), key=lambda p: str(p[0])
    )
    plain = [key(output(src, dest)) for src, dest in planned]
    sharing = Counter(plain)
    taken: set[str] = set()
    jobs: list[Job] = []
    for (src, dest), plain_key in zip(planned, plain, strict=True):
        target = output(src, dest)
        if sharing[plain_key] > 1:
            tag = "_" + src.suffix.lstrip(".").lower()
            target, n = output(src, dest, tag), 2
            while key(target) in taken:
                target, n = output(src, dest, f"{tag}_{n}"), n + 1
        taken.add(key(target))
        victim = inputs.match(target)
        if victim is None:
            jobs.append(Job(src, target))
            continue
        same = victim == _real(src)
        what = "the input" if same else f"another input of this run ({victim})"
        jobs.append(
            Job(
                src,
                error=InputError(
                    f"{src.name}: the output {target} would replace {what}",
                    hint="use --suffix or another --out folder",
                ),
            )
        )
    jobs.extend(collected.bad)
    return sorted(jobs, key=lambda j: j.sort_key)


class _InputIdentities:
    """The files a run reads, to tell whether an output path would land on one of them."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.by_name: dict[str, Path] = {}
        self.by_inode: dict[tuple[int, int], Path] = {}
        for path in paths:
            real = _real(path)
            self.by_name[str(real).casefold()] = real
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.by_inode[(st.st_dev, st.st_ino)] = real

    def match(self, target: Path) -> Path | None:
        """The input ``target`` is (same name, case-insensitively, or same file), or None."""
        real = _real(target)
        if str(real).casefold() in self.by_name:
            return self.by_name[str(real).casefold()]
        try:
            st = os.stat(target)
        except OSError:
            return None
        return self.by_inode.get((st.st_dev, st.st_ino))


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): this process takes the 2nd of 4 shares (1-based)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or n < 1 or not 1 <= i <= n:
        raise UsageError(
            f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 1/4"
        )
    return i, n


def shard_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """(RANK + 1, WORLD_SIZE) under torchrun (or any launcher that sets them), else None.

    A value that makes no sense is refused rather than ignored: each process would then take
    every file (or a wrong share), and several processes would write the same outputs.
    """
    env = os.environ if environ is None else environ
    world_text, rank_text = env.get("WORLD_SIZE"), env.get("RANK")
    if world_text is None and rank_text is None:
        return None
    world = _env_int("WORLD_SIZE", world_text, 1)
    rank = _env_int("RANK", rank_text, 0)
    if world < 1:
        raise UsageError(
            f"WORLD_SIZE={world_text} in the environment: it must be at least 1",
            hint="unset WORLD_SIZE and RANK, or set them as torchrun does",
        )
    if world > 1 and rank_text is None:
        raise UsageError(
            f"WORLD_SIZE={world_text} but RANK is not set: every process would take the same share",
            hint="set RANK (0 to WORLD_SIZE-1) for each process, or use --shard I/N",
        )
    if not 0 <= rank < world:
        raise UsageError(
            f"RANK={rank_text} is outside 0-{world - 1} (WORLD_SIZE={world_text or 'unset'})",
            hint="set RANK from 0 to WORLD_SIZE-1, or use --shard I/N",
        )
    return (rank + 1, world) if world > 1 else None


def _env_int(name: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(
            f"{name}={text!r} in the environment is not a whole number",
            hint="unset it, or use --shard I/N to split the files",
        ) from None


def take_shard(jobs: Sequence[Job], shard: tuple[int, int] | None) -> list[Job]:
    """Every n-th job of the sorted list, starting at the i-th: disjoint, covering, stable."""
    if shard is None:
        return list(jobs)
    i, n = shard
    return list(jobs[i - 1 :: n])
