"""The enrolment pathway in the clinician portal: the dashboard of overdue steps per team and
municipality, the patient's pathway page with a form per step, the team admins' deadlines, and
referring a candidate. Logic lives in homefollow.services.pathway."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlmodel import select

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Organisation, ServicePerson, Team
from homefollow.services import audit, teams, triage
from homefollow.services import pathway as pw
from homefollow.services.access import AccessDenied, Need, require_patient
from homefollow.services.patient_record import account_names
from homefollow.web import current_actor, current_principal, signed_in_principal
from rules.schedule import local_date_of

from . import bp
from .filter_forms import FilterForm, FilterSelect, record_id, with_all
from .pathway_forms import (CURRENT_LABELS, DATE_HINT, END_REASON_LABELS, GIVEN_BY_LABELS, SCOPE_LABELS,
                            STEP_LABELS, ConsentForm, DeadlinesForm, EndForm, EvaluationForm, MappingForm,
                            ReferCandidateForm, ReferralForm, TrialEndForm, TrialStartForm, WithdrawalForm)
from .patient_forms import FRAILTY_LABELS
from .team_admin import _admin_team, _saved, attach
from .team_forms import choices
from .views import staff_only

MESSAGES = {
    "date_missing": _l("Write the date."),
    "date_format": _l("Write the date as YYYY-MM-DD or DD.MM.YYYY, for example 2026-03-02 (you wrote %(value)s)."),
    "date_in_future": _l("The date cannot be in the future: record a step when it has happened."),
    "before_referral": _l("The date cannot be before the referral (%(date)s)."),
    "before_consent": _l("The date cannot be before the consent (%(date)s)."),
    "before_trial_start": _l("The date cannot be before the trial period started (%(date)s)."),
    "before_trial_end": _l("The date cannot be before the trial period ended (%(date)s)."),
    "text_too_long": _l("Write at most %(limit)s characters."),
    "scope_follow_up": _l("Home follow-up cannot start without consent to it: tick “Home follow-up with measurements "
                          "and check-ins”."),
    "choose_given_by": _l("Choose who gave the consent."),
    "representative_missing": _l("Write the representative's name and relation to the patient."),
    "what_matters_missing": _l("Write what matters to the patient, in their own words."),
    "evaluation_note_missing": _l("Write what the evaluation concluded."),
    "frailty_range": _l("Choose a score from 1 to 9, or 'Not assessed'."),
    "choose_reason": _l("Choose why follow-up ends."),
    "choose_municipality": _l("Choose a municipality from the list."),
    "no_pathway": _l("Record the referral first."),
    "already_referred": _l("This person is already referred."),
    "already_ended": _l("The pathway has ended; nothing more can be recorded."),
    "no_consent": _l("Record the consent first."),
    "trial_not_started": _l("Record the start of the trial period first."),
    "trial_too_short": _l("The trial period must last at least %(days)s days, so the personal limits rest on enough "
                          "readings."),
    "no_follow_up_yet": _l("Record the end of the trial period first."),
    "number_missing": _l("Write a number."),
    "whole_number": _l("Write a whole number (you wrote %(value)s)."),
    "number_range": _l("Choose from %(low)s to %(high)s."),
    "deadlines_order": _l("The deadlines must come in order: consent, then the mapping conversation, then the plan."),
    "trial_max_below_min": _l("The longest trial period cannot be shorter than the shortest."),
    "no_out_of_hours_route": _l("%(team)s cannot take on patients yet: nobody would be paged about a red alert "
                                "outside opening hours."),
}


def _located(problems: list[pw.Problem]) -> list[tuple[tuple, str, dict]]:
    """The pathway service names a problem's field; a location is that name alone ('' : the form)."""
    return [((name,) if name else (), code, params) for name, code, params in problems]


def problem_text(code: str, params: dict) -> str:
    if code == "no_out_of_hours_route":  # what is wrong, then what to fix (teams.RouteProblem)
        return " ".join([str(MESSAGES[code]) % {"team": params["team"]},
                         *(_(problem.msgid, **problem.params) for problem in params["route"])])
    return str(MESSAGES[code]) % params if params else str(MESSAGES[code])


def _route_notice(db, team: Team) -> dict:
    """For the templates' route_notice: what keeps the team from taking on patients (nothing
    when it has an out-of-hours route), and whether this user can fix it."""
    return {"route_team": team, "route_problems": teams.out_of_hours_route_problems(db, team),
            "route_can_edit": signed_in_principal().has_role(team.id, "team_admin")}


