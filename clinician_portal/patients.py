"""The team's patients: the overview, the patient page (essentials, charts, timeline, notes,
frailty, messages) and the per-patient audit view."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlmodel import col, select
from wtforms import HiddenField, SearchField
from wtforms.validators import AnyOf, Optional

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Alert, AlertStatus, Patient, PatientStatus, Team
from homefollow.outcomes.cohorts import figures_table
from homefollow.outcomes.figures import WINDOW_DAYS
from homefollow.services import (audit, chart_history, checklist, messages, overview, pathway,
                                 patient_record, plans, relatives)
from homefollow.services.access import Need, require_patient
from homefollow.web import current_actor, signed_in_principal
from rules.measurements import ITEMS
from rules.schedule import local_date_of

from . import bp
from .figures import MEASURE_LABELS, patient_figures
from .filter_forms import FilterForm, FilterSelect, record_id, with_all
from .forms import OUTCOME_LABELS, MessageForm
from .patient_forms import FRAILTY_LABELS, FrailtyForm, NoteForm, PauseForm
from .views import staff_only

STATUS_LABELS = {
    PatientStatus.REFERRED.value: _l("Referred, no consent yet"),
    PatientStatus.ACTIVE.value: _l("Active"),
    PatientStatus.PAUSED.value: _l("Paused (admitted or away)"),
    PatientStatus.ENDED.value: _l("Ended"),
}
LIGHT_LABELS = {"red": _l("Red"), "yellow": _l("Yellow"), "green": _l("Green")}
SORT_LABELS = {
    "light": _l("Traffic light"), "name": _l("Name"), "team": _l("Team"), "last_report": _l("Last report"),
    "adherence": _l("Adherence"), "missed": _l("Missed today"), "alerts": _l("Open alerts"), "status": _l("Status"),
    "review": _l("Next plan review"),
}
CHART_PERIODS = (7, 30, 90)
TIMELINE_STEP = 25
TIMELINE_MAX = 500
# The audit log's actions in words; anything else is shown as recorded.
AUDIT_ACTIONS = {
    "view.patient": _l("Opened the patient page"),
    "view.alert": _l("Opened an alert"),
    "view.audit": _l("Opened the audit log"),
    "view.patients": _l("Opened the patient overview"),
    "view.today": _l("Opened today's list"),
    "view.history": _l("Looked at the measurements"),
    "view.plan": _l("Looked at the plan"),
    "view.messages": _l("Opened the messages"),
    "report.create": _l("Reported a value"),
    "alert.acknowledge": _l("Acknowledged an alert"),
    "alert.resolve": _l("Resolved an alert"),
    "alert.snooze": _l("Snoozed an alert"),
    "message.create": _l("Wrote a message to the team"),
    "message.send": _l("Sent a message to the patient"),
    "note.create": _l("Wrote a team note"),
    "patient.frailty": _l("Set the frailty score"),
    "plan.change": _l("Changed the plan"),
    "relative.grant": _l("Gave a relative access"),
    "relative.revoke": _l("Revoked a relative's access"),
    "settings.reminders": _l("Changed the reminders"),
    "access.denied": _l("Was refused access"),
    "view.pathway": _l("Looked at the pathway"),
    "pathway.referral": _l("Recorded the referral"),
    "pathway.consent": _l("Recorded the consent"),
    "pathway.consent_withdrawn": _l("Recorded that consent was withdrawn"),
    "pathway.mapping": _l("Recorded the mapping conversation"),
    "pathway.trial_start": _l("Started the trial period"),
    "pathway.trial_end": _l("Ended the trial period"),
    "pathway.evaluation": _l("Recorded an evaluation"),
    "pathway.end": _l("Ended follow-up"),
    "patient.pause": _l("Paused follow-up"),
    "patient.resume": _l("Resumed follow-up"),
}
AUDIT_ROLES = ("team_admin", "coordinator")


@bp.app_template_filter("audit_action")
def audit_action(action: str) -> str:
    label = AUDIT_ACTIONS.get(action)
    return str(label) if label else action


ACTOR_KINDS = {"staff": _l("staff"), "patient": _l("patient"), "relative": _l("relative"), "system": _l("system"),
               "anonymous": _l("not signed in")}


@bp.app_template_filter("audit_actor_kind")
def audit_actor_kind(kind: str) -> str:
    label = ACTOR_KINDS.get(kind)
    return str(label) if label else kind


# --- overview ----------------------------------------------------------------------------------

class OverviewFilterForm(FilterForm):
    q = SearchField(_l("Name"), filters=[lambda q: (q or "")[:100]], render_kw={"maxlength": 100})
    # Another team's id is kept, not dropped: the overview narrows to the user's teams and shows nobody.
    team = FilterSelect(_l("Team"), coerce=record_id, validate_choice=False)
    status = FilterSelect(_l("Status"), choices=with_all(_l("All"), STATUS_LABELS.items()))
    light = FilterSelect(_l("Traffic light"), choices=with_all(_l("All"), LIGHT_LABELS.items()))
    sort = HiddenField(default="light", validators=[AnyOf(overview.SORTS)])
    direction = HiddenField(name="dir", validators=[Optional(), AnyOf(("asc", "desc"))])


@bp.get("/patients")
@staff_only
def patients():
    principal = signed_in_principal()
    db, clock = get_session(), get_clock()
    teams = db.exec(select(Team).where(Team.id.in_(principal.team_ids)).order_by(Team.name)).all()
    form = OverviewFilterForm()
    form.team.choices = with_all(_("All my teams"), [(t.id, t.name) for t in teams])
    form.drop_invalid()
    filters = overview.Filters(team_id=form.team.data, status=form.status.data, light=form.light.data,
                               query=form.q.data)
    sort = form.sort.data
    descending = {"asc": False, "desc": True}.get(form.direction.data)
    if descending is None:
        descending = overview.DEFAULT_DESCENDING.get(sort, False)
    form.direction.data = "desc" if descending else "asc"
    if len(teams) < 2:
        del form.team  # one team: nothing to choose
    page = overview.overview_page(db, clock, principal.team_ids, filters, sort, descending,
                                  page=request.args.get("page", 1, type=int) or 1)
    audit.record(db, clock, actor=current_actor(), action="view.patients", patients=len(page.rows),
                 matching=page.total, page=page.page)
    return render_template("clinic/patients.html", rows=page.rows, paging=page, teams=teams, form=form,
                           sort=sort, descending=descending, status_labels=STATUS_LABELS, sort_labels=SORT_LABELS,
                           now=clock.now(), adherence_days=overview.ADHERENCE_DAYS, sort_url=_sort_url,
                           page_url=_page_url)


def _sort_url(column: str, sort: str, descending: bool) -> str:
    """The column header's link: the same filters, this column, the other direction when it
    is already the sort column."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("sort", "dir", "page") and v}
    if column == sort:
        direction = "asc" if descending else "desc"
    else:
        direction = "desc" if overview.DEFAULT_DESCENDING.get(column) else "asc"
    return url_for("clinician.patients", **args, sort=column, dir=direction)


