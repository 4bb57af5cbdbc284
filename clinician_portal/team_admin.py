"""Team settings for team admins: opening hours, phones, the on-call rota and the escalation
policy, one form page each. Members of the team who are not its admin get 403 here (the
Teams page shows them everything read-only); staff of other teams get 404."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from homefollow import plan_text
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.form_errors import attach_errors
from homefollow.models import Team
from homefollow.services.team_settings import Situation
from homefollow.services import team_settings as ts
from homefollow.services.access import AccessDenied
from homefollow.services.escalation import default_policy, team_policy
from homefollow.services.teams import WEEKDAY_KEYS
from homefollow.web import current_actor, signed_in_principal, target_label

from . import bp
from .team_forms import DAY_NAMES, choices, PEOPLE_PER_SHIFT, OpeningHoursForm, PhonesForm, PolicyForm, RotaForm
from .views import staff_only
from rules.schedule import local_date_of

BLANK_STEP_ROWS = 2
BLANK_FALLBACK_ROWS = 1
BLANK_ROTA_ROWS = 2

MESSAGES = {
    "time_missing": _l("Write both times, or leave both empty if the team is closed."),
    "time_format": _l("Write a time of day as HH:MM, for example 08:00 (you wrote %(value)s)."),
    "closes_before_opens": _l("The closing time must be later than the opening time."),
    "on_call_phone_required": _l("Write the on-call phone number: it is paged when nobody else can be reached."),
    "phone_invalid": _l("Write a valid Norwegian phone number, for example 77 62 00 00 or 900 00 000 "
                        "(you wrote %(value)s)."),
    "choose_role": _l("Choose a role."),
    "not_a_member": _l("Choose a member of the team."),
    "person_twice": _l("This person is already in this rotation."),
    "shift_without_person": _l("Choose who takes this shift, or empty the whole row to remove it."),
    "shift_without_weekdays": _l("Choose at least one weekday the shift starts on."),
    "date_format": _l("Write the date as YYYY-MM-DD or DD.MM.YYYY, for example 2026-03-02 (you wrote %(value)s)."),
    "choose_handover": _l("Choose how the shift is handed over."),
    "shifts_overlap": _l("This shift overlaps shift %(other)s for the same role (from %(day)s %(time)s). Only one "
                         "person can be on call for a role at a time: change the times or the weekdays."),
    "whole_minutes": _l("Write a whole number of minutes (you wrote %(value)s)."),
    "choose_target": _l("Choose who is paged."),
    "number_missing": _l("Write the phone number."),
    "channels_missing": _l("Choose at least one channel: SMS or e-mail."),
    "phone_sms_only": _l("A phone number can only receive SMS: choose SMS only."),
    "severities_missing": _l("Choose yellow, red or both."),
    "queue_only_red": _l("A step that only waits in the triage queue cannot apply to red alerts: red alerts never "
                         "wait. Choose yellow only."),
    "steps_missing": _l("Add at least one step: choose who is paged in the first row."),
    "no_red_in_hours": _l("No step pages anyone about red alerts in opening hours. Add one for “at any time” or "
                          "“in opening hours”."),
    "no_red_outside_hours": _l("No step pages anyone about red alerts outside opening hours. Add one for “at any "
                               "time” or “outside opening hours”, for example the on-call phone."),
    "fallback_empty": _l("The fallback cannot be empty: add the team's on-call phone or a 24/7 response centre. It "
                         "is paged when a step reaches nobody."),
    "fallback_queue": _l("The triage queue cannot be a fallback: the fallback must reach a person."),
    "fallback_needs_phone": _l("Include at least one fixed phone number in the fallback (the on-call phone or a 24/7 "
                               "response centre): people and rotas can turn out empty."),
    "remeasure_rules_missing": _l("Name at least one rule, for example copd.spo2_low."),
    "remeasure_wait_missing": _l("Write how many minutes to wait for the new measurement."),
    "choose_when": _l("Choose when the step applies."),
    "choose_repeat": _l("Choose from 0 to 3 extra rounds."),
    "name_length": _l("Write a name of at most 100 characters."),
    "policy_other": _l("This value is not accepted: %(reason)s"),
}


def problem_text(code: str, params: dict) -> str:
    if code == "minutes_missing":
        return _("Write the number of minutes for red alerts.") if params.get("severity") == "red" else \
            _("Write the number of minutes for yellow alerts.")
    if code == "minutes_range":
        text = _("For red alerts, choose from %(low)s to %(high)s minutes.") if params.get("severity") == "red" else \
            _("For yellow alerts, choose from %(low)s to %(high)s minutes.")
        return text % {"low": params["low"], "high": params["high"]}
    if code == "shifts_overlap":
        params = {**params, "day": DAY_NAMES[params["day"]]}
    return str(MESSAGES[code]) % params if params else str(MESSAGES[code])


def attach(form, problems, words=None) -> list[tuple[str, str]]:
    """Puts each (location, code, params) problem on the field its location names (shown beside
    it); returns (field id, text) for the summary. `words(code, params)` words a problem; by
    default, this module's problem_text."""
    words = words or problem_text
    return attach_errors(form, [(loc, words(code, params)) for loc, code, params in problems])


