"""The SVG chart renderer: structure, accessibility, zones, gaps, locale and safety.

Pure tests: no database, no app. The SVG is parsed with ElementTree and checked for
structure and positions, not pixels.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from homefollow import charts
from homefollow.charts import (BAND_FILL, Point, Series, render_chart, series_labels,
                               summary_rows)
from rules.measurements import CATALOGUE
from rules.zones import ZoneLimits, classify
from tests.conftest import examples

UTC = UTC
NS = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 in Oslo, a Monday
TEMP_LIMITS = ZoneLimits(red_low=35.0, yellow_low=36.0, yellow_high=38.0, red_high=39.0)


def daily(values, base=T0, zone=None, skip=()):
    return [Point(base + timedelta(days=i), v, zone) for i, v in enumerate(values) if i not in skip]


def render(series, *, days=7, locale="nb", limits=None, start=T0 - timedelta(hours=8), **kw):
    kw.setdefault("title", "Temperatur")
    kw.setdefault("id_prefix", "c1")
    return render_chart(series, start=start, end=start + timedelta(days=days), tz="Europe/Oslo",
                        locale=locale, limits=limits, **kw)


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def by_class(root, name, tag="*"):
    return [e for e in root.iter(f"{NS}{tag}" if tag != "*" else tag)
            if name in (e.get("class") or "").split()]


def one(root, name, tag="*"):
    found = by_class(root, name, tag)
    assert len(found) == 1, (name, len(found))
    return found[0]


def child_title(el) -> str:
    title = el.find(f"{NS}title")
    assert title is not None
    return title.text


def marker_centre(point_group):
    """Centre of a point's marker (its first shape: circle or square)."""
    shape = [c for c in point_group if c.tag in (f"{NS}circle", f"{NS}rect")][0]
    if shape.tag == f"{NS}circle":
        return float(shape.get("cx")), float(shape.get("cy"))
    return (float(shape.get("x")) + float(shape.get("width")) / 2,
            float(shape.get("y")) + float(shape.get("height")) / 2)


def plot_box(root):
    r = one(root, "chart-plot", "rect")
    x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def value_scale(root):
    """value → pixel y, from the y-axis grid lines and their labels (labels use nb or en)."""
    axis = one(root, "chart-y-axis", "g")
    lines = [float(e.get("y1")) for e in axis.findall(f"{NS}line")]
    values = [float(e.text.replace(",", ".").replace("\u2212", "-")) for e in axis.findall(f"{NS}text")]
    assert len(lines) == len(values) >= 2
    (v0, y0), (v1, y1) = (values[0], lines[0]), (values[-1], lines[-1])
    return lambda v: y0 + (v - v0) * (y1 - y0) / (v1 - v0)


TEMPS = [36.8, 37.2, 38.4, 39.5, 37.0, 36.9, 37.1]
TEMP_ZONES = [classify("temperature", v, TEMP_LIMITS).zone.value for v in TEMPS]


def temp_series():
    return [Series("temperature", [Point(T0 + timedelta(days=i), v, z)
                                   for i, (v, z) in enumerate(zip(TEMPS, TEMP_ZONES, strict=True))])]


# --- the SVG element and its text alternative ---------------------------------------------


def test_valid_svg_with_role_title_and_desc():
    svg = render(temp_series(), limits={"temperature": TEMP_LIMITS}, title="Temperatur siste 7 dager")
    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("preserveAspectRatio") == "xMidYMid meet"
    assert re.fullmatch(r"0 0 640 [\d.]+", root.get("viewBox"))
    title_id, desc_id = root.get("aria-labelledby").split()
    title, desc = root.find(f"{NS}title"), root.find(f"{NS}desc")
    assert (title.get("id"), desc.get("id")) == (title_id, desc_id) == ("c1-title", "c1-desc")
    assert list(root)[:2] == [title, desc]  # first children, as SVG accessibility expects
    assert title.text == "Temperatur siste 7 dager"
    # The summary: count, latest value and time (local), lowest/highest, zones, limits.
    assert "7 målinger" in desc.text
    assert "Siste 37,1\u00a0°C, 8. mars 08:00" in desc.text
    assert "Lavest 36,8\u00a0°C, høyest 39,5\u00a0°C" in desc.text
    assert "1 i gul sone, 1 i rød sone" in desc.text
    assert "gul over 38,0\u00a0°C" in desc.text and "rød under 35,0\u00a0°C" in desc.text


