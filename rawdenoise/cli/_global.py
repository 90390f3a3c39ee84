"""``-q/--quiet`` and ``--debug`` after the subcommand too (``rawdenoise process -q ...``).

The root callback takes them before the subcommand; :func:`with_global_options` adds the same
two options to a command function's signature (typer reads ``__signature__``), sets the shared
state when they are given, and calls the command without them.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from rawdenoise.cli._console import state

QUIET_HELP = "Only print results, warnings and errors (no progress or messages)."
DEBUG_HELP = "Show tracebacks for errors."
GLOBAL_NAMES = ("quiet", "debug")


def _options() -> list[inspect.Parameter]:
    kind = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "quiet",
            kind,
            default=typer.Option(False, "-q", "--quiet", help=QUIET_HELP),
            annotation=bool,
        ),
        inspect.Parameter(
            "debug", kind, default=typer.Option(False, "--debug", help=DEBUG_HELP), annotation=bool
        ),
    ]


def with_global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with ``-q/--quiet`` and ``--debug`` added to its options."""
    signature = inspect.signature(func, eval_str=True)
    clash = [n for n in GLOBAL_NAMES if n in signature.parameters]
    if clash:
        raise TypeError(f"{func.__name__} already has a parameter named {clash[0]!r}")

    @functools.wraps(func)
    def wrapper(*args: Any, quiet: bool = False, debug: bool = False, **kwargs: Any) -> Any:
        if quiet:
            state.quiet = True
        if debug:
            state.debug = True
        return func(*args, **kwargs)

    params = [*signature.parameters.values(), *_options()]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **typing.get_type_hints(func),
        "quiet": bool,
        "debug": bool,
    }
    return wrapper
