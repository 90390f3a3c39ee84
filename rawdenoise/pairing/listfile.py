"""LED's ``NOISY CLEAN`` pair-list format: tolerant reading, formatting and atomic writing.

LED reads a pair list by splitting each line on one space and taking the first two tokens as
noisy (lq) and clean (gt) paths relative to ``--dataroot`` (method.md §4.4, §10); it checks
nothing. Here a list is parsed tolerantly (CRLF, blank and ``#`` lines, tabs and repeated
spaces, ``./`` prefixes, extra columns such as ELD's ``ISO800 ISO100``, names with spaces either
quoted or recognised because they name existing files). Validating the files it names is
:mod:`rawdenoise.pairing.validate`'s job.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rawdenoise.errors import InputError
from rawdenoise.pairing.pair import Pair

#: How many problems the one InputError of :func:`load_pairs` lists.
MAX_LISTED = 5


@dataclass(frozen=True)
class PairEntry:
    """One parsed line of a pair list: paths resolved against the list's folder or the root."""

    noisy: Path
    clean: Path
    line: int
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    quoted: bool


def _tokenize(line: str) -> list[_Token] | None:
    """Whitespace-separated tokens; "..." or '...' keep spaces. None on an unclosed quote."""
    tokens: list[_Token] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "\"'":
            close = line.find(line[i], i + 1)
            if close < 0:
                return None
            tokens.append(_Token(line[i + 1 : close], i, close + 1, True))
            i = close + 1
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        tokens.append(_Token(line[i:j], i, j, False))
        i = j
    return tokens


def _candidates(base: Path, text: str) -> list[Path]:
    path = Path(text)
    out = [path if path.is_absolute() else base / path]
    if "\\" in text and os.sep == "/":  # a list written on Windows
        alt = Path(text.replace("\\", "/"))
        out.append(alt if alt.is_absolute() else base / alt)
    return out


def _resolve(base: Path, text: str) -> Path:
    """``text`` against ``base``, preferring a variant that exists."""
    options = _candidates(base, text)
    return next((p for p in options if p.exists()), options[0])


def _exists(base: Path, text: str) -> bool:
    return any(p.is_file() for p in _candidates(base, text))


def _span(line: str, tokens: list[_Token], a: int, b: int) -> str | None:
    """Text of tokens ``a..b-1``: a quoted token stands alone, unquoted ones join as written."""
    part = tokens[a:b]
    if len(part) == 1:
        return part[0].text
    if any(t.quoted for t in part):
        return None
    return line[part[0].start : part[-1].end]


def _parse_line(line: str, number: int, base: Path) -> PairEntry | str:
    """A :class:`PairEntry`, or a problem message."""
    tokens = _tokenize(line)
    if tokens is None:
        return f"line {number}: unclosed quote in {line.strip()!r}"
    if len(tokens) < 2:
        return f"line {number}: expected 'NOISY CLEAN', found only {tokens[0].text!r}"
    i, j = 1, 2
    if len(tokens) > 2:
        # Extra columns or unquoted names with spaces: take the first split naming two files.
        for a in range(1, len(tokens)):
            noisy = _span(line, tokens, 0, a)
            if noisy is None or not _exists(base, noisy):
                continue
            b = next(
                (
                    b
                    for b in range(a + 1, len(tokens) + 1)
                    if (clean := _span(line, tokens, a, b)) is not None and _exists(base, clean)
                ),
                None,
            )
            if b is not None:
                i, j = a, b
                break
    noisy, clean = _span(line, tokens, 0, i), _span(line, tokens, i, j)
    assert noisy is not None and clean is not None
    extra = tuple(t.text for t in tokens[j:])
    return PairEntry(_resolve(base, noisy), _resolve(base, clean), number, extra)


