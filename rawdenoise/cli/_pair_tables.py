"""The tables of ``rawdenoise pair``: pairs, and ISO coverage per ratio with what to shoot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from rawdenoise.pairing import Pair, RatioCoverage


def rel(path: Path, base: Path) -> str:
    from rawdenoise.pairing.listfile import shown_name

    try:
        return shown_name(path.relative_to(base).as_posix())
    except ValueError:
        return shown_name(str(path))


def pairs_table(pairs: list[Pair], base: Path, *, by: str):
    from rich.table import Table

    from rawdenoise.exposure import format_shutter

    table = Table(title=f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''}", title_justify="left")
    table.add_column(by, justify="right")
    for name in ("noisy", "clean"):
        table.add_column(name, overflow="fold")  # a path is folded, never cut
    table.add_column("ratio", justify="right")
    table.add_column("noisy ISO x time", justify="right")
    table.add_column("clean ISO x time", justify="right")
    table.add_column("match", justify="right")
    for p in pairs:
        where = p.scene if by == "scene" else p.line
        table.add_row(
            str(where if where is not None else ""),
            rel(p.noisy, base),
            rel(p.clean, base),
            f"{p.ratio:.4g}",
            f"{p.noisy_iso:g} x {format_shutter(p.noisy_exposure)}",
            f"{p.clean_iso:g} x {format_shutter(p.clean_exposure)}",
            "" if p.similarity is None else f"{p.similarity:.2f}",
        )
    return table


def _coverage_table(coverage: list[RatioCoverage]):
    from rich.table import Table

    from rawdenoise.exposure import HIGH_ISO_MIN, LOW_ISO_MAX

    table = Table(
        title="ISO coverage per ratio (LED wants a low- and a high-ISO pair at each ratio)",
        title_justify="left",
    )
    table.add_column("ratio", justify="right")
    table.add_column(f"low ISO (<= {LOW_ISO_MAX})")
    table.add_column(f"high ISO (>= {HIGH_ISO_MIN})")
    table.add_column("other ISO")
    table.add_column("status")
    for c in coverage:
        table.add_row(
            c.label,
            ", ".join(f"{i:g}" for i in c.low_iso) or "-",
            ", ".join(f"{i:g}" for i in c.high_iso) or "-",
            ", ".join(f"{i:g}" for i in c.other_iso) or "-",
            "complete" if c.complete else f"needs a {' and a '.join(c.missing)}-ISO pair",
        )
    return table


def print_coverage(console: Console, coverage: list[RatioCoverage]) -> None:
    """The coverage table, then what to shoot for each incomplete ratio (one line each)."""
    from rawdenoise.exposure import format_shutter

    console.print(_coverage_table(coverage))
    for c in coverage:
        if c.complete or c.plan is None:
            continue
        bright = c.plan.bright
        for shot in c.plan.suggestions:
            console.print(
                f"to complete {c.label}: {shot.describe()}, paired with a clean frame at "
                f"ISO {bright.iso:g} x {format_shutter(bright.seconds)}",
                markup=False,
                soft_wrap=True,
            )
