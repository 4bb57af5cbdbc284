"""Forms of the plan editor, one per section. They carry and render the values (with CSRF);
homefollow.services.plan_editor reads them (`form.data`), checks them and says what is wrong
where, by location: ("measurements", 2, "schedule", "times") is
form["measurements"].entries[2].form["schedule"].form["times"] (homefollow.form_errors).

Rows are FieldList(FormField). Every row has a field that is always posted (a hidden key, a
select or text), so that a row of unticked checkboxes is not lost and rows keep their places.
"""

from __future__ import annotations

from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.widgets import HiddenInput

from homefollow.form_errors import attach_errors, field_at, leaf_fields
from homefollow.input_guard import HostileInput, check_text
from homefollow.questionnaires import QUESTIONNAIRES
from homefollow.services import plan_editor
from homefollow.services.plan_editor import EVENT_FIELDS, LIMIT_LABELS, LIMIT_NAMES, WEEKDAY_NAMES
from homefollow.values import format_date
from rules.measurements import CATALOGUE, ITEMS

from .team_forms import CheckboxesField, choices

# The longest text a plan field takes (an anticipated event's text is at most 1000); longer
# input is refused on its field, and kept on the page.
MAX_TEXT = 2000
BLANK_ROWS = 1  # empty rows offered for adding to a list without JavaScript
TIMES_HINT = _l("HH:MM, several separated by commas, such as 08:00, 18:00. Empty: when needed.")
GRACE_HINT = _l("How many minutes after the time a missing report counts as missed.")
TEXT = {"rows": 3}


class KeyField(SelectField):
    """What a row is about: a choice for a new row; for what the plan already has, a hidden
    field (prepare swaps the widget), which needs the value as text."""

    def _value(self) -> str:
        return self.data or ""


def _select(label, description="") -> SelectField:
    return KeyField(label, choices=[], validate_choice=False, description=description)


class ScheduleForm(Form):
    times = StringField(_l("Times of day"), description=TIMES_HINT)
    weekdays = CheckboxesField(_l("Weekdays"),
                               choices=choices((str(i), _l(name)) for i, name in enumerate(WEEKDAY_NAMES)))


class QuestionnaireScheduleForm(ScheduleForm):
    times = StringField(_l("Times of day"), description=_l("HH:MM, several separated by commas, such as 10:00."))


class PatientActionsForm(Form):
    green = TextAreaField(_l("What the patient does in the green zone"), render_kw=TEXT)
    yellow = TextAreaField(_l("What the patient does in the yellow zone"), render_kw=TEXT)
    red = TextAreaField(_l("What the patient does in the red zone"), render_kw=TEXT)


class TeamActionsForm(Form):
    green = TextAreaField(_l("What the team does in the green zone"), render_kw=TEXT)
    yellow = TextAreaField(_l("What the team does in the yellow zone"), render_kw=TEXT)
    red = TextAreaField(_l("What the team does in the red zone"), render_kw=TEXT)


class LimitForm(Form):
    """One measured value's personal limits; labelled and shown only where a zone rule holds them."""


class LimitsForm(Form):
    """Limits by measured value: limits-spo2-yellow_low."""


for _name in LIMIT_NAMES:
    setattr(LimitForm, _name, StringField(_l(LIMIT_LABELS[_name])))
for _code in CATALOGUE:
    setattr(LimitsForm, _code, FormField(LimitForm))


class SectionForm(FlaskForm):
    base_version = HiddenField()
    reason = TextAreaField(_l("Reason for the change"), render_kw=TEXT, description=_l(
        "Required. Kept with the version, and shown to the patient under “Changes to the plan”."))


class MattersForm(SectionForm):
    what_matters = TextAreaField(_l("What matters to you?"), render_kw=TEXT, description=_l(
        "In the patient's own words: what gives the patient's days meaning, what the patient wants to manage."))
    goals = FieldList(StringField(""))  # labelled "Goal 1", "Goal 2" by prepare


