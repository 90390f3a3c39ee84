"""rawdenoise: build a RAW denoiser for your own camera and clean up dark photos with it.

This module is imported by every command, including ``--help`` and shell completion, so it
must stay light: no torch, no rawpy, no numpy at import time.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations (``@rawdenoise.hookimpl``).
hookimpl = pluggy.HookimplMarker("rawdenoise")

__all__ = ["__version__", "hookimpl"]
