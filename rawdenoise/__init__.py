"""rawdenoise: build a RAW denoiser for your own camera and clean up dark photos with it.

This module is imported by every command, including ``--help`` and shell completion, so it
must stay light: no torch, no rawpy, no numpy at import time. The public API below is
imported on first use (``rawdenoise.denoise_file`` loads :mod:`rawdenoise.api`, which loads
numpy; torch is loaded by the functions that run a network).

Public API (see the README's "Use from Python"):

- :func:`read_raw`, :func:`load_model`, :func:`denoise_file`, :func:`denoise_array`,
  :func:`write_output` (:class:`Denoised`): one file or array at a time;
- :func:`process` with :class:`ProcessOptions` and :class:`ProcessEvents`, returning a
  :class:`ProcessReport`: the batch job of ``rawdenoise process``;
- :class:`RawDenoiseError` (every error has a ``message``, ``hint`` and ``exit_code``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations (``@rawdenoise.hookimpl``).
hookimpl = pluggy.HookimplMarker("rawdenoise")

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "Denoised": "rawdenoise.api",
    "denoise_array": "rawdenoise.api",
    "denoise_file": "rawdenoise.api",
    "load_model": "rawdenoise.api",
    "read_raw": "rawdenoise.api",
    "write_output": "rawdenoise.api",
    "process": "rawdenoise.jobs.process",
    "ProcessEvents": "rawdenoise.jobs.process",
    "ProcessReport": "rawdenoise.jobs.process",
    "ProcessOptions": "rawdenoise.jobs.process_options",
    "RawDenoiseError": "rawdenoise.errors",
}

if TYPE_CHECKING:
    from rawdenoise.api import (
        Denoised,
        denoise_array,
        denoise_file,
        load_model,
        read_raw,
        write_output,
    )
    from rawdenoise.errors import RawDenoiseError
    from rawdenoise.jobs.process import ProcessEvents, ProcessReport, process
    from rawdenoise.jobs.process_options import ProcessOptions


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rawdenoise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Denoised",
    "ProcessEvents",
    "ProcessOptions",
    "ProcessReport",
    "RawDenoiseError",
    "__version__",
    "denoise_array",
    "denoise_file",
    "hookimpl",
    "load_model",
    "process",
    "read_raw",
    "write_output",
]
