"""Away from home: the patient, or a relative who may report, pauses follow-up until a last day
("Jeg skal på ferie"), and ends the pause early ("Jeg er hjemme igjen"). services.pauses does
the work and tells the team."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.outcomes.imports import parse_date
from homefollow.services import pauses
from homefollow.services.access import Need
from homefollow.web import current_actor, format_long_date

from . import bp
from .views import acting_patient, patient_side

PROBLEMS = {
    "past": _l("That day has already been. Write today's date or a later day."),
    "too_far": _l("You can pause for at most %(days)s days. Choose an earlier day, or call the care team.",
                  days=pauses.MAX_DAYS),
    "set_by_team": _l("The care team has paused your follow-up. Call them if you want to change it."),
}


def _day(_form, field):
    text = (field.data or "").strip()
    field.value = None
    if not text:
        raise ValidationError(_l("Write the last day you are away."))
    try:
        field.value = parse_date(text)
    except ValueError:
        raise ValidationError(_l("Write the date like this: 20.12.2026.")) from None


class AwayForm(FlaskForm):
    last_day = StringField(_l("Last day away"), validators=[_day])
    max_days = pauses.MAX_DAYS  # for the hint

    @classmethod
    def for_patient(cls, patient) -> AwayForm:
        """On a page shown, the last day of the pause in place (as a date field sends it)."""
        day = pauses.last_day(patient)
        return cls(data={"last_day": day.isoformat()}) if day and request.method == "GET" else cls()

    def show_problem(self, error: pauses.PauseError) -> None:
        self.last_day.errors = list(self.last_day.errors) + [PROBLEMS.get(error.code, PROBLEMS["set_by_team"])]


@bp.route("/away", methods=["GET", "POST"])
@patient_side
def away():
    """The form, on a page of its own: where relatives find it (the settings page is the
    patient's), and where a mistake is shown."""
    access = acting_patient(Need.REPORT, "view.away" if request.method == "GET" else "away.submit")
    db, clock = get_session(), get_clock()
    form = AwayForm.for_patient(access.patient)
    if form.validate_on_submit():
        patient = access.patient
        try:
            until = pauses.until_from(clock, patient, form.last_day.value)
            with db.begin_nested():  # a refused pause leaves nothing behind but the access record
                pauses.pause(db, clock, patient, reason=pauses.HOLIDAY, until=until,
                             actor=current_actor())
        except pauses.PauseError as exc:
            form.show_problem(exc)
        else:
            flash(_("Follow-up is paused until and including %(day)s. Have a good trip!",
                    day=format_long_date(form.last_day.value)), "success")
            return redirect(url_for("patient.today"))
    return render_template("patient/away.html", access=access, away_form=form), 400 if form.errors else 200


@bp.post("/away/end")
@patient_side
def end_away():
    """'I am home again': follow-up resumes now."""
    access = acting_patient(Need.REPORT, "away.end")
    db, clock = get_session(), get_clock()
    if pauses.resume(db, clock, access.patient, actor=current_actor()):
        flash(_("Welcome home! Follow-up has started again."), "success")
    return redirect(url_for("patient.today"))
