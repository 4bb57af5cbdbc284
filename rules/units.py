"""Units at entry: what a typed value means, converted to the unit it is stored in.

Values are stored in the catalogue's unit (rules.measurements.CATALOGUE: kg, °C, mmol/L …).
People and devices also use pounds, degrees Fahrenheit and mg/dL; those are understood and
converted here, with the factors of ../shared/clinical.md ("Unit conversion at entry"):

    lb → kg        × 0.45359237
    °F → °C        (F − 32) × 5/9
    mg/dL → mmol/L ÷ 18.0

and rounded to the measurement's precision (rules.measurements.round_value).

A number typed *without* a unit is asked about, never guessed, when another unit fits it
clearly better (`interpret`):

- the number is impossible in the stored unit but possible in another (temperature 101:
  not °C, but 101 °F = 38.3 °C; weight 350: not kg, but 350 lb = 158.8 kg); or
- the patient has a reference value for the measurement (the median of recent readings, or
  the dry weight), the number is possible in both units, and the other unit puts it nearer
  that reference, as a ratio (weight 165 for a patient around 74 kg: 165 kg is 2.2 times the
  reference, 165 lb = 74.8 kg almost exactly it; glucose 36 for a patient whose readings are
  5–9: 36 mmol/L is 5 times the reference, 36 mg/dL = 2.0 mmol/L 3.5 times below it). Because
  the units differ by a large factor, "nearer" is always clear: for weight the other unit is
  only nearer once the number is 1.49 times the reference, for glucose 4.24 times.

Without a reference, a number possible in the stored unit is taken in the stored unit (there
is nothing to compare it with, and nearly every reading is typed in the stored unit) unless it
is unusual in the stored unit and possible in another (`UNUSUAL_WITHOUT_REFERENCE`: a first
glucose of 36 is as likely 36 mg/dL = 2.0 mmol/L, a severe low, as 36 mmol/L; a first weight
of 165 as likely pounds as kilos): then it is asked about. A unit
typed after the number is never questioned (the converted value is shown back instead), and
a value typed with the stored unit is never asked about.

Pure: no Flask, no database, no clock. The words for people are in the portals' translation
catalogues and the SMS texts; here units are keys ("lb"), symbols ("lb") and UCUM codes
("[lb_av]").
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Callable

from babel.numbers import format_decimal

from .measurements import CATALOGUE, ImplausibleValue, check_plausible, parse_decimal, round_value
from .text import number as _fixed

LB_IN_KG = 0.45359237
MG_PER_DL_PER_MMOL_PER_L = 18.0  # glucose


@dataclass(frozen=True)
class Unit:
    """One unit a measurement can be given in. `key` is also the symbol shown to people."""

    code: str  # the measurement (rules.measurements.CATALOGUE)
    key: str  # "kg", "lb", "°C", "°F", "mmol/L", "mg/dL" …; the canonical one is CATALOGUE[code].unit
    ucum: tuple[str, ...]  # UCUM codes a device may send; the first is the one we name
    words: tuple[str, ...]  # what people type after the number: lower case, without spaces
    short: str  # the word to ask a patient to type ("lb"); "" for units people do not type
    to_canonical: Callable[[float], float]
    from_canonical: Callable[[float], float]

    @property
    def canonical(self) -> bool:
        return self.key == CATALOGUE[self.code].unit


def _same(x: float) -> float:
    return x


def _canonical(code: str, ucum: tuple[str, ...], words: tuple[str, ...], short: str) -> Unit:
    return Unit(code, CATALOGUE[code].unit, ucum, words, short, _same, _same)


# Per measurement: the canonical unit first, then the others. A unit without words is for
# devices only (grams): nobody types a weight in grams, so it is never offered as the meaning
# of a bare number.
UNITS: dict[str, tuple[Unit, ...]] = {
    "bp_systolic": (_canonical("bp_systolic", ("mm[Hg]",), ("mmhg",), "mmHg"),),
    "bp_diastolic": (_canonical("bp_diastolic", ("mm[Hg]",), ("mmhg",), "mmHg"),),
    "pulse": (_canonical("pulse", ("/min", "{beats}/min"), ("/min", "permin", "slag", "slag/min", "bpm"), "slag"),),
    "spo2": (_canonical("spo2", ("%",), ("%", "prosent"), "%"),),
    "resp_rate": (_canonical("resp_rate", ("/min", "{breaths}/min"), ("/min", "permin", "pust", "pust/min"), "pust"),),
    "weight": (
        _canonical("weight", ("kg",), ("kg", "kilo", "kilos", "kilogram"), "kg"),
        Unit("weight", "lb", ("[lb_av]",), ("lb", "lbs", "pund", "pound", "pounds"), "lb",
             lambda lb: lb * LB_IN_KG, lambda kg: kg / LB_IN_KG),
        Unit("weight", "g", ("g",), (), "", lambda g: g / 1000, lambda kg: kg * 1000),
    ),
    "temperature": (
        _canonical("temperature", ("Cel",), ("°c", "c", "celsius", "gradercelsius", "graderc"), "C"),
        Unit("temperature", "°F", ("[degF]",), ("°f", "f", "fahrenheit", "graderfahrenheit", "graderf"), "F",
             lambda f: (f - 32) * 5 / 9, lambda c: c * 9 / 5 + 32),
    ),
    "glucose": (
        _canonical("glucose", ("mmol/L",), ("mmol/l", "mmol"), "mmol"),
        Unit("glucose", "mg/dL", ("mg/dL",), ("mg/dl", "mg"), "mg",
             lambda mg: mg / MG_PER_DL_PER_MMOL_PER_L, lambda mmol: mmol * MG_PER_DL_PER_MMOL_PER_L),
    ),
}

# Above these values (stored unit), a number typed without a unit by a patient with no reference
# value is asked about when another unit fits it too: such readings are rare in the stored unit
# (glucose over 25 mmol/L, weight over 140 kg) and ordinary in the other.
UNUSUAL_WITHOUT_REFERENCE: dict[str, float] = {"glucose": 25.0, "weight": 140.0}

# Words that say "degrees" without saying which: they state no unit, so 101 grader is asked
# about like 101 alone.
NO_UNIT_WORDS: dict[str, tuple[str, ...]] = {"temperature": ("°", "grader", "degrees")}


def units_of(code: str) -> tuple[Unit, ...]:
    """The units a measurement can be given in, the canonical one first."""
    return UNITS[code]


def canonical_unit(code: str) -> Unit:
    return UNITS[code][0]


def unit(code: str, key: str) -> Unit:
    """The unit with this key for this measurement; KeyError if it has none."""
    for u in UNITS[code]:
        if u.key == key:
            return u
    raise KeyError(f"{code} has no unit {key!r}")


def by_ucum(code: str, ucum: str | None) -> Unit | None:
    """The unit a device names by its UCUM code, or None if this measurement has no such unit."""
    return next((u for u in UNITS[code] if ucum in u.ucum), None)


def has_other_units(code: str) -> bool:
    """Whether people may type this measurement in another unit than the canonical one."""
    return any(u.words for u in UNITS[code][1:])


# ---- what was typed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A number as typed, and the unit typed after it (a key of UNITS), or None for none."""

    number: float
    unit: str | None = None