def test_caller_description_comes_first_and_english_summary():
    root = parse(render(temp_series(), locale="en", description="Measured under the tongue."))
    desc = root.find(f"{NS}desc").text
    assert desc.startswith("Measured under the tongue. Period 2 Mar to 9 Mar.")
    assert "7 readings" in desc and "Latest 37.1\u00a0°C, 8 Mar 08:00" in desc


def test_ids_follow_the_prefix_and_bad_prefixes_are_refused():
    a, b = parse(render(temp_series(), id_prefix="week")), parse(render(temp_series(), id_prefix="month"))
    ids = {e.get("id") for r in (a, b) for e in r.iter() if e.get("id")}
    assert ids == {"week-title", "week-desc", "month-title", "month-desc"}
    with pytest.raises(ValueError):
        render(temp_series(), id_prefix='x" onload="alert(1)')


def test_deterministic():
    assert render(temp_series(), limits={"temperature": TEMP_LIMITS}) == render(
        temp_series(), limits={"temperature": TEMP_LIMITS})


# --- points ---------------------------------------------------------------------------------


def test_one_marker_per_point_with_a_title_naming_value_time_and_zone():
    root = parse(render(temp_series(), limits={"temperature": TEMP_LIMITS}))
    points = by_class(root, "chart-point", "g")
    assert len(points) == len(TEMPS)
    titles = [child_title(p) for p in points]
    assert titles[0] == "Temperatur, 2. mars 08:00: 36,8\u00a0°C, grønn sone"
    assert titles[3] == "Temperatur, 5. mars 08:00: 39,5\u00a0°C, rød sone"
    assert titles[2].endswith("38,4\u00a0°C, gul sone")


def test_yellow_and_red_points_are_marked_by_more_than_colour():
    root = parse(render(temp_series(), limits={"temperature": TEMP_LIMITS}))
    points = by_class(root, "chart-point", "g")
    shapes = [len([c for c in p if c.tag != f"{NS}title"]) for p in points]
    # marker only for green, one ring for yellow, two rings for red
    assert shapes == [{"green": 1, "yellow": 2, "red": 3}[z] for z in TEMP_ZONES]
    legend = one(root, "chart-legend", "g")
    assert [t.text for t in legend.iter(f"{NS}text")] == ["gul sone", "rød sone"]


def test_time_is_shown_in_the_patients_time_zone_across_dst():
    # Summer time in Norway starts 29 March 2026 at 02:00 local (01:00 UTC).
    before, after = datetime(2026, 3, 28, 6, 0, tzinfo=UTC), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    s = [Series("pulse", [Point(before, 70), Point(after, 72)])]
    root = parse(render(s, start=datetime(2026, 3, 27, tzinfo=UTC), days=3))
    titles = [child_title(p) for p in by_class(root, "chart-point", "g")]
    assert titles == ["Puls, 28. mars 07:00: 70\u00a0/min", "Puls, 29. mars 08:00: 72\u00a0/min"]
    rows = summary_rows(s, tz="Europe/Oslo", locale="nb")
    assert [(r.date, r.time) for r in rows] == [("29. mars", "08:00"), ("28. mars", "07:00")]


def test_readings_outside_the_period_are_left_out():
    s = [Series("pulse", daily([60, 61, 62, 63, 64, 65, 66, 67, 68, 69]))]
    root = parse(render(s, days=7))
    assert len(by_class(root, "chart-point", "g")) == 7


def test_markers_are_placed_by_time_and_value():
    root = parse(render(temp_series()))
    y_of = value_scale(root)
    left, _, right, _ = plot_box(root)
    start, span = (T0 - timedelta(hours=8)).timestamp(), 7 * 86400
    for i, p in enumerate(by_class(root, "chart-point", "g")):
        x, y = marker_centre(p)
        at = (T0 + timedelta(days=i)).timestamp()
        assert x == pytest.approx(left + (at - start) / span * (right - left), abs=0.15)
        assert y == pytest.approx(y_of(TEMPS[i]), abs=0.15)


# --- zone bands -----------------------------------------------------------------------------


def band_spans(root):
    """(zone, top y, bottom y) of each band, top of the chart first."""
    bands = by_class(root, "chart-band", "rect")
    spans = [(b.get("class").split("--")[1], float(b.get("y")), float(b.get("y")) + float(b.get("height")))
             for b in bands]
    return sorted(spans, key=lambda s: s[1])


