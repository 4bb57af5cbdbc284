"""Durations are read as people write them, and read back as the engine shows them."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.text import duration, parse_duration


@pytest.mark.parametrize("text, span", [
    ("3 timer", timedelta(hours=3)), ("1 dag 12 timer", timedelta(days=1, hours=12)),
    ("1 time og 30 minutter", timedelta(minutes=90)), ("30 min", timedelta(minutes=30)),
    ("2 d", timedelta(days=2)), ("1,5 t", timedelta(minutes=90)), ("2 uker", timedelta(days=14)),
    ("2 days", timedelta(days=2)), ("1 hour 30 minutes", timedelta(minutes=90)),
    ("PT3H", timedelta(hours=3)), ("p1d", timedelta(days=1)),
])
def test_durations_are_read_as_people_write_them(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "abc", "3", "timer", "3 x", "3 timer x", "-3 t", "P", "3 timer 2"])
def test_anything_else_is_not_a_duration(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=60)), st.sampled_from(["nb", "en"]))
def test_a_duration_as_shown_reads_back_as_the_same_duration(span, locale):
    whole_minutes = timedelta(minutes=span // timedelta(minutes=1))
    assert parse_duration(duration(whole_minutes, locale)) == whole_minutes