class UnknownUnit(ValueError):
    """A number followed by a word that is no unit of this measurement ("165 xyz")."""

    def __init__(self, code: str, word: str):
        super().__init__(f"{code}: unknown unit {word!r}")
        self.code = code
        self.word = word  # printable, at most 12 characters, for quoting back


_ENTRY = re.compile(r"^(?P<number>[+-]?[\d\s.,]*\d)\s*(?P<unit>[^\d\s].*)?$", re.S)


def _unit_word(text: str) -> str:
    return "".join(text.split()).lower()


def unit_of_word(code: str, word: str) -> Unit | None | bool:
    """The unit a typed word names: a Unit; None when it names none on purpose ("grader");
    False when it is not a unit word of this measurement."""
    word = _unit_word(unicodedata.normalize("NFKC", word))
    if word in NO_UNIT_WORDS.get(code, ()):
        return None
    return next((u for u in UNITS[code] if word in u.words), False)


def parse_entry(code: str, text: str) -> Entry:
    """A value typed for this measurement: '70,4', '70,4 kg', '165 lb', '101,3 °F', '36 mg/dL'.

    Comma or point as decimal mark, spaces ignored (rules.measurements.parse_decimal). Raises
    ValueError without a number, UnknownUnit (a ValueError) for a word that is no unit here.
    """
    if not isinstance(text, str):
        raise ValueError(text)
    # NFKC: '℉' → '°F', non-breaking spaces → spaces, full-width digits → digits.
    match = _ENTRY.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise ValueError(text)
    number = parse_decimal(match["number"])
    if match["unit"] is None:
        return Entry(number)
    found = unit_of_word(code, match["unit"])
    if found is False:
        word = "".join(c for c in match["unit"] if c.isprintable()).strip()[:12]
        if not word:
            raise ValueError(text)
        raise UnknownUnit(code, word)
    return Entry(number, found.key if isinstance(found, Unit) else None)