def test_bands_lie_between_the_limits_in_zone_order():
    root = parse(render(temp_series(), limits={"temperature": TEMP_LIMITS}))
    y = value_scale(root)
    _, top, _, bottom = plot_box(root)
    spans = band_spans(root)
    assert [z for z, _, _ in spans] == ["red", "yellow", "green", "yellow", "red"]
    expected = [(top, y(39.0)), (y(39.0), y(38.0)), (y(38.0), y(36.0)), (y(36.0), y(35.0)), (y(35.0), bottom)]
    for (zone, y_top, y_bottom), (e_top, e_bottom) in zip(spans, expected, strict=True):
        assert y_top == pytest.approx(e_top, abs=0.15), zone
        assert y_bottom == pytest.approx(e_bottom, abs=0.15), zone
    # The limits themselves are drawn as lines, at the same heights.
    for name, value in (("red-low", 35.0), ("yellow-low", 36.0), ("yellow-high", 38.0), ("red-high", 39.0)):
        line = one(root, f"chart-limit--{name}", "line")
        assert float(line.get("y1")) == pytest.approx(y(value), abs=0.15)
    # Bands are behind the data: drawn before the series.
    order = [e.get("class", "").split()[0] for e in root if e.get("class")]
    assert order.index("chart-bands") < order.index("chart-series")


def test_missing_limits_leave_that_side_without_a_band():
    pts = [Series("spo2", daily([95, 93, 91, 96, 94]))]
    root = parse(render(pts, limits={"spo2": ZoneLimits(red_low=88, yellow_low=92)}, title="Oksygen"))
    y = value_scale(root)
    _, top, _, bottom = plot_box(root)
    spans = band_spans(root)
    assert [z for z, _, _ in spans] == ["green", "yellow", "red"]
    assert spans[0][1] == pytest.approx(top)  # green reaches the top: no upper limit
    assert spans[1][1] == pytest.approx(y(92), abs=0.15) and spans[1][2] == pytest.approx(y(88), abs=0.15)
    assert spans[2][2] == pytest.approx(bottom)
    # The value axis holds the limits, and no tick goes above what SpO2 can be.
    ticks = [float(t.text) for t in one(root, "chart-y-axis", "g").findall(f"{NS}text")]
    assert max(ticks) <= 100
    assert y(88) <= bottom


def test_no_limits_no_bands():
    for limits in (None, {"temperature": ZoneLimits()}, {"pulse": TEMP_LIMITS}):
        root = parse(render(temp_series(), limits=limits))
        assert by_class(root, "chart-band") == []


# --- gaps -----------------------------------------------------------------------------------


def polylines(root):
    return [[tuple(map(float, xy.split(","))) for xy in pl.get("points").split()]
            for pl in by_class(root, "chart-line", "polyline")]


def test_a_gap_breaks_the_line():
    s = [Series("weight", daily([80.1, 80.3, 80.2, 80.6, 80.4, 80.5, 80.9, 81.0, 80.8], skip={3, 4, 5}))]
    root = parse(render(s, days=10))
    lines = polylines(root)
    assert [len(pl) for pl in lines] == [3, 3]
    assert len(by_class(root, "chart-point", "g")) == 6


def test_twice_daily_readings_are_one_line_and_a_missed_day_breaks_it():
    times = [T0 + timedelta(hours=12 * i) for i in range(12) if i not in (6, 7)]
    s = [Series("pulse", [Point(t, 70 + i % 3) for i, t in enumerate(times)])]
    assert [len(pl) for pl in polylines(parse(render(s)))] == [6, 4]


def test_weekly_readings_are_not_joined_across_more_than_two_days():
    s = [Series("weight", [Point(T0 + timedelta(days=7 * i), 80 + i) for i in range(4)])]
    root = parse(render(s, days=30))
    assert polylines(root) == []
    assert len(by_class(root, "chart-point", "g")) == 4


# --- blood pressure -------------------------------------------------------------------------


def bp_series():
    sys_values, dia_values = [128, 135, 162, 141, 150, 131, 126], [82, 85, 96, 88, 91, 80, 79]
    return [Series("bp_systolic", daily(sys_values)), Series("bp_diastolic", daily(dia_values))]


BP_LIMITS = {
    "bp_systolic": ZoneLimits(red_low=90, yellow_low=100, yellow_high=140, red_high=160),
    "bp_diastolic": ZoneLimits(yellow_low=50, yellow_high=95, red_high=110),
}