# The form of each step (the step's name is in the URL), its date field and what is said when saved.
STEP_FORMS: dict[str, type[FlaskForm]] = {
    "referral": ReferralForm, "consent": ConsentForm, "withdrawal": WithdrawalForm, "mapping": MappingForm,
    "trial_start": TrialStartForm, "trial_end": TrialEndForm, "evaluation": EvaluationForm, "end": EndForm,
}
DATE_FIELDS = {
    "referral": "referred_on", "consent": "consent_on", "withdrawal": "withdrawn_on", "mapping": "mapping_on",
    "trial_start": "trial_start_on", "trial_end": "trial_end_on", "evaluation": "evaluation_on", "end": "ended_on",
}
SAVED = {
    "referral": _l("The referral is recorded."), "consent": _l("The consent is recorded. Follow-up may start."),
    "withdrawal": _l("The withdrawal of consent is recorded. Follow-up has stopped: nothing more is sent to the "
                     "patient or their relatives."),
    "mapping": _l("The mapping conversation is recorded."), "trial_start": _l("The start of the trial period is recorded."),
    "trial_end": _l("The trial period is ended: active follow-up has begun."),
    "evaluation": _l("The evaluation is recorded."),
    "end": _l("Follow-up has ended. Nothing more is sent to the patient or their relatives."),
}


def _record(step: str, form, db, clock, patient) -> None:
    """Hands the posted values to the service's function for the step."""
    common = {"actor": current_actor()}
    f = form.data
    if step == "referral":
        pw.record_referral(db, clock, patient, referred_on=f["referred_on"], referred_by=f["referred_by"], **common)
    elif step == "consent":
        pw.record_consent(db, clock, patient, consent_on=f["consent_on"], scope=f["scope"] or [],
                          given_by=f["given_by"] or "", representative=f["representative"], **common)
    elif step == "withdrawal":
        pw.withdraw_consent(db, clock, patient, withdrawn_on=f["withdrawn_on"], note=f["withdrawal_note"], **common)
    elif step == "mapping":
        pw.record_mapping(db, clock, patient, mapping_on=f["mapping_on"], what_matters=f["what_matters"],
                          goals=f["goals"], risks=f["risks"], frailty=f["frailty"] or "", **common)
    elif step == "trial_start":
        pw.record_trial_start(db, clock, patient, trial_start_on=f["trial_start_on"], **common)
    elif step == "trial_end":
        pw.record_trial_end(db, clock, patient, trial_end_on=f["trial_end_on"], **common)
    elif step == "evaluation":
        pw.record_evaluation(db, clock, patient, evaluation_on=f["evaluation_on"], note=f["evaluation_note"], **common)
    else:
        pw.end_pathway(db, clock, patient, ended_on=f["ended_on"], reason=f["end_reason"] or "", note=f["end_note"],
                       **common)


@bp.app_context_processor
def _pathway_labels():
    return {"pathway_step_labels": STEP_LABELS, "pathway_current_labels": CURRENT_LABELS,
            "pathway_deadlines": pw.deadlines_of}


# ---- the patient's pathway ------------------------------------------------------------------

@bp.get("/patients/<int:patient_id>/pathway")
@staff_only
def patient_pathway(patient_id: int):
    return _pathway_page(patient_id)


@bp.post("/patients/<int:patient_id>/pathway/<step>")
@staff_only
def record_step(patient_id: int, step: str):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT,
                             action="pathway.submit", actor=current_actor())
    form_class = STEP_FORMS.get(step)
    if form_class is None:
        raise AccessDenied(step)
    form = form_class()
    if not form.validate_on_submit():  # only the CSRF token can fail here
        return _pathway_page(patient_id, {step: form}, [("", _("The form had expired. Please try again."))])
    try:
        with db.begin_nested():  # a refused step leaves nothing behind but the access record
            _record(step, form, db, clock, access.patient)
    except pw.PathwayError as exc:
        return _pathway_page(patient_id, {step: form}, attach(form, _located(exc.problems), problem_text))
    flash(str(SAVED[step]), "success")
    return redirect(url_for("clinician.patient_pathway", patient_id=patient_id))


def _pathway_page(patient_id: int, posted: dict | None = None, summary: list | None = None):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.VIEW, action="view.pathway",
                             actor=current_actor())
    patient = access.patient
    today = local_date_of(clock.now(), patient.time_zone).isoformat()
    standing = pw.standing_of(db, clock, patient)
    forms = {}
    for step, form_class in STEP_FORMS.items():
        if posted and step in posted:
            forms[step] = posted[step]
            continue
        forms[step] = form_class(formdata=None, data={DATE_FIELDS[step]: today})
    mapping = forms["mapping"]
    if not (posted and "mapping" in posted):
        mapping.frailty.data = str(patient.frailty_score or "")
        if standing is not None:
            mapping.what_matters.data, mapping.goals.data = standing.pathway.what_matters, standing.pathway.goals
            mapping.risks.data = standing.pathway.risks
    names = account_names(db, {e.get("by") for e in standing.pathway.evaluations}) if standing else {}
    team = db.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    # Only the consent of a referred patient starts follow-up, and only that is refused.
    route = _route_notice(db, team) if patient.status == "referred" else {}
    return render_template(
        "clinic/pathway.html", patient=patient, team=team, standing=standing, forms=forms, **route,
        summary=summary or [], step_labels=STEP_LABELS, current_labels=CURRENT_LABELS, scope_labels=SCOPE_LABELS,
        given_by_labels=GIVEN_BY_LABELS, end_reason_labels=END_REASON_LABELS, frailty_labels=FRAILTY_LABELS,
        date_hint=DATE_HINT, evaluators=names,
        evaluations=[(date.fromisoformat(e["on"]), e) for e in reversed(standing.pathway.evaluations)] if standing else []
    ), 400 if summary else 200


