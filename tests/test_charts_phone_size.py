"""Charts at phone size (issue 20): axis and label text at least as large as the portal's body
text (20 px) when the chart is shown 320 px wide, and room on the right so the newest reading
and its zone rings are not cut off at the edge."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from homefollow.charts import MIN_TEXT_PX, Point, Series
from rules.zones import ZoneLimits
from tests.test_charts import NS, UTC, by_class, one, parse, plot_box, render

BODY_PX = 20  # html { font-size: 125% } in homefollow.css


@pytest.mark.parametrize("width", [360, 640, 960])
def test_text_is_at_least_the_body_text_size_at_phone_width(width):
    s = [Series("temperature", [Point(datetime(2026, 3, 2, 7, tzinfo=UTC) + timedelta(days=i), 37.0 + i / 10)
                                for i in range(7)])]
    root = parse(render(s, width=width, limits={"temperature": ZoneLimits(yellow_high=38.0, red_high=39.0)}))
    view_width = float(root.get("viewBox").split()[2])
    assert MIN_TEXT_PX >= BODY_PX
    assert float(root.get("font-size")) * 320 / view_width >= BODY_PX
    assert all(t.get("font-size") is None for t in root.iter(f"{NS}text"))  # all inherit the root's


def test_the_newest_reading_at_the_end_of_the_period_and_its_rings_are_inside_the_svg():
    start = datetime(2026, 3, 1, 23, tzinfo=UTC)
    end_point = start + timedelta(days=7)  # measured at the very end of the period, red
    s = [Series("pulse", [Point(start + timedelta(days=i, hours=9), 70) for i in range(6)]
                + [Point(end_point, 140, "red")])]
    root = parse(render(s, start=start, days=7))
    view_width = float(root.get("viewBox").split()[2])
    _left, _top, right, _bottom = plot_box(root)
    newest = [g for g in by_class(root, "chart-point", "g") if "chart-point--red" in g.get("class")]
    assert len(newest) == 1
    for shape in newest[0].findall(f"{NS}circle"):
        assert float(shape.get("cx")) + float(shape.get("r")) + float(shape.get("stroke-width")) <= view_width
    assert view_width - right >= 1.5 * float(root.get("font-size")) - 0.1  # padding, not the edge


def test_the_last_date_label_is_inside_the_svg():
    start = datetime(2026, 1, 5, 23, tzinfo=UTC)
    s = [Series("pulse", [Point(start + timedelta(days=i, hours=9), 70) for i in range(7)])]
    root = parse(render(s, start=start, days=7))
    view_width = float(root.get("viewBox").split()[2])
    font = float(root.get("font-size"))
    for text in one(root, "chart-x-axis", "g").findall(f"{NS}text"):
        half = len(text.text) * 0.6 * font / 2
        assert half - 0.1 <= float(text.get("x")) <= view_width - half + 0.1


@pytest.mark.parametrize(("locale", "names"), [("nb", {"feb.", "mars"}), ("en", {"Feb", "Mar"})])
def test_ninety_days_get_short_month_names_that_fit_at_body_size(locale, names):
    start = datetime(2026, 1, 5, 23, tzinfo=UTC)
    s = [Series("pulse", [Point(start + timedelta(days=i, hours=9), 70) for i in range(90)])]
    root = parse(render(s, start=start, days=90, locale=locale))
    labels = [t.text for t in one(root, "chart-x-axis", "g").findall(f"{NS}text")]
    assert len(labels) >= 2 and set(labels) <= names | {"apr.", "Apr"}
