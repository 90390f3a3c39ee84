"""Noisy/clean pair lists: LED's ``NOISY CLEAN`` format, validation, and pairing a folder.

One job per module:

- :mod:`~rawdenoise.pairing.pair`: the validated :class:`Pair` and ISO classes.
- :mod:`~rawdenoise.pairing.listfile`: reading (tolerantly), formatting and writing pair lists.
- :mod:`~rawdenoise.pairing.frames`: decoding one RAW frame once for pairing.
- :mod:`~rawdenoise.pairing.similarity`: the content check (same scene, ratio from the data).
- :mod:`~rawdenoise.pairing.validate`: :func:`check_pair_list` and :func:`load_pairs`.
- :mod:`~rawdenoise.pairing.coverage`: ratio bins by ISO class and what to shoot.
- :mod:`~rawdenoise.pairing.grouping`: frames into scenes, pairs within a scene.
- :mod:`~rawdenoise.pairing.folder`: :func:`find_pairs` over a folder of captures.
"""

from rawdenoise.pairing.coverage import RATIO_BIN, RatioCoverage, ratio_coverage
from rawdenoise.pairing.folder import PairSearch, Skipped, find_pairs, list_raw_files
from rawdenoise.pairing.frames import Frame, read_frame
from rawdenoise.pairing.grouping import (
    DEFAULT_MAX_GAP,
    GROUP_BY,
    GroupBy,
    Scene,
    group_frames,
    natural_key,
    pair_scene,
)
from rawdenoise.pairing.listfile import (
    MAX_LISTED,
    PairEntry,
    format_pair_list,
    read_pair_list,
    write_pair_list,
)
from rawdenoise.pairing.pair import SAME_LEVEL, Pair, iso_class
from rawdenoise.pairing.similarity import (
    MAX_RATIO_MISMATCH,
    MIN_CORRELATION,
    THUMB_SIDE,
    Thumb,
    Verification,
    verify_pair,
)
from rawdenoise.pairing.validate import PairListCheck, check_pair_list, load_pairs

__all__ = [
    "DEFAULT_MAX_GAP",
    "GROUP_BY",
    "MAX_LISTED",
    "MAX_RATIO_MISMATCH",
    "MIN_CORRELATION",
    "RATIO_BIN",
    "SAME_LEVEL",
    "THUMB_SIDE",
    "Frame",
    "GroupBy",
    "Pair",
    "PairEntry",
    "PairListCheck",
    "PairSearch",
    "RatioCoverage",
    "Scene",
    "Skipped",
    "Thumb",
    "Verification",
    "check_pair_list",
    "find_pairs",
    "format_pair_list",
    "group_frames",
    "iso_class",
    "list_raw_files",
    "load_pairs",
    "natural_key",
    "pair_scene",
    "ratio_coverage",
    "read_frame",
    "read_pair_list",
    "verify_pair",
    "write_pair_list",
]
