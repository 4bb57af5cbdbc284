"""Typed input and locale output: the one place that reads the small values people type
(numbers, times of day, dates, durations, phone numbers) and writes them back in their language.

Every form, the SMS reading parser, the API and the CSV import read through these functions, so
"70,4" and "70.4" mean the same everywhere, "7 2" is asked about everywhere, and a phone number
typed as "912 34 567" or "+47 912 34 567" is the same number everywhere.

Parsers raise BadValue (a ValueError) with a stable `reason`; `problem_text` words it for people.
Like rules/, this module needs no Flask (the pure escalation package and the SMS parser use it).
Formatters are the inverse of the parsers: parse(format(x)) == x (tests/test_values.py).
The pure rule engine keeps its own number formatting for its explanations (rules/text.py).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time, timedelta

import phonenumbers
from babel.numbers import format_decimal
from rules.measurements import SplitNumber
from rules.measurements import parse_decimal as _engine_decimal

from .i18n import N_, t

# The longest small value anyone types; a longer one is refused before it is read at all.
MAX_CHARS = 100
MIN_YEAR, MAX_YEAR = 1900, 2200  # as homefollow.input_guard: what Python, UTC and the database hold
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadValue(ValueError):
    """A typed value that cannot be read. `reason` is a key of MESSAGES; `text` is what was
    typed, printable and shortened, for quoting back."""

    def __init__(self, reason: str, text: object = ""):
        shown = "".join(c for c in str(text) if c.isprintable())[:40]
        super().__init__(f"{reason}: {shown!r}")
        self.reason = reason
        self.text = shown


MESSAGES = {
    "empty": N_("Fill in this field."),
    "too_long": N_("This is too long to be a value here."),
    "control": N_("The field contains control characters. Remove them and try again."),
    "not_a_number": N_("Write a number, for example 70,4."),
    "split_number": N_("There is a space inside the number. Write the number again without spaces."),
    "not_whole": N_("Write a whole number, for example 15."),
    "not_a_time": N_("Write the time as hours and minutes, for example 08:00."),
    "not_a_date": N_("Write the date as day.month.year, for example 24.12.2026."),
    "no_such_day": N_("There is no such day in the calendar."),
    "year_out_of_range": N_("The date must be between the years 1900 and 2200."),
    "not_a_duration": N_("Write the time in minutes, hours or days, for example 30 min, 2 t or 3 d."),
    "not_a_phone": N_("This is not a valid phone number."),
    "not_norwegian_phone": N_("Write a Norwegian phone number, for example 912 34 567."),
    "not_a_mobile": N_("This looks like a landline number, and it cannot get text messages. Write a mobile number, "
                       "for example 912 34 567."),
}


def problem_text(error: BadValue, locale: str) -> str:
    """What a person reads about a value that could not be read, in their language (in a
    request or not: SMS replies are worded by a sweep)."""
    return t(locale, MESSAGES.get(error.reason, MESSAGES["not_a_number"]))


def _clean(text: object) -> str:
    """The typed text, trimmed and in one Unicode form ('１２' → '12', no-break space → space);
    BadValue for what no value can be (not text, too long, control characters, empty)."""
    if not isinstance(text, str):
        raise BadValue("empty" if text is None else "not_a_number", text)
    if len(text) > MAX_CHARS:
        raise BadValue("too_long", text)
    if _CONTROL.search(text):
        raise BadValue("control", text)
    cleaned = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    if not cleaned:
        raise BadValue("empty", text)
    return cleaned


# ---- numbers ---------------------------------------------------------------------------------

def parse_decimal(text: object) -> float:
    """'70,4', '70.4', ' 70 ,4' → 70.4. Comma or point as decimal mark; a space between two
    digits ('7 2') is refused with reason 'split_number': what was meant is asked, not guessed.
    The rule is the engine's own (rules.measurements.parse_decimal), so the web, SMS, API and
    the rule engine's unit parser agree."""
    cleaned = _clean(text)
    try:
        return _engine_decimal(cleaned)
    except SplitNumber:
        raise BadValue("split_number", cleaned) from None
    except ValueError:
        raise BadValue("not_a_number", cleaned) from None


def optional_decimal(text: object) -> float | None:
    """parse_decimal, with None for an empty field."""
    return None if text is None or (isinstance(text, str) and not text.strip()) else parse_decimal(text)


