"""Help style (no Python types, flags without a metavar) and -q/--debug after the subcommand."""

from __future__ import annotations

import re

import pytest

from rawdenoise.cli import build_command, main
from rawdenoise.cli._console import state
from rawdenoise.cli._help import tidy_metavars

#: what typer shows for a parameter without a metavar: "<bool>", "<list[Path]>", "<str>" ...
PYTHON_TYPE = re.compile(r"<(bool|int|float|str|path|Path|file|dir|list\[[^\]]*\])>")
_WORD = r"[A-Z][A-Z0-9_=,/.-]*"
_LITERAL = r"[a-z0-9.\[\]:-]+"
#: an UPPERCASE word, or alternatives of words and literal values ("png|tiff", "N|auto")
UPPER_OR_CHOICES = re.compile(rf"^({_WORD}|({_WORD}|{_LITERAL})(\|({_WORD}|{_LITERAL}))+)$")


def _commands(command=None, path=()):
    command = command or build_command()
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _leaf_commands():
    return [(path, cmd) for path, cmd in _commands() if not getattr(cmd, "commands", None)]


def test_every_parameter_follows_one_style() -> None:
    for path, command in _commands():
        for param in command.params:
            where = f"rawdenoise {' '.join(path)} {param.opts}"
            if getattr(param, "is_flag", False):
                assert param.metavar == "", where
            else:
                assert param.metavar and UPPER_OR_CHOICES.match(param.metavar), where


@pytest.mark.parametrize("path", [path for path, _ in _commands()], ids=" ".join)
def test_help_shows_no_python_types(path, capsys) -> None:
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage:" in text
    assert not PYTHON_TYPE.search(text), PYTHON_TYPE.search(text).group(0)


def test_the_style_rule_is_applied_by_the_walker_not_by_chance() -> None:
    """Without :func:`tidy_metavars` typer would show Python types: the test above can fail."""
    import typer

    from rawdenoise.cli import app

    raw = typer.main.get_command(app)
    process = raw.commands["process"]
    overwrite = next(p for p in process.params if "--overwrite" in p.opts)
    tile = next(p for p in process.params if "--tile" in p.opts)
    assert overwrite.display_type_rich(ctx=None) == "<bool>"
    assert tile.display_type_rich(ctx=None) == "<int>"
    tidy_metavars(raw)
    assert overwrite.display_type_rich(ctx=None) == ""
    assert tile.display_type_rich(ctx=None) == "N"


@pytest.mark.parametrize("path", [path for path, _ in _leaf_commands()], ids=" ".join)
def test_quiet_and_debug_are_accepted_after_every_subcommand(path) -> None:
    command = dict(_commands())[path]
    opts = {opt for param in command.params for opt in param.opts}
    assert {"-q", "--quiet", "--debug"} <= opts


def test_quiet_after_the_subcommand_silences_messages(capsys) -> None:
    args = ["--bright-iso", "100", "--bright-time", "30", "--dark-iso", "6400"]
    assert main(["ratio", *args, "--dark-time", "1/10", "-q"]) == 0
    assert state.quiet
    assert "ratio:" in capsys.readouterr().out  # results still printed
    assert main(["ratio", *args, "--dark-time", "1/10"]) == 0
    assert not state.quiet  # the next run starts loud again


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path) -> None:
    from rawdenoise.errors import InputError

    missing = str(tmp_path / "missing.dng")
    assert main(["ratio", missing, missing]) == 3
    with pytest.raises(InputError):
        main(["ratio", missing, missing, "--debug"])
