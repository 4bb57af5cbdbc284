"""Formatting of values, dates and bilingual explanations for findings.

Explanations are produced in both Norwegian bokmål and English at evaluation time, so a
stored finding reads the same in either portal language and never changes afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from pydantic import TypeAdapter, ValidationError

from .measurements import CATALOGUE

LOCALES = ("nb", "en")


@dataclass(frozen=True)
class Text:
    """A sentence in both UI languages."""

    nb: str
    en: str

    def get(self, locale: str) -> str:
        return self.nb if str(locale).startswith("nb") else self.en

    def as_dict(self) -> dict[str, str]:
        return {"nb": self.nb, "en": self.en}


@lru_cache(maxsize=4096)
def number(value: float, decimals: int, locale: str) -> str:
    pattern = "0" if decimals == 0 else "0." + "0" * decimals
    return format_decimal(round(value, decimals), format=pattern, locale=locale)


def value_with_unit(code: str, value: float, locale: str) -> str:
    m = CATALOGUE[code]
    sep = "" if m.unit == "%" else "\u00a0"
    return f"{number(value, m.decimals, locale)}{sep}{m.unit}"


@lru_cache(maxsize=4096)
def moment(at: datetime, tz: str, locale: str) -> str:
    """'12. mars 08:05' / '12 Mar 08:05' in the patient's time zone."""
    pattern = "d. MMM HH:mm" if locale.startswith("nb") else "d MMM HH:mm"
    return format_datetime(at.astimezone(ZoneInfo(tz)), pattern, locale=locale)


@lru_cache(maxsize=4096)
def day(at: datetime, tz: str, locale: str) -> str:
    """'12. mars' / '12 Mar' — the local calendar date, for rules that count in days."""
    pattern = "d. MMM" if locale.startswith("nb") else "d MMM"
    return format_datetime(at.astimezone(ZoneInfo(tz)), pattern, locale=locale)


@lru_cache(maxsize=4096)
def clock(at: datetime, tz: str, locale: str) -> str:
    """'08:05' in the patient's time zone."""
    return format_datetime(at.astimezone(ZoneInfo(tz)), "HH:mm", locale=locale)


_UNITS = {
    "nb": (("dag", "dager"), ("time", "timer"), ("minutt", "minutter")),
    "en": (("day", "days"), ("hour", "hours"), ("minute", "minutes")),
}


def duration(span: timedelta, locale: str) -> str:
    """'3 dager', '1 hour 30 minutes' — a hold time or window as people say it."""
    words = _UNITS["nb" if locale.startswith("nb") else "en"]
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {w[0] if n == 1 else w[1]}" for n, w in zip((days, hours, mins), words, strict=True) if n]
    if not parts:
        return "0 " + words[2][1]
    return " ".join(parts)


# Words for each unit that people type after a number, in both languages ("3 timer", "2 d").
_UNIT_SPANS = (
    (timedelta(weeks=1), ("u", "uke", "uker", "w", "wk", "week", "weeks")),
    (timedelta(days=1), ("d", "dag", "dager", "døgn", "day", "days")),
    (timedelta(hours=1), ("t", "h", "time", "timer", "hour", "hours")),
    (timedelta(minutes=1), ("m", "min", "minutt", "minutter", "minute", "minutes")),
)
_SPAN_WORDS = {word: span for span, words in _UNIT_SPANS for word in words}
_SPAN_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-zø]+)")
_DURATION = TypeAdapter(timedelta)


def parse_duration(text: str) -> timedelta:
    """A duration as people write it, the inverse of ``duration``: '3 timer', '1 dag 12 timer',
    '30 min', '2 days', or ISO 8601 ('PT3H'). Raises ValueError for anything else."""
    cleaned = (text or "").strip().lower()
    if cleaned.startswith("p"):
        try:
            return _DURATION.validate_python(cleaned.upper())
        except ValidationError:
            raise ValueError(text) from None
    words = re.sub(r"\b(og|and)\b|,(?!\d)", " ", cleaned)
    total, end = timedelta(0), 0
    for match in _SPAN_PART.finditer(words):
        if words[end:match.start()].strip() or match.group(2) not in _SPAN_WORDS:
            raise ValueError(text)
        total += float(match.group(1).replace(",", ".")) * _SPAN_WORDS[match.group(2)]
        end = match.end()
    if end == 0 or words[end:].strip():
        raise ValueError(text)
    return total


def both(build: Callable[[str], str]) -> Text:
    """Build a Text by calling `build(locale)` for each UI language."""
    return Text(nb=build("nb"), en=build("en"))


def item_values(item_key: str, values: dict[str, float], locale: str) -> str:
    """One report's values as people write them: '135/85 mmHg', '70,4 kg'."""
    if item_key == "blood_pressure" and {"bp_systolic", "bp_diastolic"} <= set(values):
        return (f"{number(values['bp_systolic'], 0, locale)}/"
                f"{value_with_unit('bp_diastolic', values['bp_diastolic'], locale)}")
    return ", ".join(value_with_unit(code, value, locale) for code, value in values.items())