def test_blood_pressure_series_are_told_apart_without_colour():
    root = parse(render(bp_series(), limits=BP_LIMITS, title="Blodtrykk"))
    sys_g, dia_g = one(root, "chart-series--bp_systolic", "g"), one(root, "chart-series--bp_diastolic", "g")
    sys_points, dia_points = by_class(sys_g, "chart-point", "g"), by_class(dia_g, "chart-point", "g")
    assert len(sys_points) == len(dia_points) == 7
    assert all(p[1].tag == f"{NS}circle" for p in sys_points)  # [0] is the title
    assert all(p[1].tag == f"{NS}rect" for p in dia_points)
    (sys_line,), (dia_line,) = sys_g.findall(f"{NS}polyline"), dia_g.findall(f"{NS}polyline")
    assert sys_line.get("stroke-dasharray") is None and dia_line.get("stroke-dasharray")
    assert child_title(dia_points[0]) == "Diastolisk blodtrykk, 2. mars 08:00: 82\u00a0mmHg"
    # The legend names both in text, each with its own line pattern and marker shape.
    legend = one(root, "chart-legend", "g")
    texts = [t.text for t in legend.findall(f"{NS}text")]
    assert texts[:2] == ["Systolisk blodtrykk", "Diastolisk blodtrykk"]
    samples = legend.findall(f"{NS}line")
    assert samples[0].get("stroke-dasharray") is None and samples[1].get("stroke-dasharray")
    assert legend.find(f"{NS}circle") is not None and legend.find(f"{NS}rect") is not None


def test_blood_pressure_shows_the_systolic_limits_as_lines_and_no_field_under_the_diastolic():
    """On one axis, a filled field below the systolic red limit (90) would put every normal
    diastolic value (70–80) in red: the limits are lines only, and the description says so."""
    root = parse(render(bp_series(), limits=BP_LIMITS, title="Blodtrykk"))
    y = value_scale(root)
    limit_ys = sorted(float(line.get("y1")) for line in by_class(root, "chart-limit", "line"))
    assert limit_ys == pytest.approx(sorted(y(v) for v in (90, 100, 140, 160)), abs=0.15)
    assert by_class(root, "chart-band", "rect") == []
    desc = root.find(f"{NS}desc").text
    assert "Linjene viser de personlige grensene for systolisk blodtrykk" in desc
    assert "Fargede felt" not in desc
    assert "Diastolisk blodtrykk: 7 målinger" in desc
    one_value = parse(render([Series("bp_systolic", daily([130]))], limits=BP_LIMITS))
    assert by_class(one_value, "chart-band", "rect") != []  # one value: its zones are filled


def test_series_labels_can_be_overridden_and_are_used_everywhere():
    s = [Series("bp_systolic", daily([130]), label="Øvre"), Series("bp_diastolic", daily([80]), label="Nedre")]
    assert series_labels(s, "nb") == ["Øvre", "Nedre"]
    root = parse(render(s))
    assert [t.text for t in one(root, "chart-legend", "g").findall(f"{NS}text")] == ["Øvre", "Nedre"]


# --- axes and locale ------------------------------------------------------------------------


def tick_texts(root, axis):
    return [t.text for t in one(root, f"chart-{axis}-axis", "g").findall(f"{NS}text")]


def test_norwegian_ticks_use_decimal_commas_and_norwegian_dates():
    s = [Series("temperature", daily([36.6, 36.8, 37.1, 37.4, 37.2, 36.9, 37.0]))]
    root = parse(render(s, locale="nb"))
    y_ticks = tick_texts(root, "y")
    assert any("," in t for t in y_ticks) and not any("." in t for t in y_ticks)
    x_ticks = tick_texts(root, "x")
    assert x_ticks and all(re.fullmatch(r"\d{1,2}\. (mars|apr\.)", t) for t in x_ticks)
    assert one(root, "chart-unit").text == "Grader celsius (°C)"


def test_english_ticks_use_decimal_points_and_english_dates():
    s = [Series("temperature", daily([36.6, 36.8, 37.1, 37.4, 37.2, 36.9, 37.0]))]
    root = parse(render(s, locale="en"))
    y_ticks = tick_texts(root, "y")
    assert any("." in t for t in y_ticks) and not any("," in t for t in y_ticks)
    assert all(re.fullmatch(r"\d{1,2} (Mar|Apr)", t) for t in tick_texts(root, "x"))
    assert one(root, "chart-unit").text == "Degrees Celsius (°C)"