def parse_integer(text: object) -> int:
    """'15' → 15; '15,0' and '1 5' are refused (a whole number is asked for)."""
    value = parse_decimal(text)
    if not value.is_integer():
        raise BadValue("not_whole", text)
    return int(value)


def format_number(value: float | None, locale: str, decimals: int | None = None, *, max_decimals: int = 3) -> str:
    """A number as people write it in this language: '70,4' (nb), '70.4' (en); '' for None.
    `decimals` fixes the number of decimals ('2,0'); without it trailing zeros are left out."""
    if value is None:
        return ""
    if decimals is not None:
        pattern = "0" if decimals == 0 else "0." + "0" * decimals
        value = round(value, decimals)
    else:
        pattern = "0" if max_decimals == 0 else "0." + "#" * max_decimals
    return format_decimal(value, format=pattern, locale=locale)


# ---- times of day ----------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_LIST = re.compile(r"[,;\s]+")


def parse_time(text: object) -> time:
    """'08:00', '8:00' or '08.00' → 08:00."""
    cleaned = _clean(text)
    match = _TIME.match(cleaned)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise BadValue("not_a_time", cleaned)
    return time(int(match[1]), int(match[2]))


def optional_time(text: object) -> time | None:
    return None if text is None or (isinstance(text, str) and not text.strip()) else parse_time(text)


