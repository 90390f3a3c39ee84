"""An architecture's factory: imported from its ``"module:callable"`` string (only when a
network is built, so that torch and the plugin's code load then), and the options it is given
checked against its signature and the spec's allowed values, with messages that name the
option, the value and the plugin."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from rawdenoise.errors import PluginError, RawDenoiseError, UsageError
from rawdenoise.plugins import plugin_code
from rawdenoise.specs import ArchitectureSpec


def _binds(factory: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``factory`` takes these keyword arguments (True when it has no signature)."""
    import inspect

    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        return False
    except ValueError:  # no signature to check against
        return True
    return True


def _check_option_values(spec: ArchitectureSpec, options: Mapping[str, Any]) -> None:
    """Refuse values of the wrong kind before the factory silently converts them.

    An option whose default is an integer must be a whole number (``int(2.5)`` would build
    2 channels), one whose default is a boolean must be true or false, and no number may be
    NaN or infinite.
    """
    import math

    for key, value in options.items():
        default = spec.default_options.get(key)
        problem = None
        if isinstance(value, float) and not math.isfinite(value):
            problem = "not a finite number"
        elif isinstance(default, bool):
            problem = None if isinstance(value, bool) else "expected true or false"
        elif isinstance(default, int) and (
            isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())
        ):
            problem = "expected a whole number"
        if problem:
            raise _invalid_options(spec, {key: value}, problem, only=True)


def _invalid_options(
    spec: ArchitectureSpec, options: Mapping[str, Any], problem: str, *, only: bool = False
) -> RawDenoiseError:
    """The error for option values the architecture cannot build with.

    Names the options that differ from the architecture's defaults (``only``: just
    ``options``); when there are none, the architecture fails on its own defaults: a broken
    plugin, not the user's mistake.
    """

    defaults = spec.default_options
    chosen = (
        dict(options)
        if only
        else {k: v for k, v in options.items() if k not in defaults or defaults[k] != v}
    )
    if not chosen:
        return PluginError(
            f"architecture {spec.name!r} cannot be built with its default options "
            f"{_format_options(options)} ({problem})",
            hint="the plugin that provides it is broken; see 'rawdenoise plugins'",
        )
    plural = "s" if len(chosen) > 1 else ""
    hint = f"{spec.name}'s default options: {_format_options(defaults)}" if defaults else None
    return UsageError(
        f"invalid option{plural} for architecture {spec.name!r}: {_format_options(chosen)} "
        f"({problem})",
        hint=hint,
    )


def _format_options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_format_value(v)}" for k, v in options.items())


def _format_value(value: Any) -> str:
    """As the user would write it after ``--option KEY=``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _import_factory(spec: ArchitectureSpec, target: str | None = None) -> Any:
    target = target or spec.factory
    module_name, _, attr = target.partition(":")
    try:
        with plugin_code():
            obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise PluginError(
            f"architecture {spec.name!r}: cannot import {target}: {exc}",
            hint="is the plugin that provides it installed completely?",
        ) from exc
    except AttributeError as exc:
        raise PluginError(f"architecture {spec.name!r}: {target} not found: {exc}") from exc
    if not callable(obj):
        raise PluginError(f"architecture {spec.name!r}: {target} is not callable")
    return obj


def _accepted_options(factory: Any) -> list[str]:
    """Keyword names the factory takes ([] when it takes **kwargs or has no signature)."""
    import inspect

    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return []
    return [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    ]
