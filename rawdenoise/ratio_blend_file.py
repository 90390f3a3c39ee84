"""Writing a model blended by ratio (:mod:`rawdenoise.ratio_blend`) from two model files."""

from __future__ import annotations

from pathlib import Path

from rawdenoise.errors import UsageError
from rawdenoise.ratio_blend import HIGH_PREFIX, check_range


def write_blend(
    low_model: str | Path,
    high_model: str | Path,
    low: float,
    high: float,
    out: Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a blend model: ``low_model``'s weights up to ratio ``low``, ``high_model``'s from
    ``high``. Both must be the same architecture with the same options and, for RepNR state,
    the same camera branches (two trainings from one start). The metadata is ``low_model``'s
    with the ratio range widened to cover both and ``ratio_blend`` set."""
    from dataclasses import replace

    from rawdenoise.model_file import save_model
    from rawdenoise.weights import load_model

    lo, hi = check_range(low, high)
    first, second = load_model(low_model), load_model(high_model)
    for model in (first, second):
        if model.blend is not None:
            raise UsageError(f"{model.path.name} is a blend already: blend plain models")
    a = first.repnr if first.repnr is not None else first.network
    b = second.repnr if second.repnr is not None else second.network
    sa, sb = a.state_dict(), b.state_dict()
    same = (
        first.spec.name == second.spec.name
        and dict(first.info.options) == dict(second.info.options)
        and sa.keys() == sb.keys()
        and all(sa[k].shape == sb[k].shape for k in sa)
    )
    if not same:
        raise UsageError(
            f"{first.path.name} and {second.path.name} are not the same network",
            hint="blend two trainings of one architecture, options and camera branches",
        )
    ranges = [r for r in (first.info.ratio_range, second.info.ratio_range) if r is not None]
    ratio_range = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None
    info = replace(
        first.info,
        name=name if name is not None else first.info.name,
        ratio_range=ratio_range,
        ratio_blend=(lo, hi),
        base_model=f"{first.path.stem} (ratios up to {lo:g}) + {second.path.stem} (from {hi:g})",
    )
    high_set = {HIGH_PREFIX + k: v for k, v in sb.items()}
    return save_model(out, a, info, overwrite=overwrite, more_tensors=high_set)
