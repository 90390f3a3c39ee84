"""The manual stays whole and true: a README section per subcommand, and every ``rawdenoise``
command line in the README's (and ``docs/``'s) console and bash blocks parses against the app.

A README rewrite once dropped half the manual unnoticed. These checks parse, never run: each
command line is split as a shell would, the subcommand path is resolved through the click
command tree, and the rest goes through that command's own option parser (unknown or
malformed options, extra arguments and missing required ones fail). Values are not
converted and callbacks do not run, so example paths need not exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rawdenoise.cli import COMMANDS, build_command

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))

#: fenced blocks whose lines are shell: ``console`` lines are commands only after ``$ ``
SHELL_BLOCKS = {"console", "bash", "sh", "shell", "zsh"}
FENCE = re.compile(r"^```(\S*)\s*$")
#: ``2> log``, ``>> out``, ``< in``: redirections are the shell's, not the command's
REDIRECT = re.compile(r"\s\d*(>>|>|<)\s*\S+")
OPERATORS = {"|", "||", "&&", ";", "&"}


def headings(text: str) -> list[str]:
    """The markdown headings outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            out.append(line)
    return out


def missing_sections(text: str) -> list[str]:
    """Subcommands without a heading of their own naming `` `rawdenoise NAME` ``."""
    found = "\n".join(headings(text))
    return [name for name, _, _ in COMMANDS if f"`rawdenoise {name}`" not in found]


def shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, command line) of every shell line in console and bash blocks."""
    out: list[tuple[int, str]] = []
    language: str | None = None
    pending = ""
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(1).lower()
            continue
        if language not in SHELL_BLOCKS:
            continue
        if not pending:
            if language == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    return out


def rawdenoise_invocations(line: str) -> list[list[str]]:
    """The argument lists given to ``rawdenoise`` in a shell line (``.venv/bin/rawdenoise``,
    ``python -m rawdenoise`` and ``torchrun ... -m rawdenoise`` included)."""
    lexer = shlex.shlex(REDIRECT.sub(" ", line), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    found: list[list[str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        module = token == "rawdenoise" and i > 0 and tokens[i - 1] == "-m"
        if Path(token).name == "rawdenoise" and (
            module
            or "/" in token
            or token == tokens[0]
            or tokens[i - 1] in OPERATORS
            or tokens[i - 1] in ("nohup", "exec")
        ):
            args = []
            i += 1
            while i < len(tokens) and tokens[i] not in OPERATORS:
                args.append(tokens[i])
                i += 1
            found.append(args)
        i += 1
    return found


def parse_error(args: list[str]) -> str | None:
    """Why ``rawdenoise ARGS`` would be refused by the command line parser (None: it parses)."""
    from typer._click.exceptions import UsageError

    command = build_command()
    ctx = None
    name = "rawdenoise"
    while True:
        ctx = command.context_class(command, info_name=name, parent=ctx)
        try:
            opts, rest, _ = command.make_parser(ctx).parse_args(args=list(args))
        except UsageError as exc:
            return f"{ctx.command_path}: {exc.format_message()}"
        if any(opts.get(p.name) for p in command.get_params(ctx) if p.is_eager):
            return None  # --help, --version: nothing else is needed
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            break
        if not rest:
            return f"{ctx.command_path}: no subcommand"
        name, args = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            return f"{ctx.command_path}: no such command {name!r}"
        command = sub
    if rest:
        return f"{ctx.command_path}: unexpected argument(s) {rest}"
    for param in command.params:
        if param.required and opts.get(param.name) in (None, (), []):
            return f"{ctx.command_path}: missing {param.opts[0]}"
    return None


def documented_commands(path: Path) -> list[tuple[str, list[str]]]:
    return [
        (f"{path.name}:{number}", args)
        for number, line in shell_lines(path.read_text(encoding="utf-8"))
        for args in rawdenoise_invocations(line)
    ]


# --------------------------------------------------------------------------------------------


def test_every_subcommand_has_its_own_readme_section() -> None:
    assert missing_sections(README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_documented_command_line_parses(path: Path) -> None:
    commands = documented_commands(path)
    if path == README:
        used = {args[0] for _, args in commands if args}
        assert {name for name, _, _ in COMMANDS} <= used  # an example of every subcommand
    problems = [f"{where}: {problem}" for where, args in commands if (problem := parse_error(args))]
    assert problems == []


def test_the_section_check_fails_when_a_section_is_removed() -> None:
    text = README.read_text(encoding="utf-8")
    heading = next(h for h in headings(text) if "`rawdenoise calibrate`" in h)
    assert missing_sections(text.replace(heading, "## Calibration")) == ["calibrate"]


def test_the_command_check_fails_on_what_does_not_exist() -> None:
    text = "\n".join(
        [
            "```console",
            "$ rawdenoise process shoot/ --ratio 1 --no-such-option",
            "output line, not a command: rawdenoise process --nothing",
            "$ rawdenoise nosuch x",
            "$ rawdenoise ratio a.dng b.dng c.dng",
            "$ rawdenoise pretrain frames/ --iterations 2",
            "$ rawdenoise models frobnicate",
            "$ rawdenoise process a.dng --ratio",
            "```",
            "```bash",
            "nohup rawdenoise pretrain frames/ --name x --iterations 9 \\",
            "    --bogus 2> log &",
            ".venv/bin/rawdenoise process a.dng -O channels=8 && rawdenoise evaluate p.txt -Z",
            "```",
            "```python",
            "rawdenoise --not-checked-in-python-blocks",
            "```",
        ]
    )
    lines = [args for _, line in shell_lines(text) for args in rawdenoise_invocations(line)]
    assert len(lines) == 9
    errors = [parse_error(args) for args in lines]
    assert [e is not None for e in errors] == [True, True, True, True, True, True, True, False,
                                               True]  # fmt: skip
    assert "no such option: --no-such-option" in (errors[0] or "").lower()
    assert "missing --name" in (errors[3] or "")
    assert "--bogus" in (errors[6] or "")


def test_the_command_check_accepts_what_the_cli_accepts() -> None:
    good = [
        ["process", "shoot/", "--ratio", "1", "-q"],
        ["-q", "process", "a.dng", "b.dng", "-f", "jpeg", "--quality", "90", "--skip-existing"],
        ["pair", "--check", "p.txt", "--root", "DIR", "--no-verify", "--json"],
        ["models", "info", "default", "--json"],
        ["calibrate", "--dark", "d", "--flat", "f", "--no-plots"],
        ["process", "--help"],
        ["--version"],
    ]
    assert [parse_error(args) for args in good] == [None] * len(good)


def python_blocks(text: str, heading: str) -> list[str]:
    """The ``python`` fenced blocks of the section that starts at ``heading``."""
    blocks: list[str] = []
    inside, language, lines = False, None, []
    for line in text.splitlines():
        fence = FENCE.match(line)
        if fence and language is None:
            language = fence.group(1).lower()
            lines = []
        elif fence:
            if inside and language == "python":
                blocks.append("\n".join(lines) + "\n")
            language = None
        elif language is not None:
            lines.append(line)
        elif line.startswith("#"):
            inside = line.strip() == heading
    return blocks


def test_the_use_from_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"), "## Use from Python")
    assert len(blocks) == 1, "the README's 'Use from Python' section has one python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md (Use from Python)", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("(512, 768) ")
    assert printed[1:] == [
        "file 1: done dark_iso6400.tif",
        "1 done; exit code 0",
        "error: unknown --format 'gif' (exit 2)",
    ]
    assert (tmp_path / "denoised" / "dark.png").stat().st_size > 0
    assert (tmp_path / "denoised" / "dark_iso6400.tif").stat().st_size > 0


def test_python_blocks_finds_the_examples_of_one_section_only() -> None:
    text = "## A\n```python\na = 1\n```\n## B\n```python\nb = 2\n```\n```console\n$ x\n```\n"
    assert python_blocks(text, "## B") == ["b = 2\n"]
