"""Shared CLI state and output helpers: stderr console, quiet/debug flags, JSON on stdout."""

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


def err_console() -> Console:
    """Rich console on stderr for messages, tables of progress and warnings."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        # no markup: file names such as "x[/b].dng" are text, not rich styles
        _stderr = Console(stderr=True, highlight=False, markup=False)
    return _stderr


def out_console() -> Console:
    """Rich console on stdout for human-readable results."""
    from rich.console import Console

    return Console(highlight=False, markup=False)


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
