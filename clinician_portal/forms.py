"""Forms of the clinician portal."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import DataRequired, InputRequired, Length

from homefollow.models import Outcome
from homefollow.services import messages

OUTCOME_LABELS = {
    Outcome.ADVICE_GIVEN.value: _l("Advice given"),
    Outcome.PLAN_ADJUSTED.value: _l("Plan adjusted"),
    Outcome.HOME_VISIT.value: _l("Home visit"),
    Outcome.REFERRED_TO_GP.value: _l("Referred to GP"),
    Outcome.ADMITTED.value: _l("Admitted to hospital"),
    Outcome.MEASUREMENT_ERROR.value: _l("Measurement error"),
    Outcome.OTHER.value: _l("Other"),
}


class StaffLoginForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[InputRequired(_l("Write your e-mail address."))])
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Write your password."))])


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message to the patient"), filters=[messages.clean],
                         validators=[DataRequired(_l("Write a message.")),
                                     Length(max=2000, message=_l("A message can be at most 2000 characters."))])


class ActionForm(FlaskForm):
    """A button that only needs CSRF protection (acknowledge)."""


class ResolveForm(FlaskForm):
    outcome = RadioField(_l("Outcome"), choices=[SelectChoice(v, label) for v, label in OUTCOME_LABELS.items()],
                         validators=[InputRequired(_l("Choose what came of this alert."))])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000, message=_l("The note can be at most 2000 characters."))])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.outcome.data == Outcome.OTHER.value and not (self.note.data or "").strip():
            self.note.errors.append(_l("Describe the outcome in the note when you choose 'Other'."))  # type: ignore[attr-defined]  # a list once validated; the stubs say Sequence
            ok = False
        return ok


SNOOZE_MINUTES = (15, 30, 60, 120, 240, 480, 1440)


class SnoozeForm(FlaskForm):
    """Pause paging for a while, for a reason. The choices stop at the policy's maximum."""

    minutes = SelectField(_l("Snooze for"), coerce=int)
    reason = StringField(_l("Why"), validators=[InputRequired(_l("Say why the alert is snoozed.")),
                                                Length(max=500, message=_l("At most 500 characters."))])

    def limit_to(self, max_minutes: int) -> None:
        labels = {15: _l("15 minutes"), 30: _l("30 minutes"), 60: _l("1 hour"), 120: _l("2 hours"),
                  240: _l("4 hours"), 480: _l("8 hours"), 1440: _l("24 hours")}
        self.minutes.choices = [SelectChoice(m, labels[m]) for m in SNOOZE_MINUTES if m <= max_minutes]