class MeasurementRowForm(Form):
    item = _select(_l("Measurement"))
    schedule = FormField(ScheduleForm)
    grace_minutes = StringField(_l("Minutes before a report counts as missed"), description=GRACE_HINT)
    patient_actions = FormField(PatientActionsForm)
    team_actions = FormField(TeamActionsForm)
    remove = BooleanField(_l("Remove this measurement from the plan"))


class MeasurementsForm(SectionForm):
    measurements = FieldList(FormField(MeasurementRowForm))
    limits = FormField(LimitsForm)


class QuestionnaireRowForm(Form):
    key = _select(_l("Questionnaire"))
    schedule = FormField(QuestionnaireScheduleForm)
    grace_minutes = StringField(_l("Minutes before a report counts as missed"), description=GRACE_HINT)
    remove = BooleanField(_l("Remove this questionnaire from the plan"))


class TaskRowForm(Form):
    key = HiddenField()
    text = StringField(_l("What the patient does"), description=_l("Such as: Take the morning medicine."))
    schedule = FormField(ScheduleForm)
    grace_minutes = StringField(_l("Minutes before a report counts as missed"), description=GRACE_HINT)
    remove = BooleanField(_l("Remove this task from the plan"))


class CheckinsForm(SectionForm):
    questionnaires = FieldList(FormField(QuestionnaireRowForm))
    tasks = FieldList(FormField(TaskRowForm))



def _event_label(name: str):
    """The field's label from the plan editor's own words (EVENT_FIELDS holds them as N_ texts)."""
    return _l(EVENT_FIELDS[name])

class EventRowForm(Form):
    title = StringField(_event_label("title"), description=_l("Such as: COPD exacerbation, a fall."))
    signs = TextAreaField(_event_label("signs"), render_kw=TEXT)
    patient = TextAreaField(_event_label("patient"), render_kw=TEXT)
    relative = TextAreaField(_event_label("relative"), render_kw=TEXT)
    home_nursing = TextAreaField(_event_label("home_nursing"), render_kw=TEXT)
    gp = TextAreaField(_event_label("gp"), render_kw=TEXT)
    team = TextAreaField(_event_label("team"), render_kw=TEXT)
    responsible = StringField(_event_label("responsible"))


class EventsForm(SectionForm):
    anticipated_events = FieldList(FormField(EventRowForm))


@lru_cache(maxsize=32)
def _rules_form(parameter_names: tuple[str, ...]) -> type[SectionForm]:
    """A rule row holds the rule's key and a field per adjustable parameter of any active rule
    (rules-1-within); a row shows only its own rule's. The rule book decides the names."""
    row = type("RuleRowForm", (Form,), {
        "key": _select(_l("Rule"), _l("Its parameters can be set after “Add another row” or after saving.")),
        "remove": BooleanField(_l("Remove this rule from the plan")),
        **{name: StringField(name) for name in parameter_names}})
    return type("RulesForm", (SectionForm,), {"rules": FieldList(FormField(row))})


class SafetyDecisionRowForm(Form):
    rule = HiddenField()  # always posted, so an unticked row keeps its place
    remove = BooleanField(_l("Remove this decision: the safety net's own limit applies again"))


class NewDecisionForm(Form):
    limit = _select(_l("Limit"))
    value = StringField(_l("New value for this patient"),
                        description=_l("Such as 84 for oxygen saturation on scale 2, or 5 days."))
    reason = TextAreaField(_l("Why"), render_kw=TEXT, description=_l(
        "The clinical reason, such as: Chronic hypercapnic respiratory failure, blood gas 12.11.2026."))
    decided_by = StringField(_l("Decided by (name and role)"))
    decided_on = StringField(_l("Decided on"), description=_l("Such as 15.03.2027."))


class SafetyForm(SectionForm):
    safety_decisions = FieldList(FormField(SafetyDecisionRowForm))
    new_decisions = FieldList(FormField(NewDecisionForm))


