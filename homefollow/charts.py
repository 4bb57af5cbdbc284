"""Measurement history as plain, accessible SVG line charts — and the matching table rows.

Pure: no Flask, no database, no clock, no JavaScript. The caller passes the readings, the
period, the patient's time zone and locale, and the plan's limits; the result is
`markupsafe.Markup` ready for a Jinja template.

Why hand-written SVG: a chart here is a few rectangles, one or two polylines and some
markers. Charting libraries produce heavy SVG with inline styles (blocked by our Content
Security Policy, `style-src 'self'`) and no text alternative. So this module uses SVG
presentation attributes only (fill=, stroke=, font-size=) and escapes every text it writes.

Sizes: the SVG is drawn in a viewBox `width` units wide and scales to its container
(width="100%"). All sizes are multiples of `u = width / 320`, one CSS pixel when the chart
is shown 320 px wide — a 360 px phone minus the page's side padding. Text is 20u, so it is
at least 20 px — the patient portal's body text — whenever the chart is at least 320 px wide,
and grows on larger screens (issue 20: 14 px axis text beside 20 px body text was too small).
The plot keeps room on the right (RIGHT_PAD_EM): the newest reading, drawn at the end of the
period, and its zone rings are never cut off by the edge of the SVG.

Zones are never shown by colour alone: a reading in the yellow zone gets a ring round its
marker, one in the red zone a double ring, and every marker's <title> says the zone in words.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from rules.measurements import CATALOGUE
from rules.text import clock, day, moment, number, value_with_unit
from rules.zones import Zone, ZoneLimits, classify, zone_word

__all__ = ["Point", "Series", "Cell", "SummaryRow", "render_chart", "summary_rows", "series_labels"]

# Colours from homefollow.css. Lines, markers and rings have at least 3:1 contrast against
# white and every band background (WCAG 1.4.11); a test checks this.
TEXT = "#1b1b1b"
AXIS = "#4a4a4a"
GRID = "#d0d0d0"  # decorative only
BAND_FILL = {"green": "#e3f4e7", "yellow": "#fff3c4", "red": "#fde8ea"}
ZONE_EDGE = {"green": "#1e6b34", "yellow": "#8a6100", "red": "#a4001d"}

MIN_RENDERED_WIDTH = 320  # CSS px, see the module docstring
MIN_TEXT_PX = 20  # the patient portal's body text (html font-size 125 %)
RIGHT_PAD_EM = 1.5  # room right of the plot, in text heights: a red point's double ring fits
FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif'


@dataclass(frozen=True)
class _Style:
    colour: str
    marker: str  # "circle" or "square"
    dashed: bool


# Series differ by marker shape and line pattern, not only by colour.
STYLES = (_Style("#005b96", "circle", False), _Style(TEXT, "square", True))


@dataclass(frozen=True)
class Point:
    at: datetime  # aware; drawn on the time axis in UTC, labelled in the patient's time zone
    value: float
    zone: str | None = None  # "green", "yellow", "red" as stored with the report, or None


@dataclass(frozen=True)
class Series:
    code: str  # a rules.measurements.CATALOGUE code
    points: Sequence[Point]
    label: str | None = None  # defaults to the catalogue name in the locale


_WORDS = {
    "nb": {
        "empty": "Ingen målinger i perioden",
        "reading": ("måling", "målinger"),
        "period": "Perioden {start} til {end}.",
        "summary": "{label}: {count}. Siste {value}, {when}. Lavest {low}, høyest {high}.",
        "zones": "{yellow} i gul sone, {red} i rød sone.",
        "marks": "Målinger i gul sone har én ring rundt seg, i rød sone to ringer.",
        "bands": "Fargede felt viser de personlige grensene for {name}: {limits}.",
        "lines": "Linjene viser de personlige grensene for {name}: {limits}.",
        "below": "{zone} under {value}",
        "above": "{zone} over {value}",
        "zone": "{zone} sone",
    },
    "en": {
        "empty": "No measurements in this period",
        "reading": ("reading", "readings"),
        "period": "Period {start} to {end}.",
        "summary": "{label}: {count}. Latest {value}, {when}. Lowest {low}, highest {high}.",
        "zones": "{yellow} in the yellow zone, {red} in the red zone.",
        "marks": "Readings in the yellow zone have one ring round them, in the red zone two rings.",
        "bands": "Coloured areas show the personal limits for {name}: {limits}.",
        "lines": "The lines show the personal limits for {name}: {limits}.",
        "below": "{zone} below {value}",
        "above": "{zone} above {value}",
        "zone": "{zone} zone",
    },
}


def _lang(locale: str) -> str:
    return "nb" if str(locale).startswith("nb") else "en"


def _words(locale: str) -> dict:
    return _WORDS[_lang(locale)]


# --------------------------------------------------------------------------------------------
# Public helpers shared by the chart and the table alternative


def series_labels(series: Sequence[Series], locale: str) -> list[str]:
    """Column headings / legend texts: the series' own label or the catalogue name."""
    return [s.label or CATALOGUE[s.code].name(locale) for s in series]


