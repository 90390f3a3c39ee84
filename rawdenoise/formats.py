"""The output formats of ``process`` and :func:`rawdenoise.write_output`: names, other
spellings, file extensions (no heavy import: the options are checked before numpy loads)."""

from __future__ import annotations

#: output formats and their file extensions
EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "dng": ".dng"}
#: other spellings of a format
FORMAT_ALIASES = {"tif": "tiff", "jpg": "jpeg"}
