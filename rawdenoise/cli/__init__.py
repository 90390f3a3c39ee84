"""The ``rawdenoise`` command: a thin Typer layer over the library.

Each subcommand lives in its own module and imports heavy libraries (torch, rawpy, numpy) only
inside its body, so ``--help``, ``--version`` and shell completion stay fast and torch-free.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import typer

from rawdenoise import __version__
from rawdenoise.cli._console import state
from rawdenoise.cli._errors import exit_code_for, print_error, stdout_was_closed
from rawdenoise.cli._global import DEBUG_HELP, QUIET_HELP, with_global_options
from rawdenoise.errors import ExitCode

#: (command name, module, function) in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("ratio", "rawdenoise.cli.ratio", "ratio"),
    ("pair", "rawdenoise.cli.pair", "pair"),
    ("calibrate", "rawdenoise.cli.calibrate", "calibrate"),
    ("finetune", "rawdenoise.cli.finetune", "finetune"),
    ("process", "rawdenoise.cli.process", "process"),
    ("evaluate", "rawdenoise.cli.evaluate", "evaluate"),
    ("pretrain", "rawdenoise.cli.pretrain", "pretrain"),
    ("models", "rawdenoise.cli.models", "app"),
    ("plugins", "rawdenoise.cli.plugins", "plugins"),
)

app = typer.Typer(
    name="rawdenoise",
    help=(
        "Build a deep-learning RAW denoiser for your own camera, then clean up dark photos "
        "with it.\n\nJourney: ratio -> pair -> (calibrate) -> finetune -> process."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rawdenoise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=QUIET_HELP),
) -> None:
    flag = os.environ.get("RAWDENOISE_DEBUG", "").strip().lower()
    state.debug = debug or flag not in ("", "0", "false", "no", "off")
    state.quiet = quiet


def _register_commands() -> None:
    for name, module_name, attr in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built into this version
                continue
            raise
        target = getattr(module, attr)
        if isinstance(target, typer.Typer):
            for info in target.registered_commands:  # -q and --debug after the subcommand too
                if info.callback is not None:
                    info.callback = with_global_options(info.callback)
            app.add_typer(target, name=name)
        else:
            app.command(name)(with_global_options(target))


_register_commands()


def build_command() -> typer.core.TyperGroup:
    """The click command of the app, with the help style of :mod:`rawdenoise.cli._help`."""
    from rawdenoise.cli._help import tidy_metavars

    return tidy_metavars(typer.main.get_command(app))


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) an :class:`ExitCode`."""
    from typer import exceptions as typer_exc
    from typer._click import exceptions as click_exc

    from rawdenoise import interrupts

    command = build_command()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # SIGTERM unwinds and cleans up as Ctrl-C does. Outside a command's body (parsing,
        # click's teardown) a signal waits: typer would turn it into a silent exit 130. Once
        # the command is over it has nothing left to stop (the console script then ignores it
        # while it exits).
        with interrupts.handled(restore=argv is not None):
            try:
                with interrupts.deferred():
                    result = command.main(args=args, prog_name="rawdenoise", standalone_mode=False)
            finally:
                interrupts.command_over()
        code = int(result) if isinstance(result, int) else 0
    except typer_exc.Exit as exc:
        code = exc.exit_code
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer's answer to one outside a
            code = exit_code_for(exc.__cause__)  # command body: exit 130 without a word
    except typer_exc.Abort:
        print_error("interrupted")
        code = int(ExitCode.INTERRUPTED)
    except click_exc.NoArgsIsHelpError as exc:
        exc.show()
        code = int(ExitCode.OK)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "rawdenoise"
        print_error(exc.format_message(), f"see '{where} --help'")
        code = int(ExitCode.USAGE)
    except click_exc.ClickException as exc:
        print_error(exc.format_message())
        code = int(exc.exit_code)
    except (Exception, KeyboardInterrupt) as exc:  # the CLI boundary
        code = exit_code_for(exc)
    except SystemExit as exc:
        if exc.code != 1 or not stdout_was_closed():
            raise
        code = int(ExitCode.OK)  # as for a command's output: the reader has what it wanted
    if argv is None:
        _end_program(code)
    return code


def _end_program(code: int) -> NoReturn:
    """Exit with ``code``. Once torch is loaded, the interpreter's teardown takes 0.3 s (torch
    2.13 on a 2-core Xeon; ``process`` on one file runs 4 s) for nothing a finished command
    needs: its outputs are published or removed, its reader and writer threads joined. The
    streams are flushed, then the process ends at once."""
    if "torch" not in sys.modules:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        # a reader that closed the pipe, or a closed stream: nothing more can reach it
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
