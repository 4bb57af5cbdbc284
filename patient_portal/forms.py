"""Forms of the patient portal. Messages are kind and specific: they say what is wrong
and what to do, in the user's language."""

from __future__ import annotations

import re

from flask_babel import format_decimal, lazy_gettext as _l, gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired

from rules.measurements import CATALOGUE, ITEMS, ImplausibleValue, check_item_plausible, check_plausible, parse_value


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


class MeasurementForm(FlaskForm):
    """Base for one report page; `measurement_form(item_key)` adds a field per value."""

    item_key: str = ""
    idempotency_key = HiddenField()
    # Set when the patient confirms a report identical to one sent a moment ago.
    confirm_repeat = HiddenField()

    def parsed_values(self) -> dict[str, float]:
        return {code: self._parsed[code] for code in ITEMS[self.item_key].codes}

    def validate(self, extra_validators=None) -> bool:
        self._parsed: dict[str, float] = {}
        self._split_blood_pressure()
        ok = super().validate(extra_validators)
        for code in ITEMS[self.item_key].codes:
            field = self[code]
            if field.errors:
                continue
            try:
                value = parse_value(code, field.data)
            except ValueError:
                field.errors.append(_("Write a number, for example %(example)s.",
                                      example=format_decimal(EXAMPLES[code], format="#,##0.#")))
                ok = False
                continue
            try:
                check_plausible(code, value)
            except ImplausibleValue as exc:
                field.errors.append(plausibility_message(exc, field.data))
                ok = False
                continue
            if CATALOGUE[code].decimals == 0 and value != int(value):
                # A pulse of 72,5 is a slip; rounding it silently would store a number nobody typed.
                field.errors.append(_("%(name)s is a whole number. Write it without a comma, for example "
                                      "%(example)s.", name=str(FIELD_LABELS[code]), example=EXAMPLES[code]))
                ok = False
                continue
            self._parsed[code] = value
        if ok:
            try:
                check_item_plausible(self.item_key, self._parsed)
            except ImplausibleValue as exc:
                self[exc.code].errors.append(plausibility_message(exc, self[exc.code].data))
                ok = False
        return ok


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


def measurement_form(item_key: str) -> type[MeasurementForm]:
    if item_key not in _FORM_CLASSES:
        fields = {
            code: StringField(FIELD_LABELS[code], validators=[InputRequired(_l("Write the number you measured."))])
            for code in ITEMS[item_key].codes
        }
        _FORM_CLASSES[item_key] = type(f"{item_key.title()}Form", (MeasurementForm,), {"item_key": item_key, **fields})
    return _FORM_CLASSES[item_key]


def unit_hint(code: str) -> str:
    return str(UNIT_WORDS[CATALOGUE[code].unit])


def input_mode(code: str) -> str:
    """Whole numbers get the plain number pad; decimals the pad with a comma."""
    return "numeric" if CATALOGUE[code].decimals == 0 else "decimal"
