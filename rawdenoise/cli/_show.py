"""Values for people: numbers to 4 significant digits, long lists and tables summarized.

``models info`` prints a model's metadata, some of which are large nested lists of floats
(a virtual camera's colour biases); a person reads their shape, a script reads ``--json``.
"""

from __future__ import annotations

from typing import Any

#: a list longer than this (or nested) is shown by its shape
MAX_ITEMS = 8
#: a dict whose one-line form is longer than this lists its keys and their shapes instead
MAX_WIDTH = 100


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def shape(value: Any) -> list[int]:
    """The dimensions of a nested list (``[5, 16, 4]``); ragged lists give the outer ones."""
    dims: list[int] = []
    while isinstance(value, (list, tuple)):
        dims.append(len(value))
        if not value:
            break
        value = value[0]
    return dims


def compact(value: Any) -> str:
    """A short one-line form of ``value`` (see the module docstring)."""
    if isinstance(value, dict):
        text = "; ".join(f"{k}={compact(v)}" for k, v in value.items())
        if len(text) <= MAX_WIDTH:
            return text
        return ", ".join(
            f"{k} ({'x'.join(map(str, shape(v)))})" if isinstance(v, (list, tuple)) else str(k)
            for k, v in value.items()
        )
    if isinstance(value, (list, tuple)):
        flat = all(not isinstance(v, (list, tuple, dict)) for v in value)
        if flat and len(value) <= MAX_ITEMS:
            return ", ".join(_scalar(v) for v in value)
        return f"{'x'.join(map(str, shape(value)))} values"
    return _scalar(value)