def _page_url(page: int) -> str:
    """Another page of the overview: the same filters and sort."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page" and v}
    return url_for("clinician.patients", **args, page=page)


# --- patient page ------------------------------------------------------------------------------

@bp.get("/patients/<int:patient_id>")
@staff_only
def patient_detail(patient_id: int):
    return _patient_page(patient_id)


@bp.post("/patients/<int:patient_id>/messages")
@staff_only
def send_message(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action="message.send",
                             actor=current_actor())
    form = MessageForm()
    if not form.validate_on_submit():
        return _patient_page(patient_id, message_form=form, status=400)
    assert form.body.data is not None, "validated: DataRequired"
    messages.send_from_team(db, clock, patient=access.patient, actor=current_actor(), body=form.body.data)
    flash(_("The message is sent. The patient gets an SMS that there is a new message."), "success")
    return redirect(url_for("clinician.patient_detail", patient_id=patient_id) + "#messages-title")


@bp.post("/patients/<int:patient_id>/notes")
@staff_only
def add_note(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action="note.submit",
                             actor=current_actor())
    form = NoteForm()
    if not form.validate_on_submit():
        return _patient_page(patient_id, note_form=form, status=400)
    assert form.note.data is not None, "validated: DataRequired"
    patient_record.add_note(db, clock, patient=access.patient, actor=current_actor(), body=form.note.data)
    flash(_("The note is saved."), "success")
    return redirect(url_for("clinician.patient_detail", patient_id=patient_id) + "#timeline-title")


@bp.post("/patients/<int:patient_id>/frailty")
@staff_only
def set_frailty(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action="frailty.submit",
                             actor=current_actor())
    form = FrailtyForm()
    if not form.validate_on_submit():
        return _patient_page(patient_id, frailty_form=form, status=400)
    patient_record.set_frailty(db, clock, patient=access.patient, score=form.value, actor=current_actor())
    flash(_("The frailty score is saved."), "success")
    return redirect(url_for("clinician.patient_detail", patient_id=patient_id) + "#about-title")


def _patient_page(patient_id: int, message_form: MessageForm | None = None, note_form: NoteForm | None = None,
                  frailty_form: FrailtyForm | None = None, pause_form: PauseForm | None = None, status: int = 200):
    db, clock = get_session(), get_clock()
    principal = signed_in_principal()
    access = require_patient(db, clock, principal, patient_id, need=Need.VIEW, action="view.patient",
                             actor=current_actor())
    patient = access.patient
    now = clock.now()
    content, version = plans.current_content(db, patient.id)
    # First: reading the messages resolves the 'unread message' queue item (not listed below).
    new_message_ids = set(messages.mark_read_by_team(db, clock, patient.id, current_actor()))
    open_alerts = db.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.status != AlertStatus.RESOLVED.value)
                          .order_by(col(Alert.opened_at))).all()
    team = db.get(Team, patient.team_id)
    period = request.args.get("period", 30, type=int)
    if period not in CHART_PERIODS:
        period = 30
    shown = min(max(request.args.get("show", TIMELINE_STEP, type=int) or TIMELINE_STEP, TIMELINE_STEP), TIMELINE_MAX)
    entries, more = patient_record.timeline(db, patient, shown)
    history = chart_history.history(db, patient, content, end=now, days=period, locale=str(get_locale()),
                                    id_prefix="c-")
    thread = messages.thread(db, patient.id, limit=50)
    if frailty_form is None:
        frailty_form = FrailtyForm(data={"score": str(patient.frailty_score or "")})
    return render_template(
        "clinic/patient.html", patient=patient, plan=content, plan_version=version, open_alerts=open_alerts,
        team=team, thread=thread, authors=messages.author_names(db, thread), message_form=message_form or MessageForm(),
        new_messages=[m for m in thread if m.id in new_message_ids],
        note_form=note_form or NoteForm(), frailty_form=frailty_form, frailty_labels=FRAILTY_LABELS,
        age=patient_record.age_on(patient.birth_date, local_date_of(now, patient.time_zone)),
        grants=[(g, a) for g, a in relatives.grants_of(db, patient.id) if g.is_valid(now)],
        charts=history.charts, who=history.who, period=period, periods=CHART_PERIODS,
        entries=entries, more=more, shown=shown, next_shown=min(shown + TIMELINE_STEP, TIMELINE_MAX),
        outcome_labels=OUTCOME_LABELS, status_labels=STATUS_LABELS,
        can_see_audit=_may_see_audit(principal, patient), pathway=pathway.standing_of(db, clock, patient),
        adherence=[checklist.adherence(db, clock, patient, content, days=d) for d in (7, 30)],
        service_use=_service_use_table(db, clock, patient), measure_labels=MEASURE_LABELS,
        window=WINDOW_DAYS, pause_form=pause_form or PauseForm.for_patient(patient), ITEMS=ITEMS), status


def _service_use_table(db, clock, patient: Patient):
    """The before/after table, or None when the patient has no service-use history at all."""
    result = patient_figures(db, clock, patient)
    return None if result.without_history else figures_table(result)


# --- audit view --------------------------------------------------------------------------------

def _may_see_audit(principal, patient: Patient) -> bool:
    return any(principal.has_role(patient.team_id, role) for role in AUDIT_ROLES)


@bp.get("/patients/<int:patient_id>/audit")
@staff_only
def patient_audit(patient_id: int):
    db, clock = get_session(), get_clock()
    principal = signed_in_principal()
    patient = db.get(Patient, patient_id)
    if patient is None or patient.team_id not in principal.team_ids or not _may_see_audit(principal, patient):
        # Another team's patient (or none): 404 from the policy. A team member without the role:
        # require_patient would grant, so the refusal is audited here and explained.
        if patient is None or patient.team_id not in principal.team_ids:
            require_patient(db, clock, principal, patient_id, action="view.audit", actor=current_actor())
        assert patient is not None, "require_patient refuses a patient who does not exist"
        audit.record(db, clock, actor=current_actor(), action="access.denied", patient_id=patient.id,
                     attempted="view.audit", need="team_admin or coordinator")
        return render_template("clinic/forbidden.html", patient=patient,
                               message=_("Only the team's administrators and coordinators can see who has looked at "
                                         "or changed a patient's record. Ask one of them if you need to know.")), 403
    access = require_patient(db, clock, principal, patient_id, action="view.audit", actor=current_actor())
    log = patient_record.audit_log(db, patient_id, request.args.get("page", 1, type=int) or 1)
    return render_template("clinic/patient_audit.html", patient=access.patient, log=log)