class ContactRowForm(Form):
    name = StringField(_l("Name"))
    role = StringField(_l("Role"), description=_l("Such as GP, home nursing, daughter."))
    phone = StringField(_l("Phone"))


class ResponsibilityRowForm(Form):
    # labelled "Responsibility 1: what" by prepare
    what = StringField("", description=_l("Such as: changes of medicine."))
    who = StringField("", description=_l("Such as: the GP."))


class ContactsForm(SectionForm):
    contacts = FieldList(FormField(ContactRowForm))
    responsibilities = FieldList(FormField(ResponsibilityRowForm))
    next_review = StringField(_l("Date of the next review of the plan"), description=_l("Such as 15.03.2027."))


FORMS = {"matters": MattersForm, "measurements": MeasurementsForm, "checkins": CheckinsForm,
         "events": EventsForm, "safety": SafetyForm, "contacts": ContactsForm}
# The lists of a section that offer an empty row, and what such a row starts with.
ALL_DAYS = [str(d) for d in range(7)]
NEW_ROWS = {
    "goals": {}, "anticipated_events": {}, "rules": {}, "contacts": {}, "responsibilities": {},
    "measurements": {"grace_minutes": "180", "schedule": {"weekdays": ALL_DAYS}},
    "questionnaires": {"grace_minutes": "240", "schedule": {"weekdays": ALL_DAYS}},
    "tasks": {"grace_minutes": "180", "schedule": {"weekdays": ALL_DAYS}},
    "new_decisions": {},
}


def section_form(section: str, rules_) -> type[SectionForm]:
    if section == "rules":
        return _rules_form(tuple(sorted({name for info in rules_.values() for name in info.editable})))
    return FORMS[section]


def add_rows(form, staff_name: str, today) -> None:
    """One more empty row in each list of the form ("Add another row", and on opening)."""
    for list_name, start in NEW_ROWS.items():
        if list_name in form:
            if list_name == "new_decisions":
                start = {"decided_by": staff_name, "decided_on": format_date(today)}
            for _i in range(BLANK_ROWS):
                form[list_name].append_entry(start or None)


def values(form) -> dict:
    """What the form holds, as plain data for the service (no CSRF token)."""
    data = dict(form.data)
    data.pop("csrf_token", None)
    return data


def base_version(form) -> int | None:
    """The plan version the form was opened on (a hidden field)."""
    typed = (form.base_version.data or "").strip()
    return int(typed) if typed.isascii() and typed.isdigit() and len(typed) <= 9 else None


def refuse_hostile(form) -> list[tuple[str, str]]:
    """Control characters (a NUL byte) and overlong values, refused on their fields before
    anything else reads them; what was typed stays on the page. Returns the summary. Dates are
    left to the editor, which reads them with homefollow.values (years 1900-2200): the guard's
    own date check took a phone number typed as 926-12-345 for the year 926."""
    summary = []
    for f in leaf_fields(form):
        if not isinstance(f.data, str) or f.name == "csrf_token":
            continue
        try:
            check_text(f.label.text if f.label else f.name, f.data, max_chars=MAX_TEXT, dates=False)
        except HostileInput as exc:
            f.errors = [*(f.errors or []), exc.reason]
            summary.append((f.id, exc.reason))
    return summary


def attach(form, problems) -> list[tuple[str, str]]:
    """Problems from the service on their fields. A location inside a field (a list of times
    typed in one field) or on a row points at the nearest field that holds it; one about the
    whole plan is shown in the summary only."""
    return attach_errors(form, [(_nearest(form, tuple(loc)), text) for loc, text in problems])


def _nearest(form, loc: tuple) -> tuple:
    while loc:
        target = field_at(form, loc)
        if target is not None and target.type != "FieldList":
            return loc
        loc = loc[:-1]
    return ()


# ---- labels, choices and what each row shows --------------------------------------------------

