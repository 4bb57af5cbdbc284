"""Units at entry (rules/units.py): lb, °F and mg/dL are understood and converted with the
factors of shared/clinical.md; a number typed without a unit is asked about, never guessed,
when another unit fits it clearly better."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from rules import units
from rules.measurements import CATALOGUE, ImplausibleValue, check_plausible
from tests.conftest import examples

SETTINGS = settings(max_examples=examples(300), deadline=None)
CODES = sorted(units.UNITS)
OTHER = ["weight", "temperature", "glucose"]  # the measurements with other units


def test_importing_the_units_does_not_pull_in_web_or_database_libraries():
    code = ("import sys, rules.units\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('flask', 'sqlalchemy', 'sqlmodel', 'werkzeug'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_measurement_has_its_canonical_unit_first():
    assert set(units.UNITS) == set(CATALOGUE)
    for code, own in units.UNITS.items():
        assert own[0].key == CATALOGUE[code].unit and own[0].canonical
        assert all(not u.canonical and u.code == code for u in own[1:])
    assert [code for code in CATALOGUE if units.has_other_units(code)] == ["weight", "temperature", "glucose"]


def test_conversion_factors_are_clinical_md_s():
    assert units.convert("weight", 165, "lb") == pytest.approx(165 * 0.45359237)
    assert units.convert("temperature", 101.3, "°F") == pytest.approx((101.3 - 32) * 5 / 9)
    assert units.convert("glucose", 36, "mg/dL") == pytest.approx(36 / 18.0)
    assert units.convert("weight", 74800, "g") == pytest.approx(74.8)


@pytest.mark.parametrize(("code", "number", "unit", "value"), [
    ("weight", 165, "lb", 74.8),
    ("temperature", 101.3, "°F", 38.5),
    ("temperature", 101, "°F", 38.3),
    ("glucose", 36, "mg/dL", 2.0),  # a severe hypo, not 36 mmol/L
    ("glucose", 126, "mg/dL", 7.0),
    ("weight", 74.84, "kg", 74.8),
])
def test_a_reading_is_converted_and_rounded_to_the_measurements_precision(code, number, unit, value):
    reading = units.reading(code, number, unit)
    assert reading.value == value and reading.number == number
    assert reading.converted == (unit != CATALOGUE[code].unit)


@pytest.mark.parametrize(("code", "text", "entry"), [
    ("weight", "70,4", units.Entry(70.4)),
    ("weight", "70,4 kg", units.Entry(70.4, "kg")),
    ("weight", "70.4kilo", units.Entry(70.4, "kg")),
    ("weight", "165 lb", units.Entry(165, "lb")),
    ("weight", "165LBS", units.Entry(165, "lb")),
    ("weight", "165 pund", units.Entry(165, "lb")),
    ("temperature", "101,3 °F", units.Entry(101.3, "°F")),
    ("temperature", "101,3 ℉", units.Entry(101.3, "°F")),  # the one-character sign, NFKC
    ("temperature", "101 f", units.Entry(101, "°F")),
    ("temperature", "101 fahrenheit", units.Entry(101, "°F")),
    ("temperature", "37,8 °C", units.Entry(37.8, "°C")),
    ("temperature", "37,8 ° C", units.Entry(37.8, "°C")),
    ("temperature", "37,8 grader", units.Entry(37.8)),  # "degrees" names no unit
    ("temperature", "37,8°", units.Entry(37.8)),
    ("glucose", "36 mg/dL", units.Entry(36, "mg/dL")),
    ("glucose", "36 mg / dl", units.Entry(36, "mg/dL")),
    ("glucose", "36 mg", units.Entry(36, "mg/dL")),
    ("glucose", "6,4 mmol/l", units.Entry(6.4, "mmol/L")),
    ("pulse", "72 slag", units.Entry(72, "/min")),
    ("spo2", "96 %", units.Entry(96, "%")),
    ("bp_systolic", "135 mm Hg", units.Entry(135, "mmHg")),
    ("weight", "70\u00a0,4", units.Entry(70.4)),  # a non-breaking space from a phone
])
def test_a_value_is_read_with_an_optional_unit_after_it(code, text, entry):
    assert units.parse_entry(code, text) == entry


@pytest.mark.parametrize(("code", "text"), [("weight", "165 xyz"), ("weight", "165 F"), ("temperature", "38 lb"),
                                            ("glucose", "6 kg"), ("pulse", "72 lb")])
def test_a_word_that_is_no_unit_of_the_measurement_is_named_back(code, text):
    with pytest.raises(units.UnknownUnit) as info:
        units.parse_entry(code, text)
    assert info.value.word == text.split()[1]


@pytest.mark.parametrize("text", ["", "sytti", "kg", "\x00", "70\x00", "\x0070", "1/2", "lb 165"])
def test_anything_without_a_number_first_is_not_a_value(text):
    with pytest.raises(ValueError):
        units.parse_entry("weight", text)


def test_a_number_that_fits_pounds_better_than_the_patients_weight_is_asked_about():
    asked = units.interpret("weight", units.Entry(165), reference=74.0)
    assert asked.ask
    assert [(r.unit, r.value) for r in asked.choices] == [("kg", 165.0), ("lb", 74.8)]
    assert not units.interpret("weight", units.Entry(76), reference=74.0).ask
    assert not units.interpret("weight", units.Entry(100), reference=74.0).ask  # nearer in kg: a weight to check
    with pytest.raises(ValueError):
        asked.reading  # noqa: B018 - nothing is taken before the patient says


def test_glucose_36_from_a_patient_whose_readings_are_5_to_9_is_asked_about():
    asked = units.interpret("glucose", units.Entry(36), reference=7.0)
    assert asked.ask and [(r.unit, r.value) for r in asked.choices] == [("mmol/L", 36.0), ("mg/dL", 2.0)]
    assert not units.interpret("glucose", units.Entry(25), reference=7.0).ask  # nearer as mmol/L: a real high


def test_a_temperature_impossible_in_celsius_but_possible_in_fahrenheit_is_asked_about():
    for reference in (None, 37.0):
        asked = units.interpret("temperature", units.Entry(101), reference=reference)
        assert asked.ask and [(r.unit, r.value) for r in asked.choices] == [("°F", 38.3)]
    for number in range(95, 110):  # 110 °F = 43.3 °C: too high in either unit
        assert units.interpret("temperature", units.Entry(number)).ask


def test_without_a_reference_an_ordinary_number_is_taken_in_the_stored_unit():
    for code, number in (("weight", 82), ("weight", 140), ("glucose", 12.5), ("glucose", 25), ("temperature", 37.8)):
        meaning = units.interpret(code, units.Entry(number))
        assert not meaning.ask and meaning.reading.unit == CATALOGUE[code].unit and meaning.reading.value == number


def test_without_a_reference_an_unusual_number_that_another_unit_fits_is_asked_about():
    asked = units.interpret("glucose", units.Entry(36))  # a first reading: 36 mmol/L, or a severe low?
    assert asked.ask and [(r.unit, r.value) for r in asked.choices] == [("mmol/L", 36.0), ("mg/dL", 2.0)]
    asked = units.interpret("weight", units.Entry(165))
    assert asked.ask and [(r.unit, r.value) for r in asked.choices] == [("kg", 165.0), ("lb", 74.8)]


def test_a_number_impossible_in_every_unit_is_refused_with_the_stored_units_problem():
    with pytest.raises(ImplausibleValue) as info:
        units.interpret("weight", units.Entry(740))  # 740 lb = 335.7 kg: too much as well
    assert (info.value.reason, info.value.value) == ("too_high", 740)
    with pytest.raises(ImplausibleValue) as info:
        units.interpret("weight", units.Entry(1000, "lb"))  # typed in pounds: the converted value
    assert (info.value.reason, info.value.value) == ("too_high", 453.6)


def test_grams_are_for_devices_only_and_never_offered_for_a_bare_number():
    assert units.by_ucum("weight", "g").key == "g"
    with pytest.raises(ImplausibleValue):
        units.interpret("weight", units.Entry(74000), reference=74.0)
    with pytest.raises(units.UnknownUnit):
        units.parse_entry("weight", "74000 g")


def test_ucum_codes():
    assert units.by_ucum("weight", "[lb_av]").key == "lb"
    assert units.by_ucum("temperature", "[degF]").key == "°F"
    assert units.by_ucum("glucose", "mg/dL").key == "mg/dL"
    assert units.by_ucum("glucose", "mmol/L").canonical
    assert units.by_ucum("temperature", "K") is None and units.by_ucum("pulse", "[lb_av]") is None


def test_numbers_are_written_as_people_write_them():
    reading = units.reading("glucose", 36, "mg/dL")
    assert units.value_number(reading, "nb") == "2,0" and units.value_number(reading, "en") == "2.0"
    assert units.typed_number(101.3, "nb") == "101,3" and units.typed_number(165.0, "nb") == "165"


# ---- properties ------------------------------------------------------------------------------

def _plausible(code: str):
    m = CATALOGUE[code]
    return st.floats(m.plausible_min, m.plausible_max, allow_nan=False)


@SETTINGS
@given(st.data())
def test_conversions_round_trip(data):
    code = data.draw(st.sampled_from(CODES))
    value = data.draw(_plausible(code))
    for u in units.units_of(code):
        assert u.to_canonical(u.from_canonical(value)) == pytest.approx(value, rel=1e-12, abs=1e-9)
        assert u.from_canonical(u.to_canonical(value)) == pytest.approx(value, rel=1e-12, abs=1e-9)


@SETTINGS
@given(st.data())
def test_a_value_typed_with_its_canonical_unit_is_never_asked_about(data):
    code = data.draw(st.sampled_from(CODES))
    number = data.draw(st.floats(-1000, 100000, allow_nan=False))
    reference = data.draw(st.none() | st.floats(0.001, 1e6))
    try:
        meaning = units.interpret(code, units.Entry(number, CATALOGUE[code].unit), reference)
    except ImplausibleValue:
        return
    assert not meaning.ask and not meaning.reading.converted


@SETTINGS
@given(st.data())
def test_a_converted_value_is_always_plausible_or_refused(data):
    code = data.draw(st.sampled_from(CODES))
    unit = data.draw(st.sampled_from(units.units_of(code)))
    number = data.draw(st.floats(-1e6, 1e6, allow_nan=False))
    typed = data.draw(st.sampled_from([unit.key, None]))
    reference = data.draw(st.none() | st.floats(0.001, 1e6))
    try:
        meaning = units.interpret(code, units.Entry(number, typed), reference)
    except ImplausibleValue:
        return
    assert meaning.choices
    for reading in meaning.choices:
        check_plausible(code, reading.value)  # raises if not


@SETTINGS
@given(st.data())
def test_a_bare_number_is_asked_about_exactly_when_another_unit_is_nearer_or_the_only_one(data):
    code = data.draw(st.sampled_from(OTHER))
    number = data.draw(st.floats(0.5, 800, allow_nan=False))
    reference = data.draw(_plausible(code))
    try:
        meaning = units.interpret(code, units.Entry(number), reference)
    except ImplausibleValue:
        return
    canonical = next((r for r in meaning.choices if not r.converted), None)
    if canonical is not None and meaning.ask:
        other = meaning.choices[1]
        assert abs(math.log(other.value / reference)) < abs(math.log(canonical.value / reference))
    if not meaning.ask:
        assert meaning.reading.unit == CATALOGUE[code].unit


@SETTINGS
@given(st.data())
def test_a_typed_value_with_a_unit_word_parses_back(data):
    code = data.draw(st.sampled_from(OTHER))
    unit = data.draw(st.sampled_from([u for u in units.units_of(code) if u.words]))
    word = data.draw(st.sampled_from(unit.words))
    number = data.draw(st.integers(1, 9999)) / 10
    text = f"{number}".replace(".", data.draw(st.sampled_from([",", "."]))) + data.draw(st.sampled_from(["", " "])) \
        + data.draw(st.sampled_from([word, word.upper()]))
    assert units.parse_entry(code, text) == units.Entry(number, unit.key)


@SETTINGS
@given(st.text(max_size=30))
def test_parsing_never_fails_with_anything_but_value_error(text):
    """Any text gives an Entry with a real number and a unit of that measurement, or a
    ValueError (which the forms turn into a message); never another exception."""
    for code in OTHER:
        try:
            entry = units.parse_entry(code, text)
        except ValueError:
            continue
        assert isinstance(entry.number, float) and math.isfinite(entry.number)
        assert entry.unit is None or entry.unit in {u.key for u in units.units_of(code)}