@pytest.mark.parametrize("days", [7, 30, 90])
def test_date_ticks_are_local_midnights_inside_the_plot_and_do_not_overlap(days):
    start = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)  # local midnight, 6 January
    s = [Series("pulse", [Point(start + timedelta(days=i, hours=9), 70) for i in range(days)])]
    root = parse(render(s, start=start, days=days))
    left, _, right, _ = plot_box(root)
    axis = one(root, "chart-x-axis", "g")
    xs = [float(line.get("x1")) for line in axis.findall(f"{NS}line")]
    assert len(xs) >= 2 and all(left <= x <= right for x in xs)
    font = float(root.get("font-size"))
    labels = tick_texts(root, "x")
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert min(gaps) >= max(len(t) for t in labels) * 0.6 * font
    # Ticks sit at local midnights, also after the change to summer time on 29 March.
    oslo = ZoneInfo("Europe/Oslo")
    for x in xs:
        at = (start + timedelta(days=days) * ((x - left) / (right - left))).astimezone(oslo)
        off = min(at - at.replace(hour=0, minute=0, second=0, microsecond=0),
                  (at.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)) - at)
        assert off < timedelta(minutes=30), at  # 0.1 unit of rounding is up to 24 min in 90 days


def test_value_axis_includes_every_reading_and_limit_with_room():
    s = [Series("glucose", daily([6.2, 7.0, 6.8]))]
    limits = {"glucose": ZoneLimits(red_low=3.0, yellow_low=4.0, yellow_high=10.0, red_high=14.4)}
    root = parse(render(s, limits=limits))
    y = value_scale(root)
    _, top, _, bottom = plot_box(root)
    assert top < y(14.4) and y(3.0) < bottom  # strictly inside: there is padding


def test_text_is_large_enough_on_a_small_phone():
    """Text is at least 14 px when the chart is drawn 320 px wide (a 360 px phone's page)."""
    for width in (640, 960, 360):
        root = parse(render(bp_series(), limits=BP_LIMITS, width=width))
        view_width = float(root.get("viewBox").split()[2])
        sizes = [float(e.get("font-size")) for e in root.iter() if e.get("font-size")]
        assert sizes and min(sizes) * 320 / view_width >= 14
        assert all(t.get("font-size") is None for t in root.iter(f"{NS}text"))  # all inherit the root's


def _luminance(hex_colour: str) -> float:
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_lines_markers_and_rings_have_3_to_1_contrast_on_every_background():
    colours = set()
    for root in (parse(render(bp_series(), limits=BP_LIMITS)),
                 parse(render(temp_series(), limits={"temperature": TEMP_LIMITS}))):
        colours |= _drawn_colours(root)
    assert {"#005b96", "#1b1b1b", "#8a6100", "#a4001d"} <= colours
    for colour in colours:
        for background in (*BAND_FILL.values(), "#ffffff"):
            assert _contrast(colour, background) >= 3, (colour, background)


def _drawn_colours(root) -> set[str]:
    colours = set()
    for el in by_class(root, "chart-line") + by_class(root, "chart-limit"):
        colours.add(el.get("stroke"))
    for g in by_class(root, "chart-point", "g"):
        marker, *rings = [c for c in g if c.tag != f"{NS}title"]
        colours.add(marker.get("fill"))
        colours.update(r.get("stroke") for r in rings)
    return colours


# --- safety ---------------------------------------------------------------------------------


def test_no_inline_style_scripts_event_handlers_or_external_resources():
    for svg in (render(bp_series(), limits=BP_LIMITS), render(temp_series(), limits={"temperature": TEMP_LIMITS}),
                render([Series("pulse", [])])):
        assert "style=" not in svg and "<script" not in svg.lower()
        root = parse(svg)
        for el in root.iter():
            assert el.tag.split("}")[1] not in ("script", "style", "foreignObject", "image", "a", "use")
            for name, value in el.attrib.items():
                assert name != "style" and not name.lower().startswith("on")
                assert "href" not in name and "url(" not in value and "javascript:" not in value