def prepare(form, section: str, content, rules_, limit_owners, safety_limits, locale: str) -> None:
    """Labels, hints and choices that depend on the plan and the rule book. Sets `planned` on
    rows for what the plan already has (their key is then a hidden field, not a choice)."""
    if section == "matters":
        for i, entry in enumerate(form.goals):
            entry.label.text = _("Goal %(n)s", n=i + 1)
    elif section == "measurements":
        _prepare_measurements(form, content, rules_, limit_owners, locale)
    elif section == "checkins":
        _prepare_keyed(form.questionnaires, "key", content.questionnaire,
                       [("", _("No new questionnaire"))] + [(k, _(q.title)) for k, q in QUESTIONNAIRES.items()])
        for entry in form.tasks:
            entry.planned = bool(entry.form.key.data)
    elif section == "rules":
        _prepare_rules(form, rules_, locale)
    elif section == "safety":
        _prepare_decisions(form, content)
        free = [(limit.choice, f"{limit.label(locale)} "
                 f"({plan_editor.parameter_text(limit.default, locale, name=limit.name)})")
                for limit in safety_limits if not limit.decision]
        for entry in form.new_decisions:
            entry.form.limit.choices = choices([("", _("No new decision"))] + free)
    elif section == "contacts":
        for i, entry in enumerate(form.responsibilities):
            entry.form.what.label.text = _("Responsibility %(n)s: what", n=i + 1)
            entry.form.who.label.text = _("Responsibility %(n)s: who", n=i + 1)


def _prepare_decisions(form, content) -> None:
    """Each recorded decision with its row (its removal checkbox)."""
    while len(form.safety_decisions) < len(content.safety_decisions):
        form.safety_decisions.append_entry({"rule": content.safety_decisions[len(form.safety_decisions)].rule})
    # A posted form may carry more rows than the plan has decisions; those get none.
    for entry, decision in zip(form.safety_decisions, content.safety_decisions, strict=False):
        entry.decision = decision


def _prepare_keyed(rows, key_name: str, in_plan, options) -> None:
    """A row for something the plan has keeps its key hidden; a new row chooses from what the
    other rows have not taken."""
    taken = {entry.form[key_name].data for entry in rows if entry.form[key_name].data}
    for entry in rows:
        key = entry.form[key_name]
        entry.planned = bool(key.data) and in_plan(key.data) is not None
        if entry.planned:
            key.widget = HiddenInput()
        key.choices = choices([(value, label) for value, label in options
                               if not value or value not in taken or value == key.data])


def _prepare_measurements(form, content, rules_, limit_owners, locale: str) -> None:
    _prepare_keyed(form.measurements, "item", content.measurement,
                   [("", _("No new measurement"))] + [(k, item.name(locale)) for k, item in ITEMS.items()])
    for entry in form.measurements:
        item = ITEMS.get(entry.form.item.data or "")
        entry.limit_fields = []
        for code in item.codes if item else ():
            for name in LIMIT_NAMES:
                if (code, name) not in limit_owners:
                    continue
                rule = rules_[content.rules[limit_owners[(code, name)]].key]
                f = form.limits[code][name]
                f.label.text = f"{CATALOGUE[code].name(locale)}, {_(LIMIT_LABELS[name])} ({CATALOGUE[code].unit})"
                f.description = _("Rule «%(rule)s». Empty: the rule's default (%(default)s).", rule=rule.title(locale),
                                  default=plan_editor.parameter_text(rule.defaults.get(name), locale) or "–")
                entry.limit_fields.append(f)


def _prepare_rules(form, rules_, locale: str) -> None:
    _prepare_keyed(form.rules, "key", lambda key: rules_.get(key),
                   [("", _("No new rule"))] + [(k, f"{r.title(locale)} ({k})") for k, r in rules_.items()])
    for entry in form.rules:
        info = rules_.get(entry.form.key.data or "")
        entry.rule = info
        entry.parameter_fields = []
        for name in info.editable if info else ():
            f = entry.form[name]
            label = plan_editor.parameter_label(name, locale, info)
            f.label.text = label[:1].upper() + label[1:]
            f.description = plan_editor.parameter_hint(info, name, locale)
            entry.parameter_fields.append(f)
