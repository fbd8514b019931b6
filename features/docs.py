"""README section listing every Features variable, generated from the catalogue."""

from __future__ import annotations

from .catalogue import CATALOGUE


def variables_markdown() -> str:
    """Markdown table (one line per variable of :data:`CATALOGUE`, in catalogue order)."""
    lines = [
        "| name | meaning | unit | source | look-back | type | theme |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in CATALOGUE:
        cells = [f"`{v.name}`", v.meaning, v.unit, v.source, v.lookback, v.dtype, v.theme or v.role]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
