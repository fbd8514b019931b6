"""Building blocks of the self-contained HTML pages (``sf fiche``, ``sf report``).

A page is one HTML file with inline CSS and inline SVG charts: it opens without network
access, prints on A4 (charts never split across pages, black text, colours that stay
distinct in greyscale thanks to line styles and markers), and contains no script.

Charts are matplotlib figures drawn with the Agg backend (no display needed) and embedded
as SVG text (``svg.fonttype = "path"``: glyphs are outlines, so no font has to be installed
where the page is opened).

Failure modes: none of its own; matplotlib errors propagate.
"""

from __future__ import annotations

import html
import io
import re
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: pages are rendered on servers without a display

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Colours of the alert levels, used by both pages (red / orange / grey).
ALERT_COLOURS: dict[str, str] = {"high": "#c0392b", "moderate": "#e67e22", "none": "#7f8c8d"}
ALERT_LABELS: dict[str, str] = {"high": "alerte forte", "moderate": "alerte modérée", "none": "pas d'alerte"}

_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #111; margin: 24px auto;
       max-width: 1100px; line-height: 1.35; font-size: 14px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 2px solid #333;
     margin-top: 28px; padding-bottom: 2px; } h3 { font-size: 15px; margin: 14px 0 4px; }
.sub { color: #444; margin-top: 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #999; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 10px 0 18px; page-break-inside: avoid; break-inside: avoid; }
figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: #333; margin-top: 2px; }
.note { background: #f6f6f6; border-left: 4px solid #888; padding: 6px 10px; margin: 8px 0; }
.warn { background: #fff4e5; border-left: 4px solid #e67e22; padding: 6px 10px; margin: 8px 0; }
.bad { background: #fdecea; border-left: 4px solid #c0392b; padding: 6px 10px; margin: 8px 0; }
.alert-high { color: #c0392b; font-weight: bold; } .alert-moderate { color: #b35900; font-weight: bold; }
.keyfacts li { margin: 2px 0; }
footer { margin-top: 30px; font-size: 11px; color: #555; }
@media print { body { margin: 0; max-width: none; font-size: 11pt; } h2 { page-break-after: avoid; }
               table { page-break-inside: auto; } tr { page-break-inside: avoid; } }
"""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text; None and NaN as an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value))


def fmt_number(value: Any, digits: int = 0) -> str:
    """``12 345`` (thin spaces as thousands separator, French style); empty for missing."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    text = f"{number:,.{digits}f}".replace(",", "\u202f")
    return text.replace(".", ",") if digits else text


def fmt_date(value: Any) -> str:
    """ISO date (``2024-01-31``) of a datetime/date/Timestamp; empty for missing."""
    if value is None:
        return ""
    if hasattr(value, "to_pydatetime"):
        try:
            value = value.to_pydatetime()
        except (TypeError, ValueError):  # NaT
            return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def new_figure(height: float = 3.2, width: float = 10.0) -> tuple[Figure, Any]:
    """A figure with one axes, sized for a page width (inches), light grid, no top/right spines."""
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    style_axes(ax)
    return fig, ax


def _tick(value: float, _position: Any = None) -> str:
    if value == int(value):
        return fmt_number(value)
    return fmt_number(value, 1 if abs(value) >= 1 else 2)


def style_axes(ax: Any) -> None:
    """Readable in print: light grid, no top/right frame, tick labels of 9 pt, numbers with
    thousands separators."""
    ax.yaxis.set_major_formatter(FuncFormatter(_tick))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def date_axis(ax: Any) -> None:
    """Concise month/year ticks on the x axis (at most about 8), readable once printed."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def svg_of(fig: Figure) -> str:
    """The figure as inline SVG markup (the XML prologue and DOCTYPE removed)."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "sf"}):
        fig.tight_layout()
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    # The RDF metadata block (creation date, tool) names RDF namespaces by URL and changes at
    # every run; the page needs neither.
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)


def figure_html(fig: Figure | None, caption: str, chart_id: str) -> str:
    """A ``<figure class="chart">`` holding the SVG of ``fig`` and its caption; nothing (``""``)
    when there is no figure (a chart function returns None when it has no data to draw)."""
    if fig is None:
        return ""
    return (f'<figure class="chart" id="{esc(chart_id)}">{svg_of(fig)}'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def table_html(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], numeric: Iterable[int] = (),
               raw: Iterable[int] = ()) -> str:
    """An HTML table (no header row when ``headers`` is None); cells are escaped except the
    columns in ``raw`` (already HTML); columns in ``numeric`` are right-aligned."""
    numeric, raw = set(numeric), set(raw)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers or ())
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell) if i in raw else esc(cell)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def alert_badge(level: Any) -> str:
    """HTML of an alert level (``high``/``moderate``/None) in words, coloured."""
    if level in ("high", "moderate"):
        return f'<span class="alert-{level}">{esc(ALERT_LABELS[level])}</span>'
    return esc(ALERT_LABELS["none"])


def page_html(title: str, body: str, generated: str) -> str:
    """The whole page: inline CSS, ``body`` and a footer line ``generated``."""
    return ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>{body}"
            f"<footer>{esc(generated)}</footer></body></html>\n")