def situation_text(situation: Situation) -> str:
    """'Red alerts outside opening hours: On-call phone 900 00 000 at once.'"""
    title = {("red", False): _("Red alerts outside opening hours"), ("red", True): _("Red alerts in opening hours"),
             ("yellow", False): _("Yellow alerts outside opening hours"),
             ("yellow", True): _("Yellow alerts in opening hours")}[(situation.severity, situation.in_hours)]
    if not situation.pages:
        return _("%(title)s: nobody is paged; they wait in the triage queue.", title=title)
    parts = []
    for target, minute in situation.pages:
        if minute == 0:
            parts.append(_("%(target)s at once", target=target_label(target)))
        else:
            parts.append(_("%(target)s after %(minutes)s min", target=target_label(target), minutes=minute))
    return _("%(title)s: %(pages)s.", title=title, pages=_(", then ").join(parts))


bp.add_app_template_filter(situation_text, "situation_text")
bp.add_app_template_global(ts.situations, "policy_situations")
# The plan's words for templates (schedules, the team's Norwegian marked as such): homefollow.plan_text.
bp.record_once(plan_text.register)


def _admin_team(team_id: int, what: str):
    principal = signed_in_principal()
    db, clock = get_session(), get_clock()
    try:
        return ts.team_for(db, principal, team_id, admin=True)
    except AccessDenied:
        ts.record_denied(db, clock, current_actor(), team_id, what)
        raise
    except ts.Forbidden:
        ts.record_denied(db, clock, current_actor(), team_id, what)
        abort(403)


def _member_choices(team_id: int):
    return choices([("", _("(nobody)"))] + [(str(i), name) for i, name in ts.member_names(get_session(), team_id)])


def _saved(team, message: str):
    flash(message, "success")
    return redirect(url_for("clinician.teams") + f"#team-{team.id}")


# ---- opening hours -------------------------------------------------------------------------

@bp.route("/teams/<int:team_id>/opening-hours", methods=["GET", "POST"])
@staff_only
def team_opening_hours(team_id: int):
    team = _admin_team(team_id, "opening_hours")
    db, clock = get_session(), get_clock()
    summary = []
    if request.method == "GET":
        hours = team.opening_hours or {}
        # Stored hours may no longer be valid (teams.opening_hours); show what pairs up, for the admin to fix.
        form = OpeningHoursForm(data={day: dict(zip(("opens", "closes"), hours.get(day) or ("", ""), strict=False))
                                      for day in WEEKDAY_KEYS})
    else:
        form = OpeningHoursForm()
    if request.method == "POST" and form.validate_on_submit():
        hours, problems = ts.check_opening_hours(form.data)
        if not problems:
            assert hours is not None, "check_opening_hours gives the hours when it finds no problem"
            ts.save_opening_hours(db, clock, team, current_actor(), hours)
            return _saved(team, _("The opening hours are saved."))
        summary = attach(form, problems)
    return render_template("clinic/team_opening_hours.html", team=team, form=form,
                           summary=summary), 400 if summary else 200


# ---- phones --------------------------------------------------------------------------------

@bp.route("/teams/<int:team_id>/phones", methods=["GET", "POST"])
@staff_only
def team_phones(team_id: int):
    team = _admin_team(team_id, "phones")
    db, clock = get_session(), get_clock()
    form = PhonesForm()
    summary = []
    if request.method == "GET":
        form.phone.data, form.on_call_phone.data = team.phone or "", team.on_call_phone or ""
        form.out_of_hours_phone.data = team.out_of_hours_phone or ""
    elif form.validate_on_submit():
        phones, problems = ts.check_phones(form.data)
        if not problems:
            assert phones is not None, "check_phones gives the phones when it finds no problem"
            ts.save_phones(db, clock, team, current_actor(), phones)
            return _saved(team, _("The phone numbers are saved."))
        summary = attach(form, problems)
    return render_template("clinic/team_phones.html", team=team, form=form, summary=summary,
                           custom_policy=bool(team.escalation_policy)), 400 if summary else 200


