"""Pausing and resuming a patient's follow-up from the patient page (services.pauses)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.services import pauses
from homefollow.services.access import Need, require_patient
from homefollow.web import current_actor, format_local_date, signed_in_principal

from . import bp
from .patient_forms import PauseForm
from .patients import _patient_page
from .views import staff_only


@bp.post("/patients/<int:patient_id>/pause")
@staff_only
def pause_follow_up(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action="pause.submit",
                             actor=current_actor())
    form = PauseForm()
    if form.validate_on_submit():
        patient = access.patient
        try:
            day = getattr(form.pause_until, "value", None)  # set by the form's date validator
            until = pauses.until_from(clock, patient, day) if day else None
            with db.begin_nested():  # a refused pause leaves nothing behind but the access record
                pauses.pause(db, clock, patient, reason=form.pause_reason.data, until=until,
                             actor=current_actor())
        except pauses.PauseError as exc:
            form.show_problem(exc)
        else:
            if until:
                flash(_("Follow-up is paused until and including %(day)s. It resumes by itself the day after.",
                        day=format_local_date(day)), "success")
            else:
                flash(_("Follow-up is paused without an end date. The team is asked in %(days)s days whether it "
                        "still holds.", days=pauses.REVIEW_AFTER.days), "success")
            return redirect(url_for("clinician.patient_detail", patient_id=patient_id) + "#pause-title")
    return _patient_page(patient_id, pause_form=form, status=400)


@bp.post("/patients/<int:patient_id>/resume")
@staff_only
def resume_follow_up(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action="resume.submit",
                             actor=current_actor())
    if pauses.resume(db, clock, access.patient, actor=current_actor()):
        flash(_("Follow-up has resumed. Reminders and alerts for missed measurements start again from now."),
              "success")
    else:
        flash(_("Follow-up was not paused."), "warning")
    return redirect(url_for("clinician.patient_detail", patient_id=patient_id) + "#pause-title")
