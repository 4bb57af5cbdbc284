"""Forms of the patient overview and the patient page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from homefollow import values
from homefollow.services.patient_record import NOTE_MAX_LENGTH
from homefollow.services.pauses import MAX_DAYS, REASONS, REVIEW_AFTER, last_day

# Clinical Frailty Scale (Rockwood), version 2.0 wording.
FRAILTY_LABELS = {
    1: _l("1 – Very fit"),
    2: _l("2 – Fit"),
    3: _l("3 – Managing well"),
    4: _l("4 – Living with very mild frailty"),
    5: _l("5 – Living with mild frailty"),
    6: _l("6 – Living with moderate frailty"),
    7: _l("7 – Living with severe frailty"),
    8: _l("8 – Living with very severe frailty"),
    9: _l("9 – Terminally ill"),
}


def _strip(text):
    return text.strip() if text else text


class NoteForm(FlaskForm):
    note = TextAreaField(_l("New note"), filters=[_strip],
                         validators=[DataRequired(_l("Write the note.")),
                                     Length(max=NOTE_MAX_LENGTH, message=_l("A note can be at most 4000 characters."))])


def _known_score(_form, field):
    if field.data not in ("", *map(str, FRAILTY_LABELS)):
        raise ValidationError(_l("Choose a score from 1 to 9, or 'Not assessed'."))


class FrailtyForm(FlaskForm):
    # Choices are checked by _known_score, so a tampered value gets our message, not WTForms'.
    score = SelectField(_l("Clinical Frailty Scale"), validate_choice=False, validators=[_known_score])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.score.choices = [("", _l("Not assessed"))] + [(str(k), v) for k, v in FRAILTY_LABELS.items()]

    @property
    def value(self) -> int | None:
        return int(self.score.data) if self.score.data else None


# --- service use (homefollow.outcomes.entry) -------------------------------------------------

SERVICE_KIND_LABELS = {
    "admission": _l("Hospital admission"),
    "emergency": _l("Emergency department or legevakt contact (not admitted)"),
    "short_stay": _l("Municipal short-term stay"),
}
ENTRY_PROBLEMS = {
    "unknown_kind": _l("Choose what kind of service it was."),
    "start_future": _l("The start date cannot be in the future."),
    "start_too_old": _l("The start date is more than 10 years ago. Check the year."),
    "end_before_start": _l("The end date cannot be before the start date."),
    "end_future": _l("The end date cannot be in the future. Leave it empty while the stay goes on."),
    "contact_has_end": _l("An emergency contact has no end date. Leave it empty, or choose admission."),
    "overlaps": _l("This admission overlaps another admission of the patient. Correct that one instead."),
    "reason_length": _l("Give a reason of 3 to 500 characters."),
}


def _date(optional: bool):
    def check(_form, field):
        text = (field.raw_data[0] if field.raw_data else "").strip()
        field.value = None
        if not text:
            if not optional:
                raise ValidationError(_l("Write the date, as dd.mm.yyyy."))
            return
        try:
            field.value = values.parse_date(text, years=(1, 9999))  # the pause's own checks answer the year
        except values.BadValue:
            raise ValidationError(_l("Write the date as dd.mm.yyyy, for example 03.02.2026.")) from None
    return check


class ServiceUseForm(FlaskForm):
    kind = RadioField(_l("What kind of service"), validate_choice=False,
                      choices=[SelectChoice(k, v) for k, v in SERVICE_KIND_LABELS.items()],
                      validators=[InputRequired(_l("Choose what kind of service it was."))])
    start = StringField(_l("Start date"), validators=[_date(optional=False)])
    end = StringField(_l("End date"), validators=[_date(optional=True)])
    acute = RadioField(_l("Admission"), validate_choice=False, default="yes",
                       choices=[SelectChoice("yes", _l("Acute")), SelectChoice("no", _l("Planned"))])

    def entry(self):
        from homefollow.outcomes.entry import Entry

        return Entry(self.kind.data, self.start.value, self.end.value, self.acute.data != "no")

    def show_problems(self, problems) -> None:
        for field, code in problems:
            getattr(self, field).errors = list(getattr(self, field).errors) + [ENTRY_PROBLEMS[code]]


class ServiceUseChangeForm(ServiceUseForm):
    reason = TextAreaField(_l("Why is it changed"), filters=[_strip],
                           validators=[Length(min=3, max=500, message=_l("Give a reason of 3 to 500 characters."))])


class ServiceUseDeleteForm(FlaskForm):
    reason = TextAreaField(_l("Why is it deleted"), filters=[_strip],
                           validators=[Length(min=3, max=500, message=_l("Give a reason of 3 to 500 characters."))])


# --- pauses (homefollow.services.pauses) -----------------------------------------------------

PAUSE_PROBLEMS = {
    "unknown": _l("Choose why follow-up is paused."),
    "required": _l("A holiday needs a last day."),
    "past": _l("The last day cannot be before today."),
    "too_far": _l("A pause can end at most %(days)s days from today. Choose an earlier last day.", days=MAX_DAYS),
    "not_followed": _l("Follow-up is not running for this patient, so it cannot be paused."),
    "set_by_team": _l("Choose why follow-up is paused."),
}


class PauseForm(FlaskForm):
    # Field names unique on the patient page, where several forms share the ids.
    pause_reason = RadioField(_l("Why"), validate_choice=False,
                              validators=[InputRequired(PAUSE_PROBLEMS["unknown"])])
    pause_until = StringField(_l("Last day of the pause"), validators=[_date(optional=True)])
    review_days, max_days = REVIEW_AFTER.days, MAX_DAYS  # for the hint

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pause_reason.choices = [SelectChoice(k, _l(v)) for k, v in REASONS.items()]

    @classmethod
    def for_patient(cls, patient):
        """Filled in with the pause in place, so changing its end is one edit."""
        if patient.status != "paused":
            return cls()
        day = last_day(patient)
        return cls(data={"pause_reason": patient.pause_reason, "pause_until": day.strftime("%d.%m.%Y") if day else ""})

    def show_problem(self, error) -> None:
        field = self.pause_reason if error.field == "reason" else self.pause_until
        field.errors = list(field.errors) + [PAUSE_PROBLEMS[error.code]]
