"""Views of the clinician portal."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import cast

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlmodel import select, col

from homefollow import transactions
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.escalation import parse_policy
from homefollow.escalation.policy import Severity
from homefollow.models import Account, Alert, AlertStatus, Notification, Outcome, Patient, Report
from homefollow.services import alerts, audit, messages, plans, reporting
from homefollow.services.system import scheduler_status
from homefollow.services.access import AccessDenied, Need, require_patient
from homefollow.web import (current_actor, current_principal, format_local_datetime, safe_next, sign_out, signed_in_principal, take_stashed_form)

from . import bp
from .forms import OUTCOME_LABELS, SNOOZE_MINUTES, ActionForm, ResolveForm, SnoozeForm


@bp.app_context_processor
def _scheduler_warning():
    """Team admins see at once when the scheduler has stopped: nothing is paged then."""
    principal = current_principal()
    if principal is None or not principal.is_staff or not principal.is_admin_of_any_team():
        return {}
    return {"scheduler": scheduler_status(get_session(), get_clock())}


def staff_only(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


# The sign-in pages (password, then the authenticator code) live in signin.py.


@bp.post("/logout")
@login_required
def logout():
    sign_out()
    flash(_("You are signed out."), "success")
    return redirect(url_for("clinician.login"))


@bp.get("/")
@staff_only
def queue():
    from .triage import queue_page  # the queue and its actions live in clinician_portal/triage.py

    return queue_page()


@bp.get("/alerts/<int:alert_id>")
@staff_only
def alert_detail(alert_id: int):
    db, clock = get_session(), get_clock()
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise AccessDenied(alert_id)
    access = require_patient(db, clock, signed_in_principal(), alert.patient_id, need=Need.VIEW, action="view.alert",
                             actor=current_actor())
    stashed = take_stashed_form("clinician.resolve", {"alert_id": alert_id})
    resolve_form = ResolveForm(data=stashed) if stashed else ResolveForm()
    return _alert_page(alert, access.patient, resolve_form, restored=bool(stashed))


def _snooze_form(alert: Alert, form: SnoozeForm | None = None) -> SnoozeForm | None:
    """The snooze form, with choices up to what the alert's frozen policy allows (None: not allowed)."""
    if alert.escalation_policy is None or alert.status == AlertStatus.RESOLVED.value:
        return None
    limit = parse_policy(alert.escalation_policy).snooze_max.of(cast(Severity, alert.severity))  # yellow or red
    if limit < SNOOZE_MINUTES[0]:
        return None
    form = form or SnoozeForm()
    form.limit_to(limit)
    return form


def _alert_page(alert: Alert, patient: Patient, resolve_form: ResolveForm, restored: bool = False, status: int = 200,
                snooze_form: SnoozeForm | None = None):
    """The alert with what a nurse needs to act: what fired and why, what the patient was told,
    what the plan says the team does, the latest readings, and the event log."""
    db = get_session()
    events = alerts.events_of(db, alert.id)
    actors = _names(db, {e.actor_account_id for e in events} | {alert.resolved_by_account_id})
    report = db.get(Report, alert.last_report_id) if alert.last_report_id else None
    reporter = reporting.reporters(db, patient, [report]).get(report.id) if report else None
    content, _version = plans.current_content(db, patient.id)
    planned = content.measurement(report.item_key) if report else None
    team_action = planned.team_actions.for_zone(alert.severity) if planned else ""
    recent = reporting.recent_reports(db, patient.id, limit=8)
    pages = db.exec(select(Notification).where(col(Notification.alert_id) == alert.id).order_by(col(Notification.created_at),
                                                                                           col(Notification.id))).all()
    return render_template("clinic/alert.html", alert=alert, patient=patient, events=events, actors=actors,
                           report=report, reporter=reporter, team_action=team_action, recent=recent, pages=pages, plan=content,
                           ack_form=ActionForm(), resolve_form=resolve_form, restored=restored,
                           snooze_form=_snooze_form(alert, snooze_form), outcome_labels=OUTCOME_LABELS,
                           message_item=alert.rule_key == messages.ALERT_KEY), status


@bp.post("/alerts/<int:alert_id>/acknowledge")
@staff_only
def acknowledge(alert_id: int):
    db, clock = get_session(), get_clock()
    alert = _alert_for_action(alert_id, "alert.acknowledge")
    if ActionForm().validate_on_submit():
        try:
            transactions.run_in_transaction(db, lambda: alerts.acknowledge(db, clock, alert.id, current_user.id),
                                            what="acknowledgement")
            flash(_("Alert acknowledged. Resolve it when you have followed it up."), "success")
        except alerts.AlertStateError:
            flash(_("This alert was already acknowledged or resolved by someone else."), "warning")
    return redirect(safe_next(request.form.get("next"), url_for("clinician.alert_detail", alert_id=alert.id)))


