"""Views of the patient portal. Thin: they check access, call a service and render."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_fresh, login_required, login_user

from homefollow import transactions
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import AccountKind, Report, ReportKind, Team
from homefollow.services import audit, checklist, plans, reporting, teams, unit_check
from homefollow.services.access import AccessDenied, Need, PatientAccess, patients_of_relative, require_patient
from homefollow.services.accounts import authenticate, normalise_login
from homefollow.web import (current_actor, current_principal, signed_in_principal, safe_next, sign_in_limits, sign_out,
                            take_stashed_form)
from rules.measurements import ITEMS, ImplausibleValue

from . import bp
from .forms import LoginForm, input_mode, measurement_form, plausibility_message, unit_hint

PATIENT_SIDE = (AccountKind.PATIENT.value, AccountKind.RELATIVE.value)


def patient_side(view):
    """Signed in as a patient or a relative. Staff are sent to their own portal."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.kind not in PATIENT_SIDE:
            return redirect(url_for("clinician.queue"))
        return view(*args, **kwargs)

    return wrapper


class ChoosePatient(Exception):
    """A relative has not chosen whose follow-up to look at."""


def acting_patient(need: Need, action: str) -> PatientAccess:
    """The patient this request acts for: oneself, or the patient a relative chose."""
    principal = signed_in_principal()
    if principal.kind == AccountKind.PATIENT.value:
        patient_id = principal.own_patient_id
        if patient_id is None:
            abort(404)
    else:
        patient_id = session.get("acting_patient_id")
        if patient_id is None:
            raise ChoosePatient()
    access = require_patient(get_session(), get_clock(), principal, patient_id, need=need, action=action,
                             actor=current_actor())
    if not access.patient.in_follow_up:
        raise FollowUpStopped(access.patient)
    return access


class FollowUpStopped(Exception):
    """Consent was withdrawn, follow-up ended, or it has not started: the portal only says so
    and whom to call."""

    def __init__(self, patient):
        super().__init__(patient.id)
        self.patient = patient


@bp.errorhandler(ChoosePatient)
def _choose_patient(_exc):
    return redirect(url_for("patient.choose"))


@bp.errorhandler(FollowUpStopped)
def _follow_up_stopped(exc: FollowUpStopped):
    patient = exc.patient
    team = get_session().get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    return render_template("patient/stopped.html", patient=patient, team=team,
                           call=teams.whom_to_call(team, get_clock().now())), 200 if request.method == "GET" else 409


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limits("login")
def login():
    # A session kept by "remember me" is not fresh: changing access asks for the password again.
    if current_user.is_authenticated and current_user.kind in PATIENT_SIDE and login_fresh():
        return redirect(safe_next(request.args.get("next"), url_for("patient.today")))
    form = LoginForm()
    login_error = None
    if form.validate_on_submit():
        db, clock = get_session(), get_clock()
        # Staff accounts are not usable here, and the page says nothing different for them:
        # unknown number, wrong password, deactivated or staff account all get the same answer,
        # the same work (one argon2 verification) and an audit record (issue 19).
        account = authenticate(db, clock, form.login.data, form.password.data, kinds=PATIENT_SIDE)
        if account is not None:
            login_user(account, remember=form.remember.data)
            session.pop("acting_patient_id", None)
            audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.login",
                         ip=request.remote_addr)
            return redirect(safe_next(request.args.get("next"), url_for("patient.today")))
        audit.record(db, clock, actor_account_id=None, actor_kind="anonymous", action="auth.login_failed",
                     ip=request.remote_addr, login=normalise_login(form.login.data)[:200], step="password",
                     portal="patient")
        login_error = _("The mobile number or the password is wrong. Please try again.")
    return render_template("patient/login.html", form=form, login_error=login_error)


@bp.post("/logout")
@login_required
def logout():
    sign_out()
    flash(_("You are signed out."), "success")
    return redirect(url_for("patient.login"))