# ---- the on-call rota ----------------------------------------------------------------------

@bp.route("/teams/<int:team_id>/on-call", methods=["GET", "POST"])
@staff_only
def team_on_call(team_id: int):
    team = _admin_team(team_id, "on_call")
    db, clock = get_session(), get_clock()
    summary = []
    if request.method == "GET":
        rows = ts.rota_rows(team.on_call_schedule) + [{} for _i in range(BLANK_ROTA_ROWS)]
        form = RotaForm(data={"rota": [_rota_data(r) for r in rows]})
    else:
        form = RotaForm()
    choices = _member_choices(team.id)
    for entry in form.rota:
        for j, person in enumerate(entry.form.people):
            person.choices = choices
            person.label.text = _("Person %(n)s in turn", n=j + 1)
    if request.method == "POST" and form.validate_on_submit():
        today = local_date_of(clock.now(), team.time_zone)
        rotations, problems = ts.check_rota(form.data["rota"], ts.team_member_ids(db, team.id), team.time_zone, today)
        if not problems:
            assert rotations is not None, "check_rota gives the rota when it finds no problem"
            ts.save_rota(db, clock, team, current_actor(), rotations)
            return _saved(team, _("The on-call rota is saved."))
        summary = attach(form, problems)
    overrides = (team.on_call_schedule or {}).get("overrides", [])
    return render_template("clinic/team_on_call.html", team=team, form=form, summary=summary,
                           overrides=len(overrides)), 400 if summary else 200


def _rota_data(row: dict) -> dict:
    people = list(row.get("people", []))
    return row | {"people": people + [""] * max(0, PEOPLE_PER_SHIFT - len(people))}


# ---- the escalation policy -----------------------------------------------------------------

@bp.route("/teams/<int:team_id>/escalation", methods=["GET", "POST"])
@staff_only
def team_escalation(team_id: int):
    team = _admin_team(team_id, "escalation_policy")
    db, clock = get_session(), get_clock()
    summary, preview = [], None
    if request.method == "GET":
        current = team_policy(team)
        values = ts.policy_input(current) if current else _starting_values(team)
        blank_step = {"kind": "", "severities": ["yellow", "red"], "channels": ["sms"]}
        form = PolicyForm(data=values | {"steps": values["steps"] + [blank_step] * BLANK_STEP_ROWS,
                                         "fallback": values["fallback"] + [{"kind": ""}] * BLANK_FALLBACK_ROWS})
    else:
        form = PolicyForm()
    choices = _member_choices(team.id)
    for entry in list(form.steps) + list(form.fallback):
        entry.form.person.choices = choices
    if request.method == "POST" and form.validate_on_submit():
        policy, problems = ts.check_policy(form.data, ts.team_member_ids(db, team.id))
        if problems:
            summary = attach(form, problems)
        elif request.form.get("action") == "save":
            assert policy is not None, "check_policy gives the policy when it finds no problem"
            ts.save_policy(db, clock, team, current_actor(), policy)
            return _saved(team, _("The escalation policy is saved. New alerts are paged by it; alerts already "
                                  "open keep the policy they started with."))
        else:
            preview = policy
    return render_template("clinic/team_escalation.html", team=team, form=form, summary=summary, preview=preview,
                           custom_policy=bool(team.escalation_policy)), 400 if summary else 200


def _starting_values(team) -> dict:
    """For a team with no policy and no on-call phone: the standard shape with its phone
    numbers left empty, for the admin to fill in (it cannot be saved without them)."""
    placeholder = "+4700000000"
    # A transient copy with the placeholder phone and the team's rota, never added to the session.
    standard = default_policy(Team(name=team.name, on_call_phone=placeholder, on_call_schedule=team.on_call_schedule))
    assert standard is not None, "the placeholder is an on-call phone"
    values = ts.policy_input(standard)
    for row in values["steps"] + values["fallback"]:
        if row["kind"] == "phone" and row["number"] == placeholder:
            row["number"] = ""
    return values
