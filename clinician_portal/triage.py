"""The triage queue page and its actions: assign an alert, acknowledge a selection of yellow
alerts. Query logic lives in homefollow.services.triage; access goes through require_patient."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Alert
from homefollow.services import alerts, audit, triage
from homefollow.services.access import AccessDenied, Need, require_patient
from homefollow.web import current_actor, current_principal, safe_next, signed_in_principal

from . import bp
from .filter_forms import FilterForm, FilterSelect, record_id, with_all
from .forms import ActionForm
from .views import staff_only

MAX_SELECTED = 200  # more than a page of yellow rows is not a selection a nurse made by hand
SEVERITY_LABELS = {"red": _l("Red"), "yellow": _l("Yellow")}
STATUS_LABELS = {"open": _l("Not acknowledged"), "acknowledged": _l("Acknowledged"), "snoozed": _l("Snoozed"),
                 "mine": _l("Assigned to me")}


class QueueFilterForm(FilterForm):
    team = FilterSelect(_l("Team"), coerce=record_id)
    municipality = FilterSelect(_l("Municipality"), coerce=record_id)
    severity = FilterSelect(_l("Severity"), choices=with_all(
        _l("Red and yellow"), [(s, SEVERITY_LABELS[s]) for s in triage.SEVERITIES]))
    status = FilterSelect(_l("Status"), choices=with_all(
        _l("All open alerts"), [(s, STATUS_LABELS[s]) for s in triage.STATUSES]))


def queue_page():
    """GET /clinic/: the queue, filtered by the query string (see docs/triage.md)."""
    principal = current_principal()
    db, clock = get_session(), get_clock()
    teams = triage.teams_of(db, principal.team_ids)
    municipalities = triage.municipalities_of(db, principal.team_ids)
    form = QueueFilterForm()
    form.team.choices = with_all(_("All my teams"), teams)
    form.municipality.choices = with_all(_("All municipalities"), municipalities)
    # Unknown, malformed or another team's: dropped and said so, never an error page nor a peek.
    dropped = bool(form.drop_invalid())
    filters = triage.QueueFilters(form.team.data, form.municipality.data, form.severity.data, form.status.data)
    if len(teams) < 2:
        del form.team  # one team: nothing to choose
    queue = triage.load_queue(db, clock, team_ids=principal.team_ids, account_id=principal.account_id,
                              filters=filters, teams=teams, municipalities=municipalities,
                              page=request.args.get("page", 1, type=int) or 1)
    audit.record(db, clock, actor=current_actor(), action="view.queue", alerts=len(queue.rows), page=queue.page,
                 **({"filters": request.args.to_dict()} if filters.any else {}))
    return render_template("clinic/queue.html", queue=queue, rows=queue.rows, counts=queue.counts, form=form,
                           ack_form=ActionForm(), now=clock.now(), dropped=dropped, here=request.full_path.rstrip("?"),
                           me=principal.account_id, page_url=_page_url)


def _page_url(page: int) -> str:
    """Another page of the queue: the same filters."""
    filters: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page" and v}
    return url_for("clinician.queue", **filters, page=page)


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("clinician.queue"))


@bp.post("/alerts/<int:alert_id>/assign")
@staff_only
def assign(alert_id: int):
    db, clock = get_session(), get_clock()
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise AccessDenied(alert_id)
    principal = signed_in_principal()
    require_patient(db, clock, principal, alert.patient_id, need=Need.VIEW, action="alert.assign",
                    actor=current_actor())
    if not ActionForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "warning")
        return redirect(_back())
    raw = (request.form.get("assignee") or "").strip()
    assignee_id = principal.account_id if raw == "me" else (int(raw) if raw.isdigit() and len(raw) < 12 else None)
    if assignee_id is None:
        flash(_("Choose who the alert is assigned to."), "error")
        return redirect(_back())
    try:
        triage.assign(db, clock, alert, assignee_account_id=assignee_id, actor=current_actor())
    except triage.NotATeamMember:
        flash(_("An alert can only be assigned to a member of the patient's team."), "error")
        return redirect(_back())
    except alerts.AlertStateError:
        flash(_("This alert was already resolved by someone else."), "warning")
        return redirect(_back())
    if assignee_id == principal.account_id:
        flash(_("The alert is assigned to you."), "success")
    else:
        name = triage.account_names(db, {assignee_id}).get(assignee_id, "?")
        flash(_("The alert is assigned to %(name)s.", name=name), "success")
    return redirect(_back())


@bp.post("/alerts/acknowledge-selected")
@staff_only
def acknowledge_selected():
    """Acknowledge the yellow alerts ticked in the queue, each one on its own (event + audit)."""
    db, clock = get_session(), get_clock()
    principal = current_principal()
    if not ActionForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "warning")
        return redirect(_back())
    ids = sorted({int(v) for v in request.form.getlist("alert_id") if v.strip().isdigit() and len(v.strip()) < 12})
    if not ids:
        flash(_("Tick the yellow alerts you want to acknowledge first."), "error")
        return redirect(_back())
    if len(ids) > MAX_SELECTED:
        flash(_("Select at most %(n)s alerts at a time.", n=MAX_SELECTED), "error")
        return redirect(_back())
    selected = triage.alerts_by_id(db, ids)
    if len(selected) != len(ids):
        raise AccessDenied(ids)
    for alert in selected:  # every alert must be the user's before anything changes
        require_patient(db, clock, principal, alert.patient_id, need=Need.VIEW, action="alert.acknowledge_selected",
                        actor=current_actor())
    result = triage.acknowledge_yellow(db, clock, selected, actor=current_actor())
    if result.acknowledged:
        flash(ngettext("%(num)s alert acknowledged.", "%(num)s alerts acknowledged.", len(result.acknowledged)),
              "success")
    if result.red_refused:
        flash(ngettext("%(num)s red alert was not acknowledged: red alerts must be opened and acknowledged one "
                       "at a time.",
                       "%(num)s red alerts were not acknowledged: red alerts must be opened and acknowledged one "
                       "at a time.", len(result.red_refused)), "error")
    if result.already:
        flash(ngettext("%(num)s alert had already been acknowledged or resolved by someone else.",
                       "%(num)s alerts had already been acknowledged or resolved by someone else.",
                       len(result.already)), "warning")
    return redirect(_back())


@bp.app_template_global()
def assign_choices(alert: Alert) -> list[tuple[int, str]]:
    """Members of the alert's team, for the assign form on the alert page."""
    return triage.team_members(get_session(), alert.team_id)


@bp.app_template_global()
def account_name(account_id: int | None) -> str | None:
    return triage.account_names(get_session(), {account_id}).get(account_id) if account_id else None