@bp.route("/choose", methods=["GET", "POST"])
@patient_side
def choose():
    """A relative picks whose follow-up to see (most have exactly one)."""
    if current_user.kind != AccountKind.RELATIVE.value:
        return redirect(url_for("patient.today"))
    db, clock = get_session(), get_clock()
    options = patients_of_relative(db, clock, current_user.id)
    if request.method == "POST":
        chosen = request.form.get("patient_id", type=int)
        if chosen is None or not 0 < chosen < 2**31:
            abort(404)
        # Granted or denied, the audit record names the patient chosen (issue 19).
        require_patient(db, clock, current_principal(), chosen, need=Need.ANY, action="view.choose",
                        actor=current_actor())
        grant = next((g for p, g in options if p.id == chosen), None)
        if grant is None:  # pragma: no cover - require_patient refused already
            abort(404)
        return _act_for(chosen, grant)
    if len(options) == 1:
        return _act_for(options[0][0].id, options[0][1])
    return render_template("patient/choose.html", options=options)


def _act_for(patient_id: int, grant):
    session["acting_patient_id"] = patient_id
    # A relative who may report but not see starts where reporting is.
    return redirect(url_for("patient.today" if grant.can_view or not grant.can_report else "patient.report_menu"))


@bp.get("/")
def index():
    return redirect(url_for("patient.today"))


@bp.get("/today")
@patient_side
def today():
    access = acting_patient(Need.VIEW, "view.today")
    db, clock = get_session(), get_clock()
    content, _version = plans.current_content(db, access.patient.id)
    items = checklist.today_items(db, clock, access.patient, content)
    names = {(i.kind.value, i.key): report_title(i.kind.value, i.key, content) for i in items}
    urls = {(i.kind.value, i.key): report_url(i.kind.value, i.key) for i in items}
    return render_template("patient/today.html", access=access, patient=access.patient, items=items,
                           item_names=names, item_urls=urls, unscheduled_tasks=[t for t in content.tasks if not t.schedule],
                           all_done=bool(items) and all(i.done for i in items))


def report_title(kind: str, key: str, content) -> str:
    return reporting.report_title(kind, key, content, str(get_locale()))


def report_url(kind: str, key: str) -> str:
    if kind == ReportKind.QUESTIONNAIRE.value:
        return url_for("patient.checkin_start", key=key)
    if kind == ReportKind.TASK.value:
        return url_for("patient.task", key=key)
    return url_for("patient.report", item_key=key)


@bp.get("/report")
@patient_side
def report_menu():
    access = acting_patient(Need.REPORT, "view.report_menu")
    content, _version = plans.current_content(get_session(), access.patient.id)
    planned = [m.item for m in content.measurements]
    others = [key for key in ITEMS if key not in planned]
    return render_template("patient/report_menu.html", access=access, planned=planned, others=others, ITEMS=ITEMS)