def test_every_inserted_text_is_escaped():
    evil = '<script>alert("x")</script> & <b onclick="y">'
    s = [Series("pulse", daily([70, 72]), label=evil)]
    svg = render(s, title=evil, description=evil)
    root = parse(svg)  # still well-formed XML
    assert not [e for e in root.iter() if e.tag.split("}")[1] in ("script", "b")]
    assert root.find(f"{NS}title").text == evil
    assert root.find(f"{NS}desc").text.startswith(evil)
    assert child_title(by_class(root, "chart-point", "g")[0]).startswith(evil)
    assert escape(svg) == svg  # Markup: Jinja will not escape it again
    # Control characters XML cannot hold are dropped instead of breaking the document.
    parse(render(s, title="A\x00B\x1bC"))


# --- empty data -----------------------------------------------------------------------------


@pytest.mark.parametrize("locale, message", [("nb", "Ingen målinger i perioden"),
                                              ("en", "No measurements in this period")])
def test_empty_series_say_so(locale, message):
    old = [Point(T0 - timedelta(days=30), 70)]  # outside the period
    for series in ([Series("pulse", [])], [Series("pulse", old)],
                   [Series("bp_systolic", []), Series("bp_diastolic", [])]):
        root = parse(render(series, locale=locale, limits={"pulse": ZoneLimits(yellow_high=100)}))
        assert one(root, "chart-empty", "text").text == message
        assert root.find(f"{NS}desc").text == f"{message}."
        assert by_class(root, "chart-point") == [] and by_class(root, "chart-band") == []


# --- input checks ---------------------------------------------------------------------------


def test_bad_input_is_refused():
    naive = datetime(2026, 3, 2, 8, 0)
    with pytest.raises(ValueError):
        render([Series("pulse", [Point(naive, 70)])])
    with pytest.raises(ValueError):
        render([Series("height", daily([170]))])
    with pytest.raises(ValueError):
        render([Series("pulse", daily([70]))] * 3)
    with pytest.raises(ValueError):
        render([Series("pulse", daily([float("nan")]))])
    with pytest.raises(ValueError):
        render([Series("pulse", daily([70], zone="purple"))])
    with pytest.raises(ValueError):
        render_chart([Series("pulse", [])], start=T0, end=T0, tz="Europe/Oslo", locale="nb",
                     title="x", id_prefix="x")


# --- the table alternative ------------------------------------------------------------------


def test_summary_rows_newest_first_matching_the_chart():
    s = bp_series()
    zone = lambda v: classify("bp_systolic", v, BP_LIMITS["bp_systolic"]).zone.value  # noqa: E731
    s[0] = Series("bp_systolic", [Point(p.at, p.value, zone(p.value)) for p in s[0].points])
    start = T0 - timedelta(hours=8)
    rows = summary_rows(s, tz="Europe/Oslo", locale="nb", start=start, end=start + timedelta(days=3))
    assert [r.when for r in rows] == ["4. mars 08:00", "3. mars 08:00", "2. mars 08:00"]
    newest = rows[0]
    assert [c.text for c in newest.cells] == ["162\u00a0mmHg", "96\u00a0mmHg"]
    assert [c.label for c in newest.cells] == ["Systolisk blodtrykk", "Diastolisk blodtrykk"]
    assert (newest.zone, newest.zone_text) == ("red", "rød sone")
    assert newest.cells[1].zone is None and newest.cells[1].zone_text == ""
    assert rows[-1].zone == "green"
    chart = parse(render(s, days=3))
    assert len(by_class(chart, "chart-point", "g")) == sum(len(r.cells) for r in rows)


def test_summary_rows_formats_decimals_for_the_locale_and_leaves_gaps_empty():
    s = [Series("weight", [Point(T0, 80.25)]), Series("temperature", [Point(T0 + timedelta(hours=1), 37.5)])]
    rows = summary_rows(s, tz="Europe/Oslo", locale="nb")
    assert [[c.text if c else None for c in r.cells] for r in rows] == [[None, "37,5\u00a0°C"], ["80,2\u00a0kg", None]]
    en = summary_rows(s, tz="Europe/Oslo", locale="en")
    assert en[0].cells[1].text == "37.5\u00a0°C" and en[0].when == "2 Mar 09:00"


def test_two_readings_at_the_same_instant_both_get_a_row():
    s = [Series("pulse", [Point(T0, 70), Point(T0, 74)])]
    assert [r.cells[0].text for r in summary_rows(s, tz="Europe/Oslo", locale="nb")] == ["70\u00a0/min", "74\u00a0/min"]


