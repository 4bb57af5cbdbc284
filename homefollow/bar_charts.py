"""Horizontal bar charts as plain, accessible SVG, for figures (before/after, per rule, per team).

Pure, like homefollow.charts (same sizes, colours, escaping and reasons for hand-written SVG):
every bar has its label in text on the left and its value in text at its end, so nothing is
told by colour or length alone; <title> and <desc> (which lists every bar) name the chart for
assistive technology, and the page shows the same figures in a table under each chart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from .charts import AXIS, FONT_FAMILY, TEXT, _n, _text, _text_width

BAR = "#005b96"  # 7:1 against white
REFERENCE = "#a4001d"
FONT_PX = 16
LABEL_CHARS = 40  # longer labels are cut with "…"; the full text is in <desc> and the table


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing to show (no patients behind it)
    text: str  # the value in words, written at the end of the bar


def render_bars(bars: Sequence[Bar], *, title: str, id_prefix: str, description: str | None = None,
                reference: tuple[float, str] | None = None, bar_width: int = 320) -> Markup:
    """Bars from zero, one row each. `reference` draws a labelled vertical line (a benchmark).

    Drawn at its natural size in CSS pixels (text 16 px), as wide as its labels need, and scaled
    down only to fit a narrow screen (CSS max-width: 100%)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", id_prefix):
        raise ValueError("id_prefix must be a simple XML id")
    u, font = 1.0, float(FONT_PX)
    row = 2.2 * font
    top = 2.0 * font if reference else 0.5 * font
    height = top + row * max(len(bars), 1) + 0.5 * font
    labels = [_short(b.label) for b in bars]
    label_w = max((_text_width(label, font) for label in labels), default=0) + 0.8 * font
    text_w = max((_text_width(b.text, font) for b in bars), default=0) + 0.8 * font
    left, right = label_w, label_w + bar_width
    width = right + text_w
    scale_max = max([b.value for b in bars if b.value is not None] + ([reference[0]] if reference else []) + [0])

    def x(value: float) -> float:
        return left + (right - left) * (value / scale_max if scale_max else 0)

    listed = "; ".join(f"{b.label}: {b.text}" for b in bars)
    desc = " ".join(p for p in (description, f"{listed}." if listed else "") if p)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" focusable="false" '
        f'class="chart-bars" font-family="{_text(FONT_FAMILY)}" font-size="{_n(font)}" fill="{TEXT}">',
        f'<title id="{id_prefix}-title">{_text(title)}</title>',
        f'<desc id="{id_prefix}-desc">{_text(desc)}</desc>',
        f'<line x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(height - 0.6 * font)}" stroke="{AXIS}" '
        f'stroke-width="{_n(u)}"/>',
    ]
    for i, b in enumerate(bars):
        y = top + i * row
        middle = y + row / 2
        out.append(f'<text x="{_n(left - 0.4 * font)}" y="{_n(middle)}" text-anchor="end" '
                   f'dominant-baseline="central">{_text(labels[i])}</text>')
        end = left
        if b.value is not None and b.value > 0:
            end = x(b.value)
            out.append(f'<rect x="{_n(left)}" y="{_n(y + 0.3 * font)}" width="{_n(end - left)}" '
                       f'height="{_n(row - 0.6 * font)}" fill="{BAR}"/>')
        out.append(f'<text x="{_n(end + 0.4 * font)}" y="{_n(middle)}" dominant-baseline="central">'
                   f'{_text(b.text)}</text>')
    if reference:
        rx = x(reference[0])
        out.append(f'<line x1="{_n(rx)}" y1="{_n(top - 0.2 * font)}" x2="{_n(rx)}" y2="{_n(height - 0.6 * font)}" '
                   f'stroke="{REFERENCE}" stroke-width="{_n(2 * u)}" stroke-dasharray="{_n(6 * u)} {_n(4 * u)}"/>')
        out.append(f'<text x="{_n(rx)}" y="{_n(1.2 * font)}" text-anchor="middle" '
                   f'fill="{REFERENCE}">{_text(reference[1])}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
