"""The measurement catalogue: codes, units, standard codings and plausible ranges.

Values are always stored in the canonical unit listed here (see ../shared/clinical.md).
A value outside the plausible range is rejected at entry: it is far more likely a typing
slip (a pulse of 900) than a reading, and storing it would raise a false alarm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class MeasurementType:
    code: str
    unit: str
    decimals: int
    plausible_min: float
    plausible_max: float
    loinc: str
    snomed: str | None
    name_nb: str
    name_en: str
    unit_nb: str  # the unit spelled out for patients
    unit_en: str

    def name(self, locale: str) -> str:
        return self.name_nb if locale.startswith("nb") else self.name_en

    def unit_words(self, locale: str) -> str:
        return self.unit_nb if locale.startswith("nb") else self.unit_en


CATALOGUE: dict[str, MeasurementType] = {
    m.code: m
    for m in (
        MeasurementType("bp_systolic", "mmHg", 0, 50, 260, "8480-6", "271649006",
                        "Systolisk blodtrykk", "Systolic blood pressure",
                        "millimeter kvikksølv (mmHg)", "millimetres of mercury (mmHg)"),
        MeasurementType("bp_diastolic", "mmHg", 0, 30, 160, "8462-4", "271650006",
                        "Diastolisk blodtrykk", "Diastolic blood pressure",
                        "millimeter kvikksølv (mmHg)", "millimetres of mercury (mmHg)"),
        MeasurementType("pulse", "/min", 0, 25, 250, "8867-4", "364075005",
                        "Puls", "Pulse", "slag per minutt", "beats per minute"),
        MeasurementType("spo2", "%", 0, 50, 100, "59408-5", "431314004",
                        "Oksygenmetning", "Oxygen saturation", "prosent (%)", "per cent (%)"),
        MeasurementType("weight", "kg", 1, 20, 300, "29463-7", "27113001",
                        "Vekt", "Weight", "kilo (kg)", "kilograms (kg)"),
        MeasurementType("temperature", "°C", 1, 32.0, 43.0, "8310-5", "276885007",
                        "Temperatur", "Temperature", "grader celsius (°C)", "degrees Celsius (°C)"),
        MeasurementType("glucose", "mmol/L", 1, 1.0, 40.0, "15074-8", None,
                        "Blodsukker", "Blood glucose",
                        "millimol per liter (mmol/L)", "millimoles per litre (mmol/L)"),
        MeasurementType("resp_rate", "/min", 0, 4, 60, "9279-1", None,
                        "Respirasjonsfrekvens", "Respiratory rate",
                        "pust per minutt", "breaths per minute"),
    )
}


@dataclass(frozen=True)
class MeasurementItem:
    """What a patient reports on one page: one or more measurement codes taken together."""

    key: str
    codes: tuple[str, ...]
    name_nb: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_nb if locale.startswith("nb") else self.name_en


ITEMS: dict[str, MeasurementItem] = {
    i.key: i
    for i in (
        MeasurementItem("blood_pressure", ("bp_systolic", "bp_diastolic"), "Blodtrykk", "Blood pressure"),
        MeasurementItem("pulse", ("pulse",), "Puls", "Pulse"),
        MeasurementItem("spo2", ("spo2",), "Oksygenmetning", "Oxygen saturation"),
        MeasurementItem("weight", ("weight",), "Vekt", "Weight"),
        MeasurementItem("temperature", ("temperature",), "Temperatur", "Temperature"),
        MeasurementItem("glucose", ("glucose",), "Blodsukker", "Blood glucose"),
    )
}


class ImplausibleValue(ValueError):
    """A value that cannot be a real reading. `reason` is a stable key for translation."""

    def __init__(self, code: str, value: float | None, reason: str):
        super().__init__(f"{code}: {reason} ({value})")
        self.code = code
        self.value = value
        self.reason = reason  # "not_a_number", "too_low", "too_high", "diastolic_not_below_systolic"


_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
# Digits on both sides of a space: "7 2" is 72 or 7,2 or two numbers — never guessed.
_SPLIT_DIGITS = re.compile(r"\d\s+\d")


class SplitNumber(ValueError):
    """Digits separated by a space inside one number ("7 2"): what was meant is asked, not
    guessed (joining them silently made "7 2" a weight of 72 kg). `text` is as typed."""

    def __init__(self, text: str):
        super().__init__(f"digits separated by a space: {text!r}")
        self.text = text


def parse_decimal(text: str) -> float:
    """Parse a number typed by a person: comma or point as decimal mark. Spaces around the
    number and beside the decimal mark are ignored ("70 ,4"); a space between two digits is
    refused with SplitNumber (a ValueError), so every channel that reads a number refuses it."""
    if _SPLIT_DIGITS.search(text or ""):
        raise SplitNumber(text.strip())
    cleaned = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if not _NUMBER.match(cleaned):
        raise ValueError(text)
    try:
        return float(Decimal(cleaned.replace(",", ".")))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees a number
        raise ValueError(text) from exc


# A number typed with a unit after it ("70,4 kg", "165 lb", "101,3 °F") is read by
# rules.units.parse_entry, which also knows the other units a measurement may be given in.


def check_plausible(code: str, value: float) -> None:
    """Raise ImplausibleValue when the value is outside the range a real reading can take."""
    m = CATALOGUE[code]
    if value != value:  # NaN
        raise ImplausibleValue(code, value, "not_a_number")
    if value < m.plausible_min:
        raise ImplausibleValue(code, value, "too_low")
    if value > m.plausible_max:
        raise ImplausibleValue(code, value, "too_high")


def check_item_plausible(item_key: str, values: dict[str, float]) -> None:
    """Plausibility of one report, including relations between its values."""
    for code in ITEMS[item_key].codes:
        check_plausible(code, values[code])
    if item_key == "blood_pressure" and values["bp_diastolic"] >= values["bp_systolic"]:
        raise ImplausibleValue("bp_diastolic", values["bp_diastolic"], "diastolic_not_below_systolic")


def round_value(code: str, value: float) -> float:
    """Round to the precision the measurement is reported with (weight 75.14 → 75.1)."""
    return round(value, CATALOGUE[code].decimals)
