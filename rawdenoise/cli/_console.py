"""Shared CLI state and output helpers: stderr console, quiet/debug flags, JSON on stdout."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class CliState:
    quiet: bool = False
    debug: bool = False


state = CliState()
_stderr: Console | None = None


def err_console() -> Console:
    """Rich console on stderr for messages, tables of progress and warnings."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True, highlight=False)
    return _stderr


def out_console() -> Console:
    """Rich console on stdout for human-readable results."""
    from rich.console import Console

    return Console(highlight=False)


def info(message: str) -> None:
    """A progress or status message (stderr, silenced by --quiet)."""
    if not state.quiet:
        err_console().print(message)


def warn(message: str) -> None:
    """A one-line warning on stderr (never silenced)."""
    err_console().print(f"rawdenoise: warning: {message}", markup=False, soft_wrap=True)


def emit_json(payload: Any) -> None:
    """Machine-readable result on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
