"""Turn domain errors into one ``rawdenoise: error: ...`` line and a documented exit code."""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from rawdenoise.cli._console import state
from rawdenoise.errors import ExitCode, RawDenoiseError

P = ParamSpec("P")
R = TypeVar("R")


def print_error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"rawdenoise: error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


def exit_code_for(exc: BaseException) -> int:
    """Report ``exc`` on stderr and return the exit code it maps to (re-raises under --debug).

    After Ctrl-C or SIGTERM, whatever fails is reported as the interruption: library code may
    have swallowed the exception and failed later on the state it left (see
    :mod:`rawdenoise.interrupts`).
    """
    from rawdenoise import interrupts

    asked = interrupts.requested()
    stopped = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
    if asked is not None and not (
        isinstance(exc, KeyboardInterrupt)
        or (isinstance(exc, RawDenoiseError) and exc.exit_code in stopped)
    ):
        exc = asked
    if isinstance(exc, RawDenoiseError):
        if state.debug:
            raise exc
        print_error(exc.message, exc.hint)
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        print_error(interrupts.describe(exc))
        return int(interrupts.exit_code(exc))
    if isinstance(exc, MemoryError):
        print_error("out of memory", "use a smaller --tile, or --precision bf16/fp16")
        return int(ExitCode.RESOURCE)
    if isinstance(exc, BrokenPipeError):
        return int(ExitCode.OK)
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG and not state.debug:
        # Path.exists()/is_file() raise it for over-long names wherever a path is looked at
        name = exc.filename if exc.filename is not None else "a path"
        print_error(f"file name too long: {name}", "use a shorter path")
        return int(ExitCode.BAD_INPUT)
    if state.debug:
        raise exc
    print_error(
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug; run again with --debug for the traceback and report it",
    )
    return int(ExitCode.INTERNAL)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for command bodies: domain errors become one line and an exit code."""
    import typer

    from rawdenoise import interrupts

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with interrupts.allowed():  # main() holds signals back outside command bodies
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:  # the CLI boundary
            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper


def stdout_was_closed() -> bool:
    """Whether a ``SystemExit`` is typer's or rich's answer to a reader that closed the pipe
    (``rawdenoise --help | head -1``): typer wraps stdout in a ``PacifyFlushWrapper``, rich
    points file descriptor 1 at the null device; both exit 1, which reads as a bug."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    try:
        return os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except (OSError, ValueError):
        return False