@bp.route("/report/<item_key>", methods=["GET", "POST"])
@patient_side
def report(item_key: str):
    if item_key not in ITEMS:
        abort(404)
    access = acting_patient(Need.REPORT, "view.report_form")
    form_class = measurement_form(item_key)
    stashed = take_stashed_form("patient.report", {"item_key": item_key}) if request.method == "GET" else None
    form = form_class(data=stashed) if stashed else form_class()
    if not form.idempotency_key.data:
        form.idempotency_key.data = uuid.uuid4().hex
    db, clock = get_session(), get_clock()
    form.reference_for = lambda code: unit_check.reference_value(db, clock, access.patient.id, code)
    # "No, I want to write it again" on a question about the unit: nothing is stored, the form
    # comes back with what was typed.
    retype = request.method == "POST" and bool(request.form.get("retype"))
    repeat_of = None
    if form.validate_on_submit() and form.question is None and not retype:
        # The item of the page first, then what else was typed on it (the pulse beside the blood
        # pressure): each its own report, judged on its own.
        items, key = {item_key: form.parsed_values(), **form.also_values()}, form.idempotency_key.data[:100]
        if not form.confirm_repeat.data:
            repeats = [reporting.recent_same_report(
                db, clock, patient_id=access.patient.id, item_key=item, values=values,
                idempotency_key=reporting.item_idempotency_key(key, item, first=item == item_key))
                for item, values in items.items()]
            repeat_of = repeats[0] if all(repeats) else None  # the same numbers again, every one
        if repeat_of is not None:
            form.confirm_repeat.data = "yes"  # pressing Send again means: yes, it is a new reading
        else:
            def record_units(outcome, item):
                if not outcome.replayed:
                    unit_check.record_units(db, clock, outcome.report, form.readings_of(item), asked=form.unit_asked,
                                            actor=current_actor(), channel="portal")

            def store():
                return reporting.report_measurements(
                    db, clock, patient=access.patient, items=items, idempotency_key=key,
                    reported_by_account_id=current_user.id, actor_kind=current_user.kind, ip=request.remote_addr,
                    after_each=record_units)

            try:  # a race lost to the scheduler is run again; the idempotency key stores the value once
                outcomes = transactions.run_in_transaction(db, store, what="patient report")
            except ImplausibleValue as exc:  # the service re-checks what the form checked
                form[exc.code].errors.append(plausibility_message(exc, form[exc.code].data))
            else:
                first, *others = reporting.worst_first(outcomes)
                return redirect(url_for("patient.report_result", report_id=first.report.id,
                                        also=[o.report.id for o in others] or None))
    if retype:
        form.unit.data = form.unit_for.data = ""
    return render_template("patient/report.html", access=access, form=form, item=ITEMS[item_key],
                           codes=form.codes, unit_hint=unit_hint, input_mode=input_mode,
                           restored=bool(stashed), repeat_of=repeat_of, retype=retype,
                           question=None if retype else form.question)


@bp.get("/report/result/<int:report_id>")
@patient_side
def report_result(report_id: int):
    db, clock = get_session(), get_clock()
    principal = signed_in_principal()
    report = db.get(Report, report_id)
    acting_id = (principal.own_patient_id if principal.kind == AccountKind.PATIENT.value
                 else session.get("acting_patient_id"))
    if report is None or (acting_id is not None and report.patient_id != acting_id):
        # Another patient's report (or none): the denial names the patient it belongs to, not
        # the caller's own, which was logged as a granted read before (issue 19).
        audit.record_refusal(db, clock, actor=current_actor(), patient_id=report.patient_id if report else None,
                             object_type="report", object_id=report_id, attempted="view.report_result",
                             need=Need.VIEW.value)
        raise AccessDenied(report_id)
    access = acting_patient(Need.VIEW, "view.report_result")
    if report.patient_id != access.patient.id:  # pragma: no cover - checked above
        raise AccessDenied(report_id)
    outcome = reporting.outcome_of(db, report)
    team = db.get(Team, access.patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    content, _version = plans.current_content(db, access.patient.id)
    # Other measurements sent with it on the same page (the pulse beside the blood pressure),
    # each with its own zone. Only this patient's measurements are shown; another id is ignored.
    also = []
    for other_id in request.args.getlist("also", type=int)[:3]:
        other = db.get(Report, other_id) if 0 < other_id < 2**31 else None
        if other is not None and other.patient_id == report.patient_id and other.kind == ReportKind.MEASUREMENT.value \
                and other.id != report.id:
            also.append((reporting.outcome_of(db, other), report_title(other.kind, other.item_key, content)))
    return render_template("patient/result.html", access=access, outcome=outcome, report=report, also=also,
                           title=report_title(report.kind, report.item_key, content),
                           again_url=report_url(report.kind, report.item_key),
                           team=team, call=teams.whom_to_call(team, get_clock().now()))
