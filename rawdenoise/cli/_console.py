"""Shared CLI state and output helpers: stderr console, quiet/debug flags, JSON on stdout.

The streams rule (README, "Exit codes and streams"): stdout carries a command's result (its
tables of results, the path of what it wrote, or JSON with --json); stderr carries progress,
per-file log lines, warnings, errors and hints. ``-q`` silences progress and messages only.

Output that is not a terminal (a pipe, a log file) is never wrapped or cut: a table as wide
as its content, a long path on one line (:data:`UNLIMITED_WIDTH`).
"""

from __future__ import annotations

import json
import math
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

#: the width of a console that is not a terminal: wide enough that nothing wraps
UNLIMITED_WIDTH = 100_000


def make_console(*, stderr: bool) -> Console:
    """A rich console on stdout or stderr: the terminal's width, or unlimited off a terminal.

    No markup and no highlighting: file names such as ``x[/b].dng`` are text, not styles.
    """
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, markup=False)
    if not console.is_terminal:
        console.width = UNLIMITED_WIDTH  # rich would wrap at 80 columns and cut with "..."
    return console


def err_console() -> Console:
    """Rich console on stderr for progress, messages and warnings."""
    global _stderr
    if _stderr is None:
        _stderr = make_console(stderr=True)
    return _stderr


def out_console() -> Console:
    """Rich console on stdout for human-readable results."""
    return make_console(stderr=False)


def info(message: str) -> None:
    """A progress or status message (stderr, silenced by --quiet)."""
    if not state.quiet:
        err_console().print(message)


def warn(message: str) -> None:
    """A one-line warning on stderr (never silenced)."""
    err_console().print(f"rawdenoise: warning: {message}", markup=False, soft_wrap=True)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def emit_json(payload: Any) -> None:
    """Machine-readable result on stdout (strict JSON: a NaN or infinity is written null)."""
    text = json.dumps(_finite(payload), indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
