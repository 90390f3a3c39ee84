"""How ``rawdenoise models`` shows models: the list table and the fields of ``models info``."""

from __future__ import annotations

from typing import Any

from rawdenoise.cli._console import info, out_console


def format_ratio(ratio: Any) -> str:
    if not ratio:
        return "-"
    lo, hi = ratio
    return f"{lo:g}-{hi:g}"


def format_options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "-"


def _blend_text(blend: Any) -> str | None:
    if not blend:
        return None
    lo, hi = blend
    return (
        f"two weight sets: the first up to ratio {lo:g}, the second from {hi:g}, "
        "interpolated between (log ratio)"
    )


def show_list(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "architecture", "kind", "camera", "ratio", "size"):
        table.add_column(column)
    for row in rows:
        if "architecture" not in row:
            table.add_row(row["name"], f"unreadable: {row.get('error', '?')}", "", "", "", "")
            continue
        kind = row["kind"] + (f" ({row['branches']} branches)" if row["kind"] == "repnr" else "")
        if row.get("ratio_blend"):
            kind += f", blend {format_ratio(row['ratio_blend'])}"
        table.add_row(
            row["name"],
            f"{row['architecture']} ({format_options(row['options'])})",
            kind,
            row["camera"] or "-",
            format_ratio(row["ratio_range"]),
            f"{row['size_bytes'] / 1e6:.1f} MB",
        )
    out_console().print(table)


def show_info(row: dict[str, Any], model: str) -> None:
    from rawdenoise.cli._show import compact

    console = out_console()
    fields = (
        ("name", row.get("name")),
        ("path", row.get("path")),
        ("architecture", row.get("architecture")),
        ("options", format_options(row.get("options") or {})),
        ("kind", row.get("kind")),
        ("branches", row.get("branches") if row.get("kind") == "repnr" else None),
        ("camera", row.get("camera")),
        ("ratio range", format_ratio(row["ratio_range"]) if row.get("ratio_range") else None),
        ("ratio blend", _blend_text(row.get("ratio_blend"))),
        ("target exposure", row.get("target_exposure")),
        ("auto level", row.get("auto_level")),
        ("trained on", row.get("trained_on")),
        ("base model", row.get("base_model")),
        ("parameters", f"{row['parameters']:,}" if "parameters" in row else None),
        ("size", f"{row['size_bytes'] / 1e6:.1f} MB" if "size_bytes" in row else None),
        ("rawdenoise", row.get("rawdenoise_version")),
    )
    for label, value in fields:
        if value not in (None, ""):
            console.print(f"{label + ':':17}{value}", markup=False)
    for key, value in (row.get("extra") or {}).items():  # numbers to 4 digits, big lists summarized
        shown = compact(value) or "-"
        console.print(f"{key + ':':16} {shown}", markup=False, soft_wrap=True)
    if any(isinstance(v, (dict, list)) for v in (row.get("extra") or {}).values()):
        console.print(f"{'':17}(every value in full: rawdenoise models info {model} --json)")
    for note in row.get("notes") or ():
        console.print(f"{'note:':17}{note}", markup=False)


def show_imported(done: Any, source: Any, name: str) -> None:
    """What ``models import`` made (stdout), then its notes and where it went (stderr)."""
    row = done.row
    what = f"{row['architecture']} ({format_options(row['options'])}), {row['kind']}"
    if row["kind"] == "repnr":
        what += f" with {row['branches']} camera branches"
    out_console().print(f"imported {source} as {name!r}: {what}", markup=False, soft_wrap=True)
    for note in done.notes:
        info(f"  {note}")
    info(f"saved {done.target}")