@dataclass(frozen=True)
class Cell:
    code: str
    label: str
    value: float
    text: str  # "38,5 °C"
    zone: str | None
    zone_text: str  # "gul sone" / "yellow zone", "" without a zone


@dataclass(frozen=True)
class SummaryRow:
    at: datetime  # UTC
    date: str  # "29. mars" in the patient's time zone
    time: str  # "08:00"
    when: str  # "29. mars 08:00"
    cells: tuple[Cell | None, ...]  # one per series, in series order; None when not measured
    zone: str | None  # the worst zone of the row's cells
    zone_text: str


def summary_rows(
    series: Sequence[Series],
    *,
    tz: str,
    locale: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[SummaryRow]:
    """Rows for the table next to the chart, newest first, one row per time of reading.

    Blood pressure's two series share a row because their readings share a time. Pass the
    chart's `start`/`end` so the table lists exactly the readings the chart draws.
    """
    _check_series(series)
    labels = series_labels(series, locale)
    by_time: dict[datetime, list[list[Cell | None]]] = {}
    for i, s in enumerate(series):
        for p in _in_period(s.points, start, end):
            zone = _zone(p.zone)
            cell = Cell(s.code, labels[i], p.value, value_with_unit(s.code, p.value, locale),
                        zone, _zone_text(zone, locale))
            same_time = by_time.setdefault(_utc(p.at), [])
            # Two readings of one series at the same instant get a row each: none is lost.
            row = next((r for r in same_time if r[i] is None), None)
            if row is None:
                row = [None] * len(series)
                same_time.append(row)
            row[i] = cell
    rows = []
    for at in sorted(by_time, reverse=True):
        for cells in by_time[at]:
            worst = Zone.worst(Zone(c.zone) for c in cells if c is not None and c.zone is not None)
            zone = worst.value if worst else None
            rows.append(SummaryRow(at, day(at, tz, locale), clock(at, tz, locale), moment(at, tz, locale),
                                   tuple(cells), zone, _zone_text(zone, locale)))
    return rows


# --------------------------------------------------------------------------------------------
# The chart


def render_chart(
    series: Sequence[Series],
    *,
    start: datetime,
    end: datetime,
    tz: str,
    locale: str,
    title: str,
    id_prefix: str,
    limits: Mapping[str, ZoneLimits] | None = None,
    description: str | None = None,
    width: int = 640,
    height: int = 400,
) -> Markup:
    """One measurement's history over [start, end] as an SVG line chart.

    `series` is one series, or two for blood pressure (systolic first). Readings outside the
    period are left out. `limits` maps codes to the plan's limits; the bands are drawn for the
    systolic pressure when it is charted, otherwise for the first series. `id_prefix` must be
    unique on the page (it names the <title> and <desc> for aria-labelledby). `height` is the
    height without the legend; a legend adds rows below the unit line.
    """
    _check_series(series)
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("start and end must be aware datetimes with start < end")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", id_prefix):
        raise ValueError("id_prefix must be a simple XML id")
    if width < 160 or height < 120:
        raise ValueError("chart too small")
    ZoneInfo(tz)  # fail early on an unknown time zone

    u = width / MIN_RENDERED_WIDTH
    font = MIN_TEXT_PX * u
    pts = [sorted(_in_period(s.points, start, end), key=lambda p: _utc(p.at)) for s in series]
    labels = series_labels(series, locale)
    band_code = "bp_systolic" if any(s.code == "bp_systolic" for s in series) else series[0].code
    band_limits = (limits or {}).get(band_code)
    if band_limits is not None and band_limits.is_empty:
        band_limits = None
    # A chart of two values (blood pressure) on one axis: filled zones could only be the
    # systolic ones, and a normal diastolic value would then sit in a red field. Its limits are
    # drawn as lines only.
    filled = len({s.code for s in series}) == 1

    empty = _words(locale)["empty"]
    desc = (_description(series, pts, labels, band_code, band_limits, start, end, tz, locale, filled)
            if any(pts) else f"{empty}.")
    if description:
        desc = f"{description} {desc}"

    legend = _legend_items(pts, labels, locale, len(series) > 1)
    legend_rows = _flow(legend, width, font)
    top = 2.0 * font + len({row for row, _ in legend_rows}) * 1.6 * font
    total_h = height + (top - 2.0 * font)
    plot_top, plot_bottom = top, total_h - 2.0 * font

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-labelledby="{id_prefix}-title {id_prefix}-desc" viewBox="0 0 {_n(width)} {_n(total_h)}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" focusable="false" class="chart" '
        f'font-family="{_attr(FONT_FAMILY)}" font-size="{_n(font)}" fill="{TEXT}">',
        f'<title id="{id_prefix}-title">{_text(title)}</title>',
        f'<desc id="{id_prefix}-desc">{_text(desc)}</desc>',
        f'<text class="chart-unit" x="{_n(0.2 * font)}" y="{_n(1.2 * font)}">'
        f"{_text(_capitalised(CATALOGUE[series[0].code].unit_words(locale)))}</text>",
    ]
    if not any(pts):
        out.append(_empty(width, plot_top, plot_bottom, font, u, empty))
        out.append("</svg>")
        return Markup("\n".join(out))

    values = [p.value for ps in pts for p in ps] + _limit_values(band_limits)
    max_ticks = max(2, int((plot_bottom - plot_top) // (1.4 * font)) + 1)
    ticks, y0, y1, decimals = _value_axis(values, band_code, max_ticks)
    tick_labels = [number(float(t), decimals, locale) for t in ticks]
    left = max(_text_width(t, font) for t in tick_labels) + 0.6 * font
    frame = _Frame(left, plot_top, width - RIGHT_PAD_EM * font, plot_bottom,
                   _utc(start).timestamp(), _utc(end).timestamp(), y0, y1)

    out.append(_bands(frame, band_code, band_limits, u, filled))
    out.append(_value_ticks(frame, ticks, tick_labels, font, u))
    out.append(_time_ticks(frame, width, tz, locale, font, u))
    out.append(_legend(legend, legend_rows, font, u))
    radius = _marker_radius(sum(len(ps) for ps in pts), frame.right - frame.left, u)
    for i, (s, ps) in enumerate(zip(series, pts, strict=True)):
        out.append(_series(frame, s.code, ps, labels[i], STYLES[i], radius, tz, locale, u))
    out.append("</svg>")
    return Markup("\n".join(out))


# --------------------------------------------------------------------------------------------
# Input


def _check_series(series: Sequence[Series]) -> None:
    if not 1 <= len(series) <= len(STYLES):
        raise ValueError(f"a chart has 1 to {len(STYLES)} series")
    for s in series:
        if s.code not in CATALOGUE:
            raise ValueError(f"unknown measurement code {s.code!r}")
        for p in s.points:
            if p.at.tzinfo is None:
                raise ValueError("point times must be aware datetimes")
            if not math.isfinite(p.value):
                raise ValueError("point values must be finite numbers")
            _zone(p.zone)


def _utc(at: datetime) -> datetime:
    return at.astimezone(ZoneInfo("UTC"))


def _in_period(points: Sequence[Point], start: datetime | None, end: datetime | None) -> list[Point]:
    return [p for p in points if (start is None or p.at >= start) and (end is None or p.at <= end)]


def _zone(zone) -> str | None:
    return None if zone is None else Zone(zone).value  # raises on anything but the three zones


def _zone_text(zone: str | None, locale: str) -> str:
    return _words(locale)["zone"].format(zone=zone_word(Zone(zone), locale)) if zone else ""


def _limit_values(limits: ZoneLimits | None) -> list[float]:
    if limits is None:
        return []
    return [v for v in (limits.red_low, limits.yellow_low, limits.yellow_high, limits.red_high) if v is not None]


# --------------------------------------------------------------------------------------------
# Scales


@dataclass(frozen=True)
class _Frame:
    """The plot area in viewBox units and the data ranges it maps."""

    left: float
    top: float
    right: float
    bottom: float
    t0: float  # POSIX seconds
    t1: float
    y0: float
    y1: float

    def x(self, at: datetime) -> float:
        return self.left + (at.timestamp() - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _nice_steps() -> Iterator[Decimal]:
    for exponent in range(-2, 5):
        for mantissa in ("1", "2", "2.5", "5"):
            yield Decimal(mantissa).scaleb(exponent)


def _value_axis(values: list[float], code: str, max_ticks: int) -> tuple[list[Decimal], float, float, int]:
    """A value range holding every reading and limit with some room, and round ticks in it.

    Decimal arithmetic keeps the ticks exact (37.5, not 37.49999), so labels are stable.
    """
    m = CATALOGUE[code]
    low, high = min(values), max(values)
    min_span = 10.0 ** (1 - m.decimals)  # 10 mmHg, 1 °C: a flat series is not blown up
    if high - low < min_span:
        mid = (low + high) / 2
        low, high = mid - min_span / 2, mid + min_span / 2
    pad = (high - low) * 0.08
    # No axis beyond what the measurement can be (no "105 %" oxygen), but never cut a reading.
    y0 = max(low - pad, min(m.plausible_min, min(values)))
    y1 = min(high + pad, max(m.plausible_max, max(values)))
    lo, hi = Decimal(repr(y0)), Decimal(repr(y1))
    resolution = Decimal(1).scaleb(-m.decimals)
    chosen: tuple[Decimal, list[Decimal]] | None = None
    for step in _nice_steps():
        if step % resolution:
            continue  # no "97,5 %" ticks for a measurement read in whole per cent
        first = int((lo / step).to_integral_value(ROUND_CEILING))
        last = int((hi / step).to_integral_value(ROUND_FLOOR))
        ticks = [k * step for k in range(first, last + 1)]
        if len(ticks) < 2 and chosen:
            break  # one tick too many beats a lone tick that shows no scale
        chosen = (step, ticks)
        if len(ticks) <= max_ticks:
            break
    assert chosen is not None, "the coarser steps are whole multiples of any resolution"
    step, ticks = chosen
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int), "a step is a finite number"
    decimals = max(0, -exponent)
    return ticks, y0, y1, decimals


def _time_ticks_at(start: datetime, end: datetime, tz: str, kind: str, step: int) -> list[datetime]:
    """Local midnights in [start, end]: every `step` days, Mondays, or first days of months."""
    zone = ZoneInfo(tz)
    first = d = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    out = []
    while d <= last:
        wanted = {
            "day": (d - first).days % step == 0,
            "week": d.weekday() == 0 and (d.toordinal() // 7) % step == 0,
            "month": d.day == 1 and (d.month - 1) % step == 0,
        }[kind]
        if wanted:
            midnight = datetime.combine(d, time(0), zone)  # local midnight, right across DST
            if start <= midnight <= end:
                out.append(midnight)
        d += timedelta(days=1)
    return out


_TIME_STEPS = (("day", 1), ("day", 2), ("day", 3), ("week", 1), ("week", 2), ("month", 1), ("month", 3))


def _text_width(text: str, font: float) -> float:
    """A generous estimate (0.6 em per character) so labels never collide."""
    return len(text) * 0.6 * font


def _n(x: float) -> str:
    """Coordinates with one decimal: compact and identical from run to run."""
    s = f"{round(x, 1) + 0.0:.1f}"
    return s[:-2] if s.endswith(".0") else s


# --------------------------------------------------------------------------------------------
# Drawing


def _bands(f: _Frame, code: str, limits: ZoneLimits | None, u: float, filled: bool = True) -> str:
    """Zone bands behind the data. Each band's zone is what rules.zones.classify gives inside
    it, so bands and stored zones follow the same (strict) limits; a missing limit simply
    leaves that side without its band. `filled=False`: the limit lines only."""
    if limits is None:
        return ""
    edges = sorted({f.y0, f.y1, *(v for v in _limit_values(limits) if f.y0 < v < f.y1)})
    parts = ['<g class="chart-bands">']
    for low, high in itertools.pairwise(edges) if filled else ():
        found = classify(code, (low + high) / 2, limits)
        assert found is not None, "limits here are not empty (render gives None for empty ones)"
        zone = found.zone.value
        parts.append(f'<rect class="chart-band chart-band--{zone}" x="{_n(f.left)}" y="{_n(f.y(high))}" '
                     f'width="{_n(f.right - f.left)}" height="{_n(f.y(low) - f.y(high))}" fill="{BAND_FILL[zone]}"/>')
    # The limits as thin lines, so the band edges stay visible where the pale fills are not.
    for name in ("red_low", "yellow_low", "yellow_high", "red_high"):
        v = getattr(limits, name)
        if v is not None and f.y0 <= v <= f.y1:
            parts.append(f'<line class="chart-limit chart-limit--{name.replace("_", "-")}" x1="{_n(f.left)}" '
                         f'x2="{_n(f.right)}" y1="{_n(f.y(v))}" y2="{_n(f.y(v))}" '
                         f'stroke="{ZONE_EDGE[name.split("_")[0]]}" stroke-width="{_n(u)}"/>')
    parts.append("</g>")
    return "\n".join(parts)


def _value_ticks(f: _Frame, ticks: list[Decimal], labels: list[str], font: float, u: float) -> str:
    parts = ['<g class="chart-y-axis">']
    for t, label in zip(ticks, labels, strict=True):
        y = f.y(float(t))
        parts.append(f'<line x1="{_n(f.left)}" x2="{_n(f.right)}" y1="{_n(y)}" y2="{_n(y)}" '
                     f'stroke="{GRID}" stroke-width="{_n(u)}"/>')
        parts.append(f'<text x="{_n(f.left - 0.3 * font)}" y="{_n(y + 0.35 * font)}" '
                     f'text-anchor="end">{_text(label)}</text>')
    parts.append(f'<rect class="chart-plot" x="{_n(f.left)}" y="{_n(f.top)}" width="{_n(f.right - f.left)}" '
                 f'height="{_n(f.bottom - f.top)}" fill="none" stroke="{AXIS}" stroke-width="{_n(u)}"/>')
    parts.append("</g>")
    return "\n".join(parts)


def _time_ticks(f: _Frame, width: float, tz: str, locale: str, font: float, u: float) -> str:
    """Date ticks at local midnights, as dense as the labels allow without overlapping."""
    start = datetime.fromtimestamp(f.t0, ZoneInfo("UTC"))
    end = datetime.fromtimestamp(f.t1, ZoneInfo("UTC"))
    chosen: list[tuple[datetime, str]] = []
    for kind, step in _TIME_STEPS:
        ticks = [(t, _month(t, tz, locale) if kind == "month" else day(t, tz, locale))
                 for t in _time_ticks_at(start, end, tz, kind, step)]
        chosen = ticks
        widest = max((_text_width(label, font) for _, label in ticks), default=0)
        gaps = [f.x(b) - f.x(a) for (a, _), (b, _) in itertools.pairwise(ticks)]
        if all(g >= widest + 0.6 * font for g in gaps):
            break
    parts = ['<g class="chart-x-axis">']
    for at, label in chosen:
        x = f.x(at)
        half = _text_width(label, font) / 2
        tx = min(max(x, half), width - half)  # keep the first and last labels inside the SVG
        parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(f.top)}" y2="{_n(f.bottom + 0.3 * font)}" '
                     f'stroke="{GRID}" stroke-width="{_n(u)}"/>')
        parts.append(f'<text x="{_n(tx)}" y="{_n(f.bottom + 1.4 * font)}" text-anchor="middle">{_text(label)}</text>')
    parts.append("</g>")
    return "\n".join(parts)


def _month(at: datetime, tz: str, locale: str) -> str:
    """A month tick's label, the month's short name ("feb.", "Feb"): a first of the month needs
    no day number, and the short name leaves room for text at body size on a phone."""
    from babel.dates import format_date

    return format_date(at.astimezone(ZoneInfo(tz)).date(), "MMM", locale=_lang(locale))


def _marker_radius(count: int, plot_width: float, u: float) -> float:
    """5 px markers, a little smaller when 90 days of readings would make a solid smear."""
    if count <= 1:
        return 5 * u
    return max(2.5 * u, min(5 * u, plot_width / count))


def _marker(shape: str, x: float, y: float, r: float, fill: str, stroke: str, stroke_width: float) -> str:
    if shape == "circle":
        return (f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="{_n(stroke_width)}"/>')
    side = r * 1.8  # about the area of the circle
    return (f'<rect x="{_n(x - side / 2)}" y="{_n(y - side / 2)}" width="{_n(side)}" height="{_n(side)}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{_n(stroke_width)}"/>')


def _zone_rings(shape: str, x: float, y: float, r: float, zone: str | None, u: float) -> list[str]:
    """One ring for yellow, two for red: the zone is visible without seeing colour."""
    if zone is None:
        return []
    rings = {"yellow": 1, "red": 2}.get(zone, 0)
    return [_marker(shape, x, y, r + (3.5 + 3.5 * i) * u, "none", ZONE_EDGE[zone], 1.5 * u)
            for i in range(rings)]


def _segments(points: list[Point]) -> list[list[Point]]:
    """Split where readings are far apart, so a line never bridges missing readings.

    A gap is more than twice the usual (median) interval, counted as at least one day (two
    readings a day, both at night, are not a gap) and at most two days (a line never spans
    more than two days without a reading).
    """
    if len(points) < 2:
        return [points] if points else []
    intervals = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(points)]
    limit = min(max(2 * statistics.median(intervals), 86400), 2 * 86400)
    segments = [[points[0]]]
    for gap, p in zip(intervals, points[1:], strict=True):
        if gap > limit:
            segments.append([])
        segments[-1].append(p)
    return segments


def _series(f: _Frame, code: str, points: list[Point], label: str, style: _Style, r: float,
            tz: str, locale: str, u: float) -> str:
    parts = [f'<g class="chart-series chart-series--{code}">']
    dash = f' stroke-dasharray="{_n(6 * u)} {_n(4 * u)}"' if style.dashed else ""
    for segment in _segments(points):
        if len(segment) > 1:
            coords = " ".join(f"{_n(f.x(p.at))},{_n(f.y(p.value))}" for p in segment)
            parts.append(f'<polyline class="chart-line" points="{coords}" fill="none" stroke="{style.colour}" '
                         f'stroke-width="{_n(2 * u)}" stroke-linejoin="round"{dash}/>')
    for p in points:
        zone = _zone(p.zone)
        x, y = f.x(p.at), f.y(p.value)
        tip = f"{label}, {moment(p.at, tz, locale)}: {value_with_unit(code, p.value, locale)}"
        if zone:
            tip += f", {_zone_text(zone, locale)}"
        parts.append(f'<g class="chart-point chart-point--{zone or "none"}">')
        parts.append(f"<title>{_text(tip)}</title>")
        parts.append(_marker(style.marker, x, y, r, style.colour, "#ffffff", u))
        parts.extend(_zone_rings(style.marker, x, y, r, zone, u))
        parts.append("</g>")
    parts.append("</g>")
    return "\n".join(parts)


def _empty(width: float, top: float, bottom: float, font: float, u: float, message: str) -> str:
    return (f'<rect x="{_n(0.2 * font)}" y="{_n(top)}" width="{_n(width - 0.4 * font)}" '
            f'height="{_n(bottom - top)}" fill="none" stroke="{AXIS}" stroke-width="{_n(u)}"/>\n'
            f'<text class="chart-empty" x="{_n(width / 2)}" y="{_n((top + bottom) / 2 + 0.35 * font)}" '
            f'text-anchor="middle">{_text(message)}</text>')


# --------------------------------------------------------------------------------------------
# Legend: one entry per series when there are two, one per zone mark in use


@dataclass(frozen=True)
class _LegendItem:
    text: str
    style: _Style | None = None  # a series sample
    zone: str | None = None  # a zone-ring sample


def _legend_items(pts: list[list[Point]], labels: list[str], locale: str, several: bool) -> list[_LegendItem]:
    items = [_LegendItem(label, style=STYLES[i]) for i, label in enumerate(labels)] if several else []
    used = {_zone(p.zone) for ps in pts for p in ps}
    items += [_LegendItem(_zone_text(z, locale), zone=z) for z in ("yellow", "red") if z in used]
    return items


def _legend_item_width(item: _LegendItem, font: float) -> float:
    return 2.4 * font + _text_width(item.text, font)


def _flow(items: list[_LegendItem], width: float, font: float) -> list[tuple[int, float]]:
    """(row, x) of each legend item, wrapping to a new row when the next does not fit."""
    placed, row, x = [], 0, 0.2 * font
    for item in items:
        w = _legend_item_width(item, font)
        if x > 0.2 * font and x + w > width:
            row, x = row + 1, 0.2 * font
        placed.append((row, x))
        x += w + font
    return placed


def _legend(items: list[_LegendItem], placed: list[tuple[int, float]], font: float, u: float) -> str:
    if not items:
        return ""
    parts = ['<g class="chart-legend">']
    r = 5 * u
    for item, (row, x) in zip(items, placed, strict=True):
        y = 2.0 * font + row * 1.6 * font + 0.5 * font  # middle of the row
        mid = x + 0.9 * font
        if item.style is not None:
            dash = f' stroke-dasharray="{_n(6 * u)} {_n(4 * u)}"' if item.style.dashed else ""
            parts.append(f'<line x1="{_n(x)}" x2="{_n(x + 1.8 * font)}" y1="{_n(y)}" y2="{_n(y)}" '
                         f'stroke="{item.style.colour}" stroke-width="{_n(2 * u)}"{dash}/>')
            parts.append(_marker(item.style.marker, mid, y, r, item.style.colour, "#ffffff", u))
        else:
            parts.append(_marker("circle", mid, y, r, AXIS, "#ffffff", u))
            parts.extend(_zone_rings("circle", mid, y, r, item.zone, u))
        parts.append(f'<text x="{_n(x + 2.1 * font)}" y="{_n(y + 0.35 * font)}">{_text(item.text)}</text>')
    parts.append("</g>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Text


def _description(series, pts, labels, band_code, limits, start, end, tz, locale, filled=True) -> str:
    """What the chart shows, for screen readers: counts, latest, lowest/highest, zones, limits."""
    w = _words(locale)
    parts = [w["period"].format(start=day(start, tz, locale), end=day(end, tz, locale))]
    for s, ps, label in zip(series, pts, labels, strict=True):
        if not ps:
            continue
        latest = ps[-1]
        singular, plural = w["reading"]
        parts.append(w["summary"].format(
            label=label,
            count=f"{len(ps)} {singular if len(ps) == 1 else plural}",
            value=value_with_unit(s.code, latest.value, locale),
            when=moment(latest.at, tz, locale),
            low=value_with_unit(s.code, min(p.value for p in ps), locale),
            high=value_with_unit(s.code, max(p.value for p in ps), locale),
        ))
        zones = [_zone(p.zone) for p in ps]
        if any(z is not None for z in zones):
            parts.append(w["zones"].format(yellow=zones.count("yellow"), red=zones.count("red")))
    if any(_zone(p.zone) in ("yellow", "red") for ps in pts for p in ps):
        parts.append(w["marks"])
    if limits is not None:
        parts.append(w["bands" if filled else "lines"].format(name=CATALOGUE[band_code].name(locale).lower(),
                                       limits=_limits_text(band_code, limits, locale)))
    return " ".join(parts)


def _limits_text(code: str, limits: ZoneLimits, locale: str) -> str:
    """'gul under 92 %, rød under 88 %' — the limits in words, strict like the zones."""
    w = _words(locale)
    found = []
    for name in ("yellow_low", "yellow_high", "red_low", "red_high"):
        v = getattr(limits, name)
        if v is not None:
            zone, side = name.split("_")
            found.append(w["below" if side == "low" else "above"].format(
                zone=zone_word(Zone(zone), locale), value=value_with_unit(code, v, locale)))
    return ", ".join(found)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(s: str) -> Markup:
    """Escape text for SVG content; drop control characters XML cannot hold at all."""
    return escape(_NOT_XML.sub("", str(s)))


_attr = _text


def _capitalised(s: str) -> str:
    return s[:1].upper() + s[1:]