def test_a_flat_series_gets_a_readable_axis():
    root = parse(render([Series("spo2", daily([100, 100, 100]))], title="Oksygen"))
    ticks = [int(t) for t in tick_texts(root, "y")]
    assert len(ticks) >= 2 and max(ticks) <= 100
    y = value_scale(root)
    _, top, _, bottom = plot_box(root)
    assert top - 0.15 <= y(100) < bottom


def test_the_module_is_pure():
    """No web framework, database or clock: importable on its own, and it never asks the time."""
    path = Path(charts.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('charts', {str(path)!r})\n"
        "module = sys.modules['charts'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'sqlmodel', 'jinja2', 'matplotlib', 'pygal'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=path.parents[1]).stdout
    assert out.strip() == ""
    source = path.read_text()
    assert not re.search(r"\.now\(|\.today\(|utcnow|time\.time\(", source)


# --- any plausible data ---------------------------------------------------------------------


@st.composite
def plausible_series(draw):
    code = draw(st.sampled_from(sorted(CATALOGUE)))
    m = CATALOGUE[code]
    offsets = draw(st.lists(st.integers(0, 30 * 24 * 60), min_size=1, max_size=80, unique=True))
    values = draw(st.lists(st.floats(m.plausible_min, m.plausible_max), min_size=len(offsets), max_size=len(offsets)))
    zones = draw(st.lists(st.sampled_from([None, "green", "yellow", "red"]), min_size=len(offsets),
                          max_size=len(offsets)))
    points = [Point(T0 + timedelta(minutes=o), round(v, m.decimals), z) for o, v, z in zip(offsets, values, zones, strict=True)]
    low, high = sorted(draw(st.lists(st.floats(m.plausible_min, m.plausible_max), min_size=2, max_size=2)))
    limits = draw(st.sampled_from([None, ZoneLimits(yellow_low=low, yellow_high=high) if low < high else None,
                                   ZoneLimits(red_high=high)]))
    return Series(code, points), limits


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plausible_series(), st.sampled_from(["nb", "en"]), st.sampled_from([320, 640, 960]))
def test_any_plausible_series_renders_valid_svg_with_markers_in_the_plot(series_and_limits, locale, width):
    series, limits = series_and_limits
    svg = render_chart([series], start=T0, end=T0 + timedelta(days=30), tz="Europe/Oslo", locale=locale,
                       limits={series.code: limits} if limits else None, title="t", id_prefix="p", width=width)
    root = parse(svg)
    left, top, right, bottom = plot_box(root)
    points = by_class(root, "chart-point", "g")
    assert len(points) == len(series.points)
    for p in points:
        x, y = marker_centre(p)
        assert left - 0.01 <= x <= right + 0.01 and top - 0.01 <= y <= bottom + 0.01
    assert len(tick_texts(root, "y")) >= 2


# --- the charts both portals show (homefollow.services.chart_history) --------------------------

def test_a_reading_keeps_the_zone_it_had_when_the_plan_changes_after_it(session, clock, world):
    """The nurse acted on SpO2 93 % as green under the plan of the day; a stricter plan later
    (yellow below 94) colours new readings yellow but does not recolour that one."""
    from homefollow.services import chart_history, plans, reporting
    from homefollow.services.plan_changes import change_plan
    from homefollow.services.plans import AssignedRule
    from tests.factories import standard_plan

    patient = world.patient_a1

    def spo2(value, key):
        return reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": value},
                                            idempotency_key=key, reported_by_account_id=None, actor_kind="patient")

    assert spo2(93, "before").zone.value == "green"
    clock.advance(hours=2)
    content = standard_plan()
    content.rules[1] = AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 94, "n": 1, "m": 1})
    change_plan(session, clock, patient=patient, content=content, author_account_id=world.admin_a.id,
                reason="Målområde 94–98 %", checked=False)
    clock.advance(hours=2)
    assert spo2(93, "after").zone.value == "yellow"

    history = chart_history.history(session, patient, plans.current_content(session, patient.id)[0],
                                    end=clock.now(), days=7, locale="nb")
    [chart] = [c for c in history.charts if c.item.key == "spo2"]
    titles = [child_title(p) for p in by_class(parse(chart.chart), "chart-point", "g")]
    assert [t.rsplit(", ", 1)[1] for t in titles] == ["grønn sone", "gul sone"]
    assert [r.zone for r, _v in chart.rows] == ["yellow", "green"]  # the table agrees, newest first