def parse_times(text: object) -> tuple[time, ...]:
    """'8:00, 18.30' → (08:00, 18:30): times separated by commas, semicolons or spaces; an
    empty field is no times at all."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return ()
    cleaned = _clean(text)
    return tuple(parse_time(part) for part in _LIST.split(cleaned) if part)


def format_time(value: time) -> str:
    """08:00 — the same in both languages."""
    return value.strftime("%H:%M")


def format_times(values) -> str:
    return ", ".join(format_time(v) for v in values)


# ---- dates -----------------------------------------------------------------------------------

_DATE_NO = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TIME_AFTER = re.compile(r"^(\S+)(?:[ T]\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)$")


def parse_date(text: object, *, time_allowed: bool = False, years: tuple[int, int] = (MIN_YEAR, MAX_YEAR)) -> date:
    """'24.12.2026', '24.12.26' or '2026-12-24' → that date. With `time_allowed` a time after
    the date ('24.12.2026 08:00', '2026-12-24T08:00:00Z', as hospital exports write) is ignored.
    Two-digit years are 2000-2068 and 1969-1999 (as strptime). Years outside 1900-2200 are
    refused: nothing before or after them can be a real date here. A caller that answers a
    far-off date itself ("that day has already been") passes `years=(1, 9999)`."""
    cleaned = _clean(text)
    if time_allowed and (m := _TIME_AFTER.match(cleaned)):
        cleaned = m[1]
    if m := _DATE_NO.match(cleaned):
        day, month, year = int(m[1]), int(m[2]), m[3]
        year = int(year) if len(year) == 4 else (2000 + int(year) if int(year) < 69 else 1900 + int(year))
    elif m := _DATE_ISO.match(cleaned):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        raise BadValue("not_a_date", cleaned)
    if not years[0] <= year <= years[1]:
        raise BadValue("year_out_of_range", cleaned)
    try:
        return date(year, month, day)
    except ValueError:
        raise BadValue("no_such_day", cleaned) from None


def optional_date(text: object, *, time_allowed: bool = False) -> date | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return parse_date(text, time_allowed=time_allowed)


def format_date(value: date) -> str:
    """24.12.2026 — how dates are typed in Norway, and read back by parse_date."""
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


# ---- durations -------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\W\d_]*)")
_MINUTES_PER = {
    **dict.fromkeys(("", "m", "min", "mins", "minutt", "minutter", "minute", "minutes"), 1),
    **dict.fromkeys(("t", "h", "time", "timer", "hour", "hours", "hr", "hrs"), 60),
    **dict.fromkeys(("d", "dag", "dager", "døgn", "day", "days"), 24 * 60),
    **dict.fromkeys(("u", "uke", "uker", "w", "wk", "week", "weeks"), 7 * 24 * 60),
}
# What may stand between two parts: '1 t 30 min', '1 t, 30 min', '1 dag og 12 timer'.
_DURATION_JOINS = ("", ",", "og", "and")
_DURATION_WORDS = {"nb": ("d", "t", "min"), "en": ("d", "h", "min")}


def parse_duration(text: object) -> timedelta:
    """'30', '30 min', '2 t', '1 t 30 min', '1,5 timer', '3 d', '2 uker', '1 dag og 12 timer'
    → a duration (whole minutes). A bare number is minutes. Reads what rules.text.duration
    writes ('1 dag 12 timer', '1 hour 30 minutes')."""
    cleaned = _clean(text).lower()
    parts: list[tuple[float, int, str]] = []  # (number, minutes per unit, the unit's word)
    position = 0
    for match in _DURATION_PART.finditer(cleaned):
        join = cleaned[position:match.start()].strip()
        if (join and (not parts or join not in _DURATION_JOINS)) or match[2] not in _MINUTES_PER:
            raise BadValue("not_a_duration", cleaned)
        parts.append((float(match[1].replace(",", ".")), _MINUTES_PER[match[2]], match[2]))
        position = match.end()
    units = [per for _n, per, _w in parts]
    # '7 2' or '1 t 2 t' is no duration anyone writes: asked again, never added up.
    several_bad = len(parts) > 1 and (any(not w for _n, _p, w in parts) or len(set(units)) < len(units))
    total = sum(n * per for n, per, _w in parts)
    if not parts or cleaned[position:].strip() or several_bad or total != int(total):
        raise BadValue("not_a_duration", cleaned)
    return timedelta(minutes=int(total))


def format_duration(value: timedelta, locale: str) -> str:
    """'1 t 30 min' (nb), '1 h 30 min' (en), '0 min': read back by parse_duration."""
    minutes = int(value.total_seconds() // 60)
    words = _DURATION_WORDS["nb" if str(locale).startswith("nb") else "en"]
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {w}" for n, w in zip((days, hours, minutes), words, strict=True) if n]
    return " ".join(parts) or f"0 {words[2]}"


# ---- phone numbers ---------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"^[\d\s().+-]+$")


def parse_phone(text: object, region: str = "NO") -> str:
    """'912 34 567', '+47 912 34 567', '0047 91234567' → '+4791234567' (E.164). A number
    without a country code is taken as Norwegian. Letters are refused (no vanity numbers)."""
    return _e164(_valid_phone(text, region))


def _valid_phone(text: object, region: str) -> phonenumbers.PhoneNumber:
    cleaned = _clean(text)
    if not _PHONE_CHARS.match(cleaned):
        raise BadValue("not_a_phone", cleaned)
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise BadValue("not_a_phone", cleaned) from None
    if not phonenumbers.is_valid_number(number):
        raise BadValue("not_a_phone", cleaned)
    return number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def optional_phone(text: object, region: str = "NO") -> str | None:
    """parse_phone, with None for an empty field and for a number that cannot be read (for
    callers that only look a number up, such as an SMS sender or a sign-in)."""
    try:
        return parse_phone(text, region)
    except BadValue:
        return None


def parse_mobile_phone(text: object, region: str = "NO") -> str:
    """parse_phone for a number that must take text messages (a patient's own, which gets the
    sign-in codes and reminders; a relative's, which gets the invitation and the red alerts): a
    landline, which would never get them, is refused with reason 'not_a_mobile'."""
    number = _valid_phone(text, region)
    if phonenumbers.number_type(number) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise BadValue("not_a_mobile", text)
    return _e164(number)


def parse_norwegian_phone(text: object) -> str:
    """parse_phone, refusing numbers outside Norway (a team's own numbers)."""
    number = parse_phone(text, "NO")
    if not number.startswith("+47"):
        raise BadValue("not_norwegian_phone", text)
    return number


def format_phone(number: str | None) -> str:
    """'+4791000001' → '910 00 001': Norwegian numbers in national form (mobiles 3-2-3, as
    Norwegians write them; libphonenumber pairs them), others international. No-break spaces:
    a number is never broken over two lines."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, "NO")
    except phonenumbers.NumberParseException:
        return number
    if parsed.country_code == 47 and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE:
        digits = str(parsed.national_number)
        text = f"{digits[:3]} {digits[3:5]} {digits[5:]}"
    else:
        style = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 47
                 else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        text = phonenumbers.format_number(parsed, style)
    return text.replace(" ", "\u00a0")
