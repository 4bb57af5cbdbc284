"""A reading registered by staff for the patient: a value read out on the phone, or measured on
a home visit. It goes through the same reporting service as the patient's own (plausibility,
units, the safety net, the plan's rules, alerts), and is shown as reported by the nurse."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from homefollow import transactions
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import ReportSource
from homefollow.services import reporting, unit_check
from homefollow.services.access import Need, require_patient
from homefollow.web import current_actor, signed_in_principal
from patient_portal.forms import input_mode, measurement_form, plausibility_message, unit_hint
from rules.measurements import ITEMS, ImplausibleValue
from rules.text import item_values

from . import bp
from .views import staff_only

ZONE_WORDS = {"green": "green zone", "yellow": "yellow zone", "red": "red zone"}


@bp.route("/patients/<int:patient_id>/report/<item_key>", methods=["GET", "POST"])
@staff_only
def staff_report(patient_id: int, item_key: str):
    if item_key not in ITEMS:
        abort(404)
    posting = request.method == "POST"
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT if posting else Need.VIEW,
                             action="report.staff" if posting else "view.staff_report", actor=current_actor())
    patient = access.patient
    form = measurement_form(item_key)()
    if not form.idempotency_key.data:
        form.idempotency_key.data = uuid.uuid4().hex
    form.reference_for = lambda code: unit_check.reference_value(db, clock, patient.id, code)
    retype = posting and bool(request.form.get("retype"))
    if form.validate_on_submit() and form.question is None and not retype:
        def store():
            outcome = reporting.report_measurement(
                db, clock, patient=patient, item_key=item_key, values=form.parsed_values(),
                idempotency_key=form.idempotency_key.data[:100], reported_by_account_id=current_user.id,
                actor_kind="staff", source=ReportSource.STAFF, ip=request.remote_addr)
            if not outcome.replayed:
                unit_check.record_units(db, clock, outcome.report, form.readings(), asked=form.unit_asked,
                                        actor=current_actor(), channel="staff")
            return outcome

        try:  # a race lost to the scheduler is run again; the idempotency key stores the value once
            outcome = transactions.run_in_transaction(db, store, what="staff report")
        except ImplausibleValue as exc:  # the service re-checks what the form checked
            form[exc.code].errors.append(plausibility_message(exc, form[exc.code].data))
        else:
            flash(_registered_text(outcome, item_key), "warning" if outcome.zone and outcome.zone.value != "green"
                  else "success")
            return redirect(url_for("clinician.patient_detail", patient_id=patient.id) + "#charts-title")
    if retype:
        form.unit.data = form.unit_for.data = ""
    return render_template("clinic/staff_report.html", patient=patient, form=form, item=ITEMS[item_key],
                           codes=ITEMS[item_key].codes, unit_hint=unit_hint, input_mode=input_mode, retype=retype,
                           question=None if retype else form.question), 400 if posting and form.errors else 200


def _registered_text(outcome, item_key: str) -> str:
    from flask_babel import get_locale

    values = item_values(item_key, outcome.values, str(get_locale()))
    if outcome.zone is None:
        return _("Registered: %(values)s. No rule judges this measurement for the patient.", values=values)
    zone = _(ZONE_WORDS[outcome.zone.value])
    if outcome.report.team_alerted:
        return _("Registered: %(values)s, %(zone)s. An alert is open in the triage queue.", values=values, zone=zone)
    return _("Registered: %(values)s, %(zone)s.", values=values, zone=zone)
