"""Forms of the patient portal. Messages are kind and specific: they say what is wrong
and what to do, in the user's language."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Callable

from flask_babel import format_decimal, get_locale, lazy_gettext as _l, gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Optional, ValidationError

from homefollow import values
from rules import units
from rules.measurements import CATALOGUE, ITEMS, ImplausibleValue, SplitNumber, check_item_plausible


class LoginForm(FlaskForm):
    login = StringField(_l("Mobile number"), validators=[InputRequired(_l("Write your mobile number."))])
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Write your password."))])
    remember = BooleanField(_l("Keep me signed in on this phone"))


FIELD_LABELS = {
    "bp_systolic": _l("Upper number (systolic)"),
    "bp_diastolic": _l("Lower number (diastolic)"),
    "pulse": _l("Pulse"),
    "spo2": _l("Oxygen saturation"),
    "weight": _l("Weight"),
    "temperature": _l("Temperature"),
    "glucose": _l("Blood sugar"),
}

UNIT_WORDS = {
    "mmHg": _l("millimetres of mercury (mmHg)"),
    "/min": _l("beats per minute"),
    "%": _l("per cent (%)"),
    "kg": _l("kilograms (kg)"),
    "°C": _l("degrees Celsius (°C)"),
    "mmol/L": _l("millimoles per litre (mmol/L)"),
}

EXAMPLES = {"bp_systolic": 135, "bp_diastolic": 85, "pulse": 72, "spo2": 95, "weight": 74.5, "temperature": 37.2,
            "glucose": 6.4}


def mobile_number(_form, field) -> None:
    """Validator of a number that must take text messages: `field.value` is the number as stored
    (+47…). A landline is named as one, since it would never get them."""
    field.value = None
    try:
        field.value = values.parse_mobile_phone(field.data)
    except values.BadValue as error:
        raise ValidationError(values.problem_text(error, str(get_locale())) if error.reason == "not_a_mobile"
                              else _("This is not a Norwegian mobile number. Write it like 912 34 567.")) from None


def plausibility_message(error: ImplausibleValue, typed: str | None = None) -> str:
    """'You wrote 900. Pulse can be at most 250 beats per minute. …' — quoting what was typed,
    so a slip like 0.96 for 96 is easy to see."""
    m = CATALOGUE[error.code]
    if error.reason == "diastolic_not_below_systolic":
        return _("The lower number must be smaller than the upper number. Please check both numbers.")
    params = {
        "typed": (typed or "").strip() or format_decimal(error.value, format="#,##0.##"),
        "name": str(FIELD_LABELS.get(error.code, error.code)),
        "unit": str(UNIT_WORDS[m.unit]),
        "min": format_decimal(m.plausible_min, format="#,##0.#"),
        "max": format_decimal(m.plausible_max, format="#,##0.#"),
    }
    if error.reason == "too_low":
        return _("You wrote %(typed)s. %(name)s cannot be lower than %(min)s %(unit)s. "
                 "Please check the number, and measure again if needed.", **params)
    return _("You wrote %(typed)s. %(name)s cannot be higher than %(max)s %(unit)s. "
             "Please check the number, and measure again if needed.", **params)


def split_number_message(error: SplitNumber, code: str) -> str:
    """'You wrote "7 2" with a space inside the number. Did you mean 72 or 7,2? …': the
    patient says what was meant; the digits are never joined silently."""
    groups = error.text.split()
    if CATALOGUE[code].decimals and len(groups) == 2 and all(g.isdigit() for g in groups):
        return _("You wrote \"%(typed)s\" with a space inside the number. Did you mean %(joined)s or %(decimal)s? "
                 "Write the number again without the space.", typed=error.text, joined="".join(groups),
                 decimal=format_decimal(float(f"{groups[0]}.{groups[1]}"), format="0.###"))
    return _("You wrote \"%(typed)s\" with a space inside the number. What did you mean? Write the number again "
             "without the space, for example %(example)s.", typed=error.text,
             example=format_decimal(EXAMPLES[code], format="#,##0.#"))


# The units a value can be typed in, as people say them ("Du skrev 165 pund. Det er 74,8 kilo.").
UNIT_NAMES = {
    "kg": _l("kilograms"),
    "lb": _l("pounds"),
    "°C": _l("degrees Celsius"),
    "°F": _l("degrees Fahrenheit"),
    "mmol/L": _l("mmol/L"),
    "mg/dL": _l("mg/dL"),
}


@dataclass(frozen=True)
class UnitQuestion:
    """A value whose unit the patient must confirm before it is stored: typed in another unit
    than the one we store ("165 lb"), or without a unit when another fits clearly better
    (rules.units.interpret)."""

    code: str
    typed: str  # the text as typed, kept in a hidden field
    interpretation: units.Interpretation

    def _number(self) -> str:
        return units.typed_number(self.interpretation.entry.number, str(get_locale()))

    def _typed(self, reading: units.Reading) -> str:
        return f"{self._number()} {UNIT_NAMES[reading.unit]}"

    def _converted(self, reading: units.Reading) -> str:
        return f"{units.value_number(reading, str(get_locale()))} {UNIT_NAMES[CATALOGUE[self.code].unit]}"

    def _send(self, reading: units.Reading) -> str:
        return _("Yes, send %(value)s", value=f"{units.value_number(reading, str(get_locale()))}\u00a0"
                                             f"{CATALOGUE[self.code].unit}")

    def sentences(self) -> list[str]:
        """What the patient reads: what was typed, what it is in our unit, and the question."""
        choices = self.interpretation.choices
        first = choices[0]
        if self.interpretation.entry.unit is not None:  # "165 lb": show the conversion back
            return [_("You wrote %(typed)s. That is %(converted)s.", typed=self._typed(first),
                      converted=self._converted(first)), _("Is that right?")]
        if len(choices) == 1:  # "101": impossible in °C, possible in °F
            return [_("You wrote %(number)s. That cannot be %(unit)s.", number=self._number(),
                      unit=UNIT_NAMES[CATALOGUE[self.code].unit]),
                    _("Did you mean %(typed)s? That is %(converted)s.", typed=self._typed(first),
                      converted=self._converted(first))]
        return [_("Did you mean %(first)s, or %(second)s?", first=self._label(choices[0]),
                  second=self._label(choices[1])),
                _("Press the one you meant. Nothing is sent before you do.")]

    def _label(self, reading: units.Reading) -> str:
        if reading.converted:
            return f"{self._typed(reading)} ({self._converted(reading)})"
        return self._typed(reading)

    def buttons(self) -> list[tuple[str, str]]:
        """(unit key, label) for each answer that sends the value."""
        choices = self.interpretation.choices
        if len(choices) == 1:
            return [(choices[0].unit, self._send(choices[0]))]
        return [(r.unit, self._label(r)) for r in choices]


class MeasurementForm(FlaskForm):
    """Base for one report page; `measurement_form(item_key)` adds a field per value."""

    item_key: str = ""
    # Values of other measurement items that may be typed on this page too, each its own
    # report (the pulse on the blood-pressure page: one cuff gives both). Left empty, nothing.
    also_items: tuple[str, ...] = ()
    idempotency_key = HiddenField()
    # Set when the patient confirms a report identical to one sent a moment ago.
    confirm_repeat = HiddenField()
    # The unit the patient confirmed (a rules.units key) for the value typed as `unit_for`: it
    # holds only while that value is unchanged. The answer buttons of a UnitQuestion post it.
    unit = HiddenField()
    unit_for = HiddenField()

    # The patient's usual value of a measurement (homefollow.services.unit_check), which a
    # number typed without a unit is checked against. Set by the view; none by default.
    reference_for: Callable[[str], float | None] = staticmethod(lambda code: None)
    question: UnitQuestion | None = None  # set by validate()

    @property
    def codes(self) -> tuple[str, ...]:
        """The value fields of the page: the item's, then those of `also_items`."""
        return ITEMS[self.item_key].codes + tuple(c for item in self.also_items for c in ITEMS[item].codes)

    def parsed_values(self) -> dict[str, float]:
        return {code: self._parsed[code] for code in ITEMS[self.item_key].codes}

    def also_values(self) -> dict[str, dict[str, float]]:
        """The other items typed on this page (item key -> values); an item left empty is absent."""
        return {item: {code: self._parsed[code] for code in ITEMS[item].codes}
                for item in self.also_items if all(code in self._parsed for code in ITEMS[item].codes)}

    def readings_of(self, item_key: str) -> list[units.Reading]:
        return [r for code, r in self._readings.items() if code in ITEMS[item_key].codes]

    def readings(self) -> list[units.Reading]:
        """What was typed and how it was taken, for the record."""
        return list(self._readings.values())

    @property
    def unit_asked(self) -> bool:
        """True when the patient answered a question about the unit (or confirmed a conversion)."""
        return bool(self._confirmed)

    def validate(self, extra_validators=None) -> bool:
        """True when every value is understood. Then `question` may still be set: a unit to
        confirm before anything is stored."""
        self._parsed: dict[str, float] = {}
        self._readings: dict[str, units.Reading] = {}
        self._confirmed: set[str] = set()
        self.question: UnitQuestion | None = None
        self._only_text()
        self._split_blood_pressure()
        ok = super().validate(extra_validators)
        for code in self.codes:
            field = self[code]
            if field.errors or (code not in ITEMS[self.item_key].codes and code not in self._garbled
                                and not (field.data or "").strip()):
                continue  # an error already, or an optional value left empty
            example = format_decimal(EXAMPLES[code], format="#,##0.#")
            if code in self._garbled:
                field.errors.append(_("Write a number, for example %(example)s.", example=example))
                ok = False
                continue
            try:
                entry = units.parse_entry(code, field.data)
            except SplitNumber as exc:
                field.errors.append(split_number_message(exc, code))
                ok = False
                continue
            except units.UnknownUnit as exc:
                field.errors.append(_("We did not understand \"%(word)s\" after the number. Write only the number, "
                                      "for example %(example)s.", word=exc.word, example=example))
                ok = False
                continue
            except ValueError:
                field.errors.append(_("Write a number, for example %(example)s.", example=example))
                ok = False
                continue
            try:
                meaning = self._meaning(code, entry, field.data.strip())
            except ImplausibleValue as exc:
                field.errors.append(plausibility_message(exc, field.data))
                ok = False
                continue
            if CATALOGUE[code].decimals == 0 and entry.number != int(entry.number):
                # A pulse of 72,5 is a slip; rounding it silently would store a number nobody typed.
                field.errors.append(_("%(name)s is a whole number. Write it without a comma, for example "
                                      "%(example)s.", name=str(FIELD_LABELS[code]), example=EXAMPLES[code]))
                ok = False
                continue
            if meaning.ask or (meaning.reading.converted and code not in self._confirmed):
                self.question = UnitQuestion(code, field.data.strip(), meaning)
                continue
            self._readings[code] = meaning.reading
            self._parsed[code] = meaning.reading.value
        if ok and self.question is None:
            try:
                check_item_plausible(self.item_key, self._parsed)
                for item, values in self.also_values().items():
                    check_item_plausible(item, values)
            except ImplausibleValue as exc:
                self[exc.code].errors.append(plausibility_message(exc, self[exc.code].data))
                ok = False
        return ok

    def _meaning(self, code: str, entry: units.Entry, typed: str) -> units.Interpretation:
        """The unit the patient confirmed for exactly this text, else what the text means."""
        chosen = (self.unit.data or "").strip() if (self.unit_for.data or "").strip() == typed else ""
        if chosen and entry.unit in (None, chosen) and chosen in {u.key for u in units.units_of(code)}:
            self._confirmed.add(code)
            return units.Interpretation(units.Entry(entry.number, chosen), (units.reading(code, entry.number, chosen),))
        return units.interpret(code, entry, self.reference_for(code) if entry.unit is None else None)

    def _only_text(self) -> None:
        """A value field holds printable text. Anything else (a file sent in its place, control
        characters) is no number: it is refused, and not shown back as it came."""
        self._garbled: set[str] = set()
        for code in self.codes:
            field = self[code]
            if isinstance(field.data, str):  # NFKC: a non-breaking space from a phone is a space
                field.data = unicodedata.normalize("NFKC", field.data)
            if field.data is None or (isinstance(field.data, str) and field.data.isprintable()):
                continue
            self._garbled.add(code)
            text = field.data if isinstance(field.data, str) else ""
            field.data = "".join(c for c in text if c.isprintable())
        for field in (self.unit, self.unit_for, self.idempotency_key, self.confirm_repeat):
            if not isinstance(field.data, str):
                field.data = ""

    def _split_blood_pressure(self) -> None:
        """'135/85' typed in the upper field, the lower left empty: the way the monitor shows it."""
        if self.item_key != "blood_pressure" or (self.bp_diastolic.data or "").strip():
            return
        match = _BP_PAIR.match(self.bp_systolic.data or "")
        if match:
            self.bp_systolic.data, self.bp_diastolic.data = match.group(1), match.group(2)
            self.bp_diastolic.raw_data = [match.group(2)]  # what InputRequired looks at


