"""Forms for the team settings pages. They only carry and render the values (with CSRF);
homefollow.services.team_settings checks them and says what is wrong with which field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.widgets import CheckboxInput, ListWidget

from homefollow.services.teams import WEEKDAY_KEYS

DAY_NAMES = {"mon": _l("Monday"), "tue": _l("Tuesday"), "wed": _l("Wednesday"), "thu": _l("Thursday"),
             "fri": _l("Friday"), "sat": _l("Saturday"), "sun": _l("Sunday")}
ROLE_CHOICES = [("nurse", _l("Nurse")), ("coordinator", _l("Coordinator")), ("physician", _l("Physician")),
                ("gp", _l("GP")), ("team_admin", _l("Team admin"))]
PEOPLE_PER_SHIFT = 3


class CheckboxesField(SelectMultipleField):
    """Several checkboxes; rendered by the template as a fieldset with a legend."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:  # values are checked by the service, with our own messages
        pass


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _select(label, pairs=None) -> SelectField:
    return SelectField(label, choices=choices(pairs or []), validate_choice=False)


class OpeningDayForm(Form):
    opens = StringField(_l("Opens"))
    closes = StringField(_l("Closes"))


def _day(key: str) -> FormField:
    # separator "_": the inputs are named mon_opens, mon_closes, … as before
    return FormField(OpeningDayForm, label=DAY_NAMES[key], separator="_")


class OpeningHoursForm(FlaskForm):
    mon, tue, wed, thu, fri = _day("mon"), _day("tue"), _day("wed"), _day("thu"), _day("fri")
    sat, sun = _day("sat"), _day("sun")

    def days(self) -> list[FormField]:
        """The weekdays in order, Monday first."""
        return [self[key] for key in WEEKDAY_KEYS]


class PhonesForm(FlaskForm):
    phone = StringField(_l("Team phone (for patients, in opening hours)"))
    on_call_phone = StringField(_l("On-call phone"))
    out_of_hours_phone = StringField(_l("Phone for patients when the team is closed"))


class RotaRowForm(Form):
    role = _select(_l("Role"), ROLE_CHOICES)
    people = FieldList(_select(_l("Person")), min_entries=PEOPLE_PER_SHIFT)
    weekdays = CheckboxesField(_l("Shift starts on"), choices=choices((str(i), DAY_NAMES[d]) for i, d in enumerate(WEEKDAY_KEYS)))
    shift_start = StringField(_l("Starts at"))
    shift_end = StringField(_l("Ends at"))
    start_date = StringField(_l("First shift on"))
    handover = _select(_l("Handover"), [("daily", _l("Next person each shift")),
                                         ("weekly", _l("Next person each week"))])


class RotaForm(FlaskForm):
    rota = FieldList(FormField(RotaRowForm))


# Short, complete labels: a select is as wide as the form allows, and a long label was cut off
# ("Den som har vakt for r…"). The help text above the steps says what role and person mean.
TARGET_CHOICES = [("", _l("(not used)")), ("on_call", _l("On call, by role")),
                  ("role", _l("Everyone in a role")), ("person", _l("A named person")),
                  ("phone", _l("A fixed number")), ("queue_only", _l("Nobody (queue only)"))]


class TargetRowForm(Form):
    kind = _select(_l("Who is paged"), TARGET_CHOICES)
    role = _select(_l("Role"), ROLE_CHOICES)
    person = _select(_l("Person"))
    number = StringField(_l("Phone number"))
    label = StringField(_l("Name of the number"))


class StepRowForm(TargetRowForm):
    channels = CheckboxesField(_l("Channels"), choices=choices([("sms", _l("SMS")), ("email", _l("E-mail"))]))
    severities = CheckboxesField(_l("For alerts"), choices=choices([("yellow", _l("Yellow")), ("red", _l("Red"))]))
    when = _select(_l("When"), [("always", _l("At any time")), ("in_opening_hours", _l("In opening hours")),
                                ("outside_opening_hours", _l("Outside opening hours"))])
    wait_yellow = StringField(_l("Minutes to the next step, yellow"))
    wait_red = StringField(_l("Minutes to the next step, red"))


class PolicyForm(FlaskForm):
    name = StringField(_l("Name of the policy"))
    steps = FieldList(FormField(StepRowForm))
    fallback = FieldList(FormField(TargetRowForm))
    repeat = _select(_l("Extra rounds through the steps"), [(str(n), str(n)) for n in range(4)])
    ack_yellow = StringField(_l("Yellow alerts (minutes)"))
    ack_red = StringField(_l("Red alerts (minutes)"))
    snooze_yellow = StringField(_l("Yellow alerts (minutes)"))
    snooze_red = StringField(_l("Red alerts (minutes)"))
    remeasure_wait = StringField(_l("Wait for the new measurement (minutes)"))
    remeasure_rules = StringField(_l("Rules (keys, separated by commas)"))
