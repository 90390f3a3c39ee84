"""Ratio coverage: LED wants, for each ratio, a low-ISO and a high-ISO pair; what is missing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rawdenoise.exposure import RatioPlan
    from rawdenoise.pairing.pair import Pair

#: Ratios within this factor (a third of a stop) of a bin's smallest ratio share the bin.
RATIO_BIN = 2 ** (1 / 3)


@dataclass(frozen=True)
class RatioCoverage:
    """Pairs whose ratios lie within a third of a stop, by the noisy frame's ISO class."""

    ratio: float  #: geometric mean of the bin's ratios
    ratios: tuple[float, ...]
    low_iso: tuple[float, ...]  #: noisy ISOs <= 500
    high_iso: tuple[float, ...]  #: noisy ISOs >= 3200
    other_iso: tuple[float, ...]
    plan: RatioPlan | None = None  #: what to shoot when incomplete (``ratio``'s capture plan)

    @property
    def complete(self) -> bool:
        return bool(self.low_iso) and bool(self.high_iso)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(
            label for label, isos in (("low", self.low_iso), ("high", self.high_iso)) if not isos
        )

    @property
    def label(self) -> str:
        return f"x{self.ratio:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "ratios": list(self.ratios),
            "pairs": len(self.ratios),
            "low_iso": list(self.low_iso),
            "high_iso": list(self.high_iso),
            "other_iso": list(self.other_iso),
            "complete": self.complete,
            "missing": list(self.missing),
            "plan": [s.to_dict() for s in self.plan.suggestions] if self.plan else [],
        }


def ratio_coverage(pairs: Sequence[Pair]) -> list[RatioCoverage]:
    """Bin ``pairs`` by ratio (third-stop bins) and say which ISO class each bin lacks."""
    from rawdenoise.exposure import Exposure, capture_plan

    bins: list[list[Pair]] = []
    for pair in sorted(pairs, key=lambda p: p.ratio):
        if bins and pair.ratio <= bins[-1][0].ratio * RATIO_BIN * (1 + 1e-9):
            bins[-1].append(pair)
        else:
            bins.append([pair])
    out = []
    for group in bins:
        ratios = tuple(p.ratio for p in group)
        mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        low = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "low"}))
        high = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "high"}))
        other = tuple(sorted({p.noisy_iso for p in group if p.iso_class == "mid"}))
        plan = None
        if not (low and high):
            # Plan from the pair closest to the bin's centre: the other ISO class, same level.
            ref = min(group, key=lambda p: abs(math.log(p.ratio / mean)))
            plan = capture_plan(
                Exposure(ref.clean_iso, ref.clean_exposure),
                Exposure(ref.noisy_iso, ref.noisy_exposure),
            )
        out.append(RatioCoverage(mean, ratios, low, high, other, plan))
    return out