_BP_PAIR = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*$")
_FORM_CLASSES: dict[str, type[MeasurementForm]] = {}


# Other items a report page also takes, left empty when not measured: the blood-pressure
# monitor shows the pulse too, so it is typed on the same page (and still has its own page).
ALSO_ITEMS: dict[str, tuple[str, ...]] = {"blood_pressure": ("pulse",)}
OPTIONAL_LABELS = {"pulse": _l("Pulse (if the monitor shows it)")}


def measurement_form(item_key: str) -> type[MeasurementForm]:
    if item_key not in _FORM_CLASSES:
        fields = {
            code: StringField(FIELD_LABELS[code], validators=[InputRequired(_l("Write the number you measured."))])
            for code in ITEMS[item_key].codes
        }
        also = ALSO_ITEMS.get(item_key, ())
        for item in also:
            for code in ITEMS[item].codes:
                fields[code] = StringField(OPTIONAL_LABELS.get(code, FIELD_LABELS[code]), validators=[Optional()])
        _FORM_CLASSES[item_key] = type(f"{item_key.title()}Form", (MeasurementForm,),
                                       {"item_key": item_key, "also_items": also, **fields})
    return _FORM_CLASSES[item_key]


def unit_hint(code: str) -> str:
    return str(UNIT_WORDS[CATALOGUE[code].unit])


def input_mode(code: str) -> str:
    """Whole numbers get the plain number pad; decimals the pad with a comma."""
    return "numeric" if CATALOGUE[code].decimals == 0 else "decimal"