# ---- what it means --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A typed number taken in one unit: `value` is in the canonical unit, rounded."""

    code: str
    number: float  # as typed
    unit: str  # key of the unit it is taken in
    value: float  # canonical unit, rounded to the measurement's precision

    @property
    def converted(self) -> bool:
        return self.unit != CATALOGUE[self.code].unit


def convert(code: str, number: float, unit_key: str) -> float:
    """A number in this unit, in the canonical unit (not rounded)."""
    return unit(code, unit_key).to_canonical(number)


def reading(code: str, number: float, unit_key: str) -> Reading:
    """The number taken in this unit. Raises ImplausibleValue when the converted value cannot be
    a real reading (its `value`: the number as typed in the canonical unit, else the converted
    value), KeyError for a unit the code has not."""
    value = round_value(code, convert(code, number, unit_key))
    try:
        check_plausible(code, value)
    except ImplausibleValue as exc:
        shown = number if unit_key == CATALOGUE[code].unit else value
        raise ImplausibleValue(code, shown, exc.reason) from None
    return Reading(code, number, unit_key, value)


@dataclass(frozen=True)
class Interpretation:
    """What an entry can mean. `choices` are readings that can be real, the canonical first."""

    entry: Entry
    choices: tuple[Reading, ...]

    @property
    def ask(self) -> bool:
        """True when the patient must say which unit was meant before anything is stored."""
        return self.entry.unit is None and (len(self.choices) > 1 or self.choices[0].converted)

    @property
    def reading(self) -> Reading:
        """The one meaning of an entry that is not asked about."""
        if self.ask:
            raise ValueError("the unit must be asked about first")
        return self.choices[0]


def interpret(code: str, entry: Entry, reference: float | None = None, *,
              patient_known: bool = True) -> Interpretation:
    """What a typed value means, given the patient's reference value for the measurement
    (None when there is none). Raises ImplausibleValue when it can mean no real reading: for
    a unit typed, the converted value's problem; without one, the canonical unit's.

    `patient_known=False` (an SMS parsed before its sender is looked up): only a number that fits
    no unit but another is asked about here; the caller asks again once it knows the patient."""
    if entry.unit is not None:
        return Interpretation(entry, (reading(code, entry.number, entry.unit),))
    typed_units = [u for u in UNITS[code] if u.canonical or u.words]
    possible = []
    for u in typed_units:
        try:
            possible.append(reading(code, entry.number, u.key))
        except ImplausibleValue:
            continue
    if not possible:
        reading(code, entry.number, CATALOGUE[code].unit)  # raises the canonical unit's problem
        raise AssertionError("unreachable")  # pragma: no cover
    canonical = possible[0] if not possible[0].converted else None
    if canonical is None:
        return Interpretation(entry, tuple(possible))
    if reference is None or not reference > 0 or not math.isfinite(reference):
        unusual = UNUSUAL_WITHOUT_REFERENCE.get(code)
        if patient_known and unusual is not None and canonical.value > unusual:
            return Interpretation(entry, tuple(possible))
        return Interpretation(entry, (canonical,))
    nearer = [r for r in possible[1:] if _distance(r.value, reference) < _distance(canonical.value, reference)]
    return Interpretation(entry, (canonical, *nearer))


def typed_number(number: float, locale: str) -> str:
    """A number as people type it, in this language: '165', '101,3'."""
    return format_decimal(number, format="0.###", locale=locale)


def value_number(reading: Reading, locale: str) -> str:
    """A reading's canonical value at the measurement's precision: '74,8', '2,0'."""
    return _fixed(reading.value, CATALOGUE[reading.code].decimals, locale)


def _distance(value: float, reference: float) -> float:
    """How far a value is from the reference, as a ratio either way (2 × and ½ are as far)."""
    return abs(math.log(value / reference))


__all__ = [
    "LB_IN_KG",
    "MG_PER_DL_PER_MMOL_PER_L",
    "NO_UNIT_WORDS",
    "UNUSUAL_WITHOUT_REFERENCE",
    "UNITS",
    "Entry",
    "Interpretation",
    "Reading",
    "Unit",
    "UnknownUnit",
    "by_ucum",
    "canonical_unit",
    "convert",
    "has_other_units",
    "interpret",
    "parse_entry",
    "reading",
    "unit",
    "unit_of_word",
    "typed_number",
    "units_of",
    "value_number",
]