def _patient_of(alert: Alert) -> Patient:
    patient = get_session().get(Patient, alert.patient_id)
    assert patient is not None, "an alert's patient exists (foreign key)"
    return patient


@bp.post("/alerts/<int:alert_id>/resolve")
@staff_only
def resolve(alert_id: int):
    db, clock = get_session(), get_clock()
    alert = _alert_for_action(alert_id, "alert.resolve")
    form = ResolveForm()
    if not form.validate_on_submit():
        return _alert_page(alert, _patient_of(alert), form, status=400)
    try:
        alerts.resolve(db, clock, alert.id, current_user.id, Outcome(form.outcome.data), (form.note.data or "").strip())
        flash(_("Alert resolved."), "success")
    except alerts.AlertStateError:
        db.refresh(alert)
        by_id = alert.resolved_by_account_id
        by = _names(db, {by_id}).get(by_id, "?") if by_id is not None else "?"
        flash(_("This alert was already resolved by %(name)s at %(time)s. Your note was not saved.", name=by,
                time=format_local_datetime(alert.resolved_at, pattern="HH:mm")), "warning")
        return redirect(url_for("clinician.alert_detail", alert_id=alert.id))
    return redirect(url_for("clinician.queue"))


@bp.post("/alerts/<int:alert_id>/snooze")
@staff_only
def snooze(alert_id: int):
    db, clock = get_session(), get_clock()
    alert = _alert_for_action(alert_id, "alert.snooze")
    form = _snooze_form(alert, SnoozeForm())
    if form is None:
        abort(400)
    if not form.validate_on_submit():
        return _alert_page(alert, _patient_of(alert), ResolveForm(), snooze_form=form, status=400)
    until = clock.now() + timedelta(minutes=form.minutes.data)
    try:
        alerts.snooze(db, clock, alert.id, current_user.id, until, form.reason.data or "")
        flash(_("Paging is paused until %(time)s. The alert stays in the queue.",
                time=format_local_datetime(until, pattern="HH:mm")), "success")
    except alerts.SnoozeRefused:
        flash(_("The alert could not be snoozed for that long. Choose a shorter time."), "warning")
    except alerts.AlertStateError:
        flash(_("This alert was already resolved by someone else."), "warning")
    return redirect(url_for("clinician.alert_detail", alert_id=alert.id))


def _alert_for_action(alert_id: int, action: str) -> Alert:
    db = get_session()
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise AccessDenied(alert_id)
    require_patient(db, get_clock(), signed_in_principal(), alert.patient_id, need=Need.VIEW, action=action,
                    actor=current_actor())
    return alert


# The patient page, its forms and the patient overview live in patients.py.


@bp.get("/admin/outbox")
@staff_only
def outbox():
    """What was sent (or, without Twilio, would have been sent) for the admin's teams."""
    principal = current_principal()
    admin_teams = frozenset(t for t in principal.team_ids if principal.has_role(t, "team_admin"))
    if not admin_teams:
        abort(403)
    db = get_session()
    rows = db.exec(
        select(Notification, Alert).join(Alert, Alert.id == Notification.alert_id)
        .where(Alert.team_id.in_(admin_teams)).order_by(Notification.created_at.desc()).limit(200)
    ).all()
    audit.record(db, get_clock(), actor=current_actor(), action="view.outbox")
    return render_template("clinic/outbox.html", rows=rows)


def _names(db, account_ids) -> dict[int, str]:
    ids = [i for i in account_ids if i]
    if not ids:
        return {}
    return {a.id: a.name for a in db.exec(select(Account).where(col(Account.id).in_(ids)))}



@bp.get("/teams")
@staff_only
def teams():
    """The user's teams: members, opening hours, the on-call rota and how alerts are paged;
    team admins get links to edit them (clinician_portal/team_admin.py)."""
    from homefollow.services import team_settings
    from homefollow.services import teams as teams_service

    principal = current_principal()
    db, clock = get_session(), get_clock()
    views = team_settings.overview(db, clock, principal)
    route_problems = {v.team.id: teams_service.out_of_hours_route_problems(db, v.team) for v in views}
    audit.record(db, clock, actor=current_actor(), action="view.teams")
    return render_template("clinic/teams.html", views=views, route_problems=route_problems)
