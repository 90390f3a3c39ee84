"""A command's arguments -> the library's options object, field by field.

Each command's parameters are named as the fields of its options dataclass, so the mapping is
one-to-one and checked: a field without a parameter is a bug caught by the tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def options_from(cls: type[T], arguments: Mapping[str, Any]) -> T:
    """``cls(**arguments)`` for the dataclass ``cls``'s fields (lists become tuples); other
    arguments (``--json``: how to show the result) are the command's own."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = arguments[f.name]
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
