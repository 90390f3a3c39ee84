"""Small parsers shared by the training commands: ``--option KEY=VALUE``, ``A,B`` pairs, TOML."""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError, UsageError


def parse_value(text: str) -> Any:
    """``16`` -> 16, ``0.5`` -> 0.5, ``true`` -> True, anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()
    return value if isinstance(value, (int, float, str)) else text.strip()


def parse_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``["channels=16"]`` -> ``{"channels": 16}`` (architecture options)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def parse_pair(text: str, what: str, kind: type = float) -> tuple[Any, Any]:
    """``"1000,500"`` -> (1000, 500); a single value is used for both.

    NaN and infinite values are refused; with ``kind=int`` so are fractions (``1e3`` is 1000).
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise UsageError(f"{what} expects two comma-separated values, got {text!r}")
    values = tuple(_number(p, text, what, kind) for p in parts)
    return values[0], values[1]


def _number(part: str, text: str, what: str, kind: type) -> Any:
    if kind is int:
        try:
            return int(part)  # exact, even beyond float precision
        except ValueError:
            pass
    try:
        value = float(part)
    except ValueError as exc:
        raise UsageError(f"{what}: not a number in {text!r}") from exc
    if not math.isfinite(value):
        raise UsageError(f"{what}: {part!r} is not a finite number (in {text!r})")
    if kind is int:
        if not value.is_integer():
            raise UsageError(f"{what}: {part!r} is not a whole number (in {text!r})")
        return int(value)
    return kind(part)


def check_finite(value: float, option: str) -> float:
    """``value`` itself, or a :class:`UsageError` when it is NaN or infinite."""
    if not math.isfinite(value):
        raise UsageError(f"{option} must be a finite number, got {value}")
    return value


def read_toml(path: Path, allowed: Sequence[str]) -> dict[str, Any]:
    """A flat TOML table of command options (unknown keys refused, listing the known ones)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise InputError(f"{path}: cannot read the config file ({reason})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a valid TOML file (not UTF-8 text)") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not a valid TOML file ({exc})") from exc
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UsageError(
            f"{path.name}: unknown setting(s) {', '.join(unknown)}",
            hint=f"known settings: {', '.join(allowed)}",
        )
    return {k.replace("-", "_"): v for k, v in data.items()}