def _read_text(path: Path) -> str:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(
            f"{path}: is a folder, expected a pair list",
            hint="to pair the captures in a folder, run 'rawdenoise pair FOLDER'",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if b"\x00" in data[:4096]:
        raise InputError(
            f"{path}: is not a text pair list (binary data)",
            hint="a pair list has one 'NOISY CLEAN' line per pair",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse(path: Path, root: Path | None) -> tuple[list[PairEntry], list[str]]:
    text = _read_text(path)
    base = Path(root) if root is not None else Path(path).parent
    if root is not None and not base.is_dir():
        raise InputError(f"{base}: root folder not found")
    entries: list[PairEntry] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _parse_line(line, number, base)
        if isinstance(parsed, str):
            problems.append(parsed)
        else:
            entries.append(parsed)
    return entries, problems


def read_pair_list(path: str | Path, root: str | Path | None = None) -> list[PairEntry]:
    """Parse a pair list (``NOISY CLEAN`` per line); paths relative to its folder or ``root``.

    Only the format is checked here (one :class:`InputError` for malformed lines); use
    :func:`load_pairs` to validate the files themselves.
    """
    path = Path(path)
    entries, problems = _parse(path, Path(root) if root is not None else None)
    if problems:
        raise _combined_error(path, problems)
    return entries


def unwritable_name(name: str) -> str | None:
    """Why ``name`` cannot be written into a pair list (so read back), or None if it can.

    A line break (or any control character) would split the line; a name that is not valid
    Unicode (undecodable bytes) cannot be written as UTF-8; a name with spaces needs quoting,
    which fails when it holds both quote kinds.
    """
    for c in name:
        if unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            return f"contains a control character ({c!r})"
        if "\ud800" <= c <= "\udfff":
            return "is not valid UTF-8 (undecodable bytes)"
    if (
        (not name or any(c.isspace() for c in name) or name[0] in "#\"'")
        and '"' in name
        and "'" in name
    ):
        return "contains spaces and both quote kinds"
    return None


def shown_name(name: str) -> str:
    """``name`` for a one-line message: control characters and bad bytes escaped."""
    return ascii(name)[1:-1] if unwritable_name(name) else name


def _quote(name: str) -> str:
    reason = unwritable_name(name)
    if reason is not None:
        raise InputError(
            f"cannot write the file name {name!a} into a pair list: it {reason}",
            hint="rename the file",
        )
    if not name or any(c.isspace() for c in name) or name[0] in "#\"'":
        if '"' not in name:
            return f'"{name}"'
        if "'" not in name:
            return f"'{name}'"
        raise InputError(f"cannot write a file name with spaces and both quote kinds: {name!r}")
    return name


def _relative(target: Path, folder: Path) -> str:
    try:
        rel = os.path.relpath(Path(target).absolute(), folder.absolute())
    except ValueError:  # another drive (Windows)
        return Path(target).absolute().as_posix()
    return Path(rel).as_posix()


def format_pair_list(
    pairs: Iterable[Pair | PairEntry | tuple[str | Path, str | Path]],
    folder: str | Path,
    *,
    extra_columns: bool = True,
) -> str:
    """The text of a pair list whose paths are relative to ``folder``.

    With ``extra_columns``, :class:`Pair` lines end with ``ISO<noisy> ISO<clean> x<ratio>``
    (ELD's lists carry ISO columns too); LED and :func:`read_pair_list` ignore them.
    """
    folder = Path(folder)
    lines = []
    for item in pairs:
        if isinstance(item, (Pair, PairEntry)):
            noisy, clean = item.noisy, item.clean
        else:
            noisy, clean = (Path(p) for p in item)
        line = f"{_quote(_relative(noisy, folder))} {_quote(_relative(clean, folder))}"
        if extra_columns and isinstance(item, Pair):
            line += f" ISO{item.noisy_iso:g} ISO{item.clean_iso:g} x{item.ratio:.4g}"
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def write_pair_list(
    path: str | Path,
    pairs: Iterable[Pair | PairEntry | tuple[str | Path, str | Path]],
    *,
    overwrite: bool = False,
    extra_columns: bool = True,
) -> Path:
    """Write ``pairs`` atomically in LED's format, paths relative to the list's folder.

    Names with spaces are quoted (LED's own loader cannot read those; rawdenoise can). An
    existing file is only replaced with ``overwrite``.
    """
    from rawdenoise.atomic import write_text_atomic

    path = Path(path)
    text = format_pair_list(pairs, path.parent, extra_columns=extra_columns)
    write_text_atomic(path, text, overwrite=overwrite)
    return path


def _combined_error(path: Path, problems: Sequence[str]) -> InputError:
    listed = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return InputError(
        f"pair list {path}: {count}: {listed}{more}",
        hint=(
            "each line is 'NOISY CLEAN' (the dark frame first), paths relative to the list's "
            f"folder or --root; 'rawdenoise pair --check {path}' lists every problem"
        ),
    )
