"""The patient's plan, history and messages, and the menu that leads to them."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import CarePlan, Team
from homefollow.questionnaires import QUESTIONNAIRES
from homefollow.services import chart_history, checklist, evaluation, messages, plans, teams
from homefollow.services.access import Need
from homefollow.web import current_actor, locale_code
from rules.measurements import ITEMS

from . import bp
from .views import acting_patient, patient_side

PERIODS = (7, 30, 90)

# "The care team is closed now and opens again Monday at 08:00. If it is urgent, call …":
# templates write a WhomToCall (teams.whom_to_call) in words with `call | call_advice`.
bp.add_app_template_filter(lambda call: teams.call_advice(call, locale_code()), "call_advice")


class MessageForm(FlaskForm):
    # Cleaned first (control characters out, trimmed), so a text of only those is empty;
    # up to 2000 characters are accepted, as the service stores.
    body = TextAreaField(filters=[messages.clean], validators=[DataRequired(), Length(max=2000)])
    idempotency_key = HiddenField()


@bp.get("/menu")
@patient_side
def menu():
    access = acting_patient(Need.ANY, "view.menu")
    unread = messages.unread_for_patient(get_session(), access.patient.id) if access.can_view else 0
    return render_template("patient/menu.html", access=access, unread=unread)


@bp.get("/plan")
@patient_side
def my_plan():
    access = acting_patient(Need.VIEW, "view.plan")
    db = get_session()
    plan = plans.current_plan(db, access.patient.id)
    content = plans.PlanContent.model_validate(plan.content) if plan else plans.PlanContent()
    team = db.get(Team, access.patient.team_id)
    assigned = evaluation.assigned_rules(db, content, strict=False)
    limits = evaluation.personal_zone_limits(assigned)
    return render_template("patient/plan.html", access=access, plan=plan, content=content, team=team,
                           members=teams.members(db, team.id), limits=limits, ITEMS=ITEMS,
                           conditions=evaluation.zone_conditions(assigned),
                           QUESTIONNAIRES=QUESTIONNAIRES, call=teams.whom_to_call(team, get_clock().now()))


@bp.get("/history")
@patient_side
def history():
    access = acting_patient(Need.VIEW, "view.history")
    period = request.args.get("period", 7, type=int)
    if period not in PERIODS:
        period = 7
    db, clock = get_session(), get_clock()
    patient = access.patient
    content, _version = plans.current_content(db, patient.id)
    found = chart_history.history(db, patient, content, end=clock.now(), days=period, locale=str(get_locale()))
    return render_template("patient/history.html", access=access, patient=patient, period=period, periods=PERIODS,
                           charts=found.charts, answers=found.answers, plan=content, who=found.who,
                           adherence=checklist.adherence(db, clock, patient, content, days=period))


@bp.route("/messages", methods=["GET", "POST"])
@patient_side
def messages_page():
    access = acting_patient(Need.VIEW, "view.messages")
    db, clock = get_session(), get_clock()
    form = MessageForm()
    if not form.idempotency_key.data:
        form.idempotency_key.data = uuid.uuid4().hex
    if request.method == "POST":
        if not access.can_report:  # a relative who may only look cannot write on the patient's behalf
            abort(404)
        if form.validate_on_submit():
            messages.send_from_patient_side(db, clock, patient=access.patient, actor=current_actor(),
                                            body=form.body.data, idempotency_key=form.idempotency_key.data[:100])
            call = teams.whom_to_call(db.get(Team, access.patient.team_id), clock.now())
            flash(_("The message is sent to the team.") + " " + teams.call_advice(call, locale_code()), "success")
            return redirect(url_for("patient.messages_page"))
        form.body.errors = [_("Write a message, at most 2000 characters.")]
    thread = messages.thread(db, access.patient.id)
    messages.mark_read_by_patient(db, clock, access.patient.id)
    team = db.get(Team, access.patient.team_id)
    return render_template("patient/messages.html", access=access, form=form, thread=thread, team=team,
                           authors=messages.author_names(db, thread),
                           call=teams.whom_to_call(team, clock.now())), 400 if form.errors else 200


@bp.get("/plan/versions")
@patient_side
def plan_versions():
    """When the plan was made and changed, and why."""
    access = acting_patient(Need.VIEW, "view.plan_versions")
    versions = get_session().exec(select(CarePlan).where(CarePlan.patient_id == access.patient.id)
                                  .order_by(CarePlan.version.desc())).all()
    return render_template("patient/plan_versions.html", access=access, versions=versions)
