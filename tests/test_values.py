"""The one module that reads typed values and writes them back (homefollow/values.py): what a
person types is read the same on every form, in SMS, the API and imports, and what the app writes
is read back as the same value."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given, strategies as st

from homefollow import values
from homefollow.values import BadValue

LOCALES = ["nb", "en"]


@pytest.mark.parametrize(("text", "value"), [("70,4", 70.4), ("70.4", 70.4), (" 70 ,4 ", 70.4), ("72", 72.0),
                                             ("-3", -3.0), ("\u22123,5", -3.5), ("\uff17\uff10", 70.0)])
def test_numbers_are_read_with_comma_or_point(text, value):
    assert values.parse_decimal(text) == value


@pytest.mark.parametrize("text", ["7 2", "7\u00a02", "1 234", "7 2,5"])
def test_digits_split_by_a_space_are_asked_about_not_joined(text):
    with pytest.raises(BadValue) as caught:
        values.parse_decimal(text)
    assert caught.value.reason == "split_number"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"), ("   ", "empty"), ("abc", "not_a_number"), ("nan", "not_a_number"), ("inf", "not_a_number"),
    ("1e400", "not_a_number"), ("7\x002", "control"), ("9" * 10_000, "too_long"), (None, "empty"), (12, "not_a_number"),
])
def test_what_no_number_can_be_is_refused_with_a_reason(text, reason):
    with pytest.raises(BadValue) as caught:
        values.parse_decimal(text)
    assert caught.value.reason == reason
    assert len(caught.value.text) <= 40 and "\x00" not in caught.value.text


def test_every_reason_is_worded_for_people():
    for reason in values.MESSAGES:
        assert values.problem_text(BadValue(reason, "x"), "en") == values.MESSAGES[reason]
    assert values.problem_text(BadValue("nothing we know"), "en") == values.MESSAGES["not_a_number"]


def test_whole_numbers_refuse_decimals():
    assert values.parse_integer("15") == 15
    with pytest.raises(BadValue):
        values.parse_integer("15,5")


def test_empty_optional_values_are_none():
    assert values.optional_decimal("  ") is None
    assert values.optional_time("") is None
    assert values.optional_date(None) is None
    assert values.optional_phone("") is None


@pytest.mark.parametrize(("value", "locale", "decimals", "text"), [
    (70.4, "nb", None, "70,4"), (70.4, "en", None, "70.4"), (2.0, "nb", 1, "2,0"), (72.0, "nb", None, "72"),
    (0.75, "nb", 0, "1"), (None, "nb", 1, ""),
])
def test_numbers_are_written_in_the_readers_language(value, locale, decimals, text):
    assert values.format_number(value, locale, decimals) == text


@given(st.decimals(min_value=-10_000, max_value=10_000, places=2, allow_nan=False), st.sampled_from(LOCALES),
       st.integers(0, 3))
def test_a_written_number_reads_back_as_itself(number, locale, decimals):
    value = float(number)
    assert values.parse_decimal(values.format_number(value, locale, decimals)) == round(value, decimals)


@pytest.mark.parametrize(("text", "value"), [("08:00", time(8)), ("8:00", time(8)), ("08.30", time(8, 30)),
                                             ("23:59", time(23, 59)), ("0:00", time(0))])
def test_times_of_day(text, value):
    assert values.parse_time(text) == value


@pytest.mark.parametrize("text", ["24:00", "8:60", "8", "0800", "8:0", "kl 8", "08:00:00", "\x00", "1" * 10_000])
def test_what_is_no_time_of_day_is_refused(text):
    with pytest.raises(BadValue):
        values.parse_time(text)


def test_a_list_of_times():
    assert values.parse_times("8:00, 18.30;20:00") == (time(8), time(18, 30), time(20))
    with pytest.raises(BadValue):
        values.parse_times("8:00, 25:00")


@given(st.times().map(lambda t: t.replace(second=0, microsecond=0)))
def test_a_written_time_reads_back_as_itself(value):
    assert values.parse_time(values.format_time(value)) == value


@pytest.mark.parametrize(("text", "value"), [("24.12.2026", date(2026, 12, 24)), ("1.2.2026", date(2026, 2, 1)),
                                             ("24.12.26", date(2026, 12, 24)), ("2026-12-24", date(2026, 12, 24)),
                                             ("01.01.70", date(1970, 1, 1))])
def test_dates_in_norwegian_or_iso_form(text, value):
    assert values.parse_date(text) == value


@pytest.mark.parametrize(("text", "reason"), [("31.02.2026", "no_such_day"), ("0001-01-01", "year_out_of_range"),
                                              ("01.01.0001", "year_out_of_range"), ("9999-12-31", "year_out_of_range"),
                                              ("24/12/2026", "not_a_date"), ("2026-12-24 08:00", "not_a_date")])
def test_what_is_no_date_is_refused(text, reason):
    with pytest.raises(BadValue) as caught:
        values.parse_date(text)
    assert caught.value.reason == reason


def test_a_time_after_a_date_is_ignored_only_where_exports_write_one():
    for text in ("24.12.2026 08:00", "2026-12-24T08:00:00Z", "2026-12-24 08:00:00+01:00"):
        assert values.parse_date(text, time_allowed=True) == date(2026, 12, 24)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_a_written_date_reads_back_as_itself(value):
    assert values.parse_date(values.format_date(value)) == value


@pytest.mark.parametrize(("text", "minutes"), [("30", 30), ("30 min", 30), ("2 t", 120), ("2 timer", 120),
                                               ("1 t 30 min", 90), ("1,5 t", 90), ("3 d", 3 * 24 * 60),
                                               ("1 h 5 min", 65), ("2døgn", 2 * 24 * 60),
                                               ("2 uker", 14 * 24 * 60), ("1 week", 7 * 24 * 60),
                                               ("1 dag og 12 timer", 36 * 60), ("1 t, 30 min", 90),
                                               ("1 hour and 30 minutes", 90)])
def test_durations(text, minutes):
    assert values.parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["7 2", "1 t 2 t", "-5", "5 år", "t", "0,5 min", "", "og 2 t", "2 t og",
                                  "1 t og 30", "1 t eller 30 min"])
def test_what_is_no_duration_is_refused(text):
    with pytest.raises(BadValue):
        values.parse_duration(text)


@given(st.integers(1, 60 * 24 * 400), st.sampled_from(LOCALES))
def test_a_duration_in_the_rule_engines_words_reads_back_as_itself(minutes, locale):
    """The plan editor shows rule windows in words ('1 dag 12 timer') and reads them back."""
    from rules.text import duration

    value = timedelta(minutes=minutes)
    assert values.parse_duration(duration(value, locale)) == value


@given(st.integers(0, 60 * 24 * 400), st.sampled_from(LOCALES))
def test_a_written_duration_reads_back_as_itself(minutes, locale):
    value = timedelta(minutes=minutes)
    assert values.parse_duration(values.format_duration(value, locale)) == value


@pytest.mark.parametrize("text", ["912 34 567", "+47 912 34 567", "91234567", "0047 91234567", "+4791234567",
                                  "(+47) 912-34-567"])
def test_norwegian_phone_numbers_with_or_without_country_code(text):
    assert values.parse_phone(text) == "+4791234567"
    assert values.parse_norwegian_phone(text) == "+4791234567"


def test_foreign_numbers_are_phones_but_not_team_numbers():
    assert values.parse_phone("+46 70 123 45 67") == "+46701234567"
    with pytest.raises(BadValue) as caught:
        values.parse_norwegian_phone("+46 70 123 45 67")
    assert caught.value.reason == "not_norwegian_phone"


@pytest.mark.parametrize("text", ["123", "912 34 56X", "1-800-FLOWERS", "91234567\x00", "9" * 10_000, "+"])
def test_what_is_no_phone_number_is_refused(text):
    with pytest.raises(BadValue):
        values.parse_phone(text)
    assert values.optional_phone(text) is None


@given(st.integers(20_000_000, 99_999_999).map(lambda n: f"+47{n}").filter(values.optional_phone))
def test_a_written_phone_number_reads_back_as_itself(number):
    assert values.parse_phone(values.format_phone(number)) == number


def test_mobiles_are_written_as_norwegians_write_them():
    assert values.format_phone("+4791234567") == "912\u00a034\u00a0567"
    assert values.format_phone("") == ""