# ---- the dashboard --------------------------------------------------------------------------

class DashboardFilterForm(FilterForm):
    class Meta:
        id_prefix = "pathway"

    team = FilterSelect(_l("Team"), coerce=record_id)
    municipality = FilterSelect(_l("Municipality"), coerce=record_id)


@bp.get("/pathway")
@staff_only
def pathway_dashboard():
    principal = current_principal()
    db, clock = get_session(), get_clock()
    municipalities = triage.municipalities_of(db, principal.team_ids) if principal.team_ids else []
    teams = list(db.exec(select(Team).where(Team.id.in_(sorted(principal.team_ids))).order_by(Team.name))) \
        if principal.team_ids else []
    form = DashboardFilterForm()
    form.team.choices = with_all(_("All my teams"), [(t.id, t.name) for t in teams])
    form.municipality.choices = with_all(_("All municipalities"), municipalities)
    form.drop_invalid()  # another team's id, or a municipality none of the teams' patients live in: dropped
    board = pw.dashboard(db, clock, principal.team_ids, team_id=form.team.data, municipality_id=form.municipality.data)
    audit.record(db, clock, actor=current_actor(), action="view.pathway", overdue=len(board.rows))
    return render_template("clinic/pathway_dashboard.html", board=board, teams=teams, form=form,
                           step_labels=STEP_LABELS, current_labels=CURRENT_LABELS, overdue_steps=pw.STEPS[1:7])


# ---- the team's deadlines -------------------------------------------------------------------

@bp.route("/teams/<int:team_id>/pathway-deadlines", methods=["GET", "POST"])
@staff_only
def team_pathway_deadlines(team_id: int):
    team = _admin_team(team_id, "pathway_deadlines")
    db, clock = get_session(), get_clock()
    form = DeadlinesForm()
    summary = []
    if request.method == "GET":
        form.process(data={k: str(v) for k, v in pw.deadlines_of(team).model_dump().items()})
    elif form.validate_on_submit():
        deadlines, problems = pw.check_deadlines({name: form[name].data or "" for name in pw.DEADLINE_LIMITS})
        if not problems:
            assert deadlines is not None, "check_deadlines gives the deadlines when it finds no problem"
            pw.save_deadlines(db, clock, team, current_actor(), deadlines)
            return _saved(team, _("The pathway deadlines are saved."))
        summary = attach(form, _located(problems), problem_text)
    return render_template("clinic/team_pathway_deadlines.html", team=team, form=form, summary=summary,
                           defaults=pw.Deadlines()), 400 if summary else 200


# ---- referring a candidate ------------------------------------------------------------------

@bp.route("/candidates/<int:person_id>/refer", methods=["GET", "POST"])
@staff_only
def refer_candidate(person_id: int):
    principal = signed_in_principal()
    db, clock = get_session(), get_clock()
    person = db.get(ServicePerson, person_id)
    if person is None or person.team_id not in principal.team_ids:
        audit.record_refusal(db, clock, actor=current_actor(), object_type="service_person", object_id=person_id,
                             attempted="pathway.refer")
        raise AccessDenied(person_id)
    if request.method == "GET":  # the page shows the person's name and history: a read (issue 19)
        audit.record(db, clock, actor=current_actor(),
                     action="view.candidate_refer", patient_id=person.patient_id, object_type="service_person",
                     object_id=person.id)
    team = db.get(Team, person.team_id)
    assert team is not None, "a person's team exists (foreign key)"
    form = ReferCandidateForm()
    form.municipality.choices = choices(
        [("", _("(not known)"))] + [(str(o.id), o.name) for o in db.exec(
            select(Organisation).where(Organisation.kind == "municipality").order_by(Organisation.name))])
    summary = []
    if person.patient_id is not None:
        flash(_("This person is already referred."), "warning")
        return redirect(url_for("clinician.patient_pathway", patient_id=person.patient_id))
    if request.method == "GET":
        form.referred_on.data = local_date_of(clock.now(), team.time_zone).isoformat()
    elif form.validate_on_submit():
        municipality = (form.municipality.data or "").strip()
        # Not a number: -1, which is no municipality, so the service says "choose one from the list".
        municipality_id = None if not municipality else int(municipality) if municipality.isdigit() else -1
        try:
            with db.begin_nested():  # a refused referral leaves nothing behind
                patient = pw.refer_candidate(db, clock, person, municipality_id=municipality_id,
                                             referred_on=form.referred_on.data, referred_by=form.referred_by.data,
                                             actor=current_actor())
        except pw.PathwayError as exc:
            summary = attach(form, _located(exc.problems), problem_text)
        else:
            flash(_("%(name)s is referred. Record the consent when it is given: nothing is sent to the patient "
                    "before that.", name=patient.name), "success")
            return redirect(url_for("clinician.patient_pathway", patient_id=patient.id))
    return render_template("clinic/refer_candidate.html", person=person, team=team, form=form, summary=summary,
                           date_hint=DATE_HINT, **_route_notice(db, team)), 400 if summary else 200
