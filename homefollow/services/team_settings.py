"""Team settings that team admins edit in the portal: opening hours, the team's phones, the
on-call rota and the escalation policy; and the overview the Teams page shows.

Input comes as the forms' data (plain strings, rows as lists) and is read by the pydantic
models in services/team_models.py, which own the rules; problems go back as (location, code,
params), where the location names the form field (homefollow.form_errors): the portal words each
code next to its field. Nothing here knows about requests. The stored formats, and their last word
on validity, belong to homefollow.escalation (OpeningHours, OnCallSchedule, parse_policy).
Every change writes an audit row with the old and the new value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, UTC
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from ..clock import Clock
from ..escalation import (EscalationPolicy, OnCallSchedule, OpeningHours, PolicyError, parse_policy, shift_on,
                          who_is_on_call)
from ..escalation.policy import applies
from ..escalation.policy import TeamContext as _PlannerTeam
from ..models import Account, Team, TeamMembership
from .access import AccessDenied, Principal
from .audit import Actor
from .escalation import team_context, team_policy
from .teams import WEEKDAY_KEYS, Member, members
from . import audit
from .. import values
from .team_models import OpeningDay, PhonesInput, PolicyInput, Problem, RotaInput, problems_of
from rules.schedule import local_date_of

ON_CALL_ROLES = ("nurse", "coordinator", "physician")  # shown on the Teams page
DAYS_AHEAD = 7


class Forbidden(Exception):
    """A member of the team who is not its admin tried to change a setting (HTTP 403)."""


def team_for(session: Session, principal: Principal, team_id: int, *, admin: bool = False) -> Team:
    """The team if the principal belongs to it (else AccessDenied: a 404 that reveals nothing);
    with `admin`, Forbidden unless the principal is the team's admin."""
    team = session.get(Team, team_id)
    if team is None or team_id not in principal.team_ids:
        raise AccessDenied("not a member of this team")
    if admin and not principal.has_role(team_id, "team_admin"):
        raise Forbidden()
    return team


def is_admin(principal: Principal, team_id: int) -> bool:
    return principal.has_role(team_id, "team_admin")


# ---- the overview --------------------------------------------------------------------------

@dataclass(frozen=True)
class RotaEntry:
    start: datetime  # aware, UTC
    end: datetime
    role: str
    person: str
    override: bool = False


@dataclass(frozen=True)
class Situation:
    """Who is paged, in order, for one severity in or outside opening hours, in the first round:
    (target, minutes after the alert) pairs."""

    severity: str
    in_hours: bool
    pages: tuple[tuple[Any, int], ...]


@dataclass
class TeamOverview:
    team: Team
    members: list[Member]
    policy: EscalationPolicy | None
    custom_policy: bool
    on_call_now: dict[str, str | None]  # role → name (None: nobody)
    coming: list[tuple[date, list[RotaEntry]]]  # the next DAYS_AHEAD local days
    has_rota: bool
    situations: list[Situation] = field(default_factory=list)
    can_edit: bool = False


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {a.id: a.name for a in session.exec(select(Account).where(col(Account.id).in_(sorted(ids))))}


def situations(policy: EscalationPolicy) -> list[Situation]:
    """The policy in words, per situation: red outside opening hours, red in them, yellow…
    Steps that do not apply are skipped at once by the planner, so minutes add up only over the
    steps that run; a queue-only step pages nobody but its wait counts."""
    always_open = OpeningHours({d: ("00:00", "23:59") for d in WEEKDAY_KEYS})
    never_open = OpeningHours({})
    result = []
    for severity in ("red", "yellow"):
        for in_hours in (False, True):
            context = _PlannerTeam(opening_hours=always_open if in_hours else never_open)
            at = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # any moment: the hours above are constant
            minute, pages = 0, []
            for step in policy.steps:
                if not applies(step, severity, context, at):
                    continue
                if step.pages:
                    pages.append((step.target, minute))
                minute += step.wait.of(severity)
            result.append(Situation(severity, in_hours, tuple(pages)))
    return result


def _week_of(schedule: OnCallSchedule, today: date) -> list[tuple[date, list[tuple]]]:
    """(local day, [(start, end, role, person id, override)]) for the next DAYS_AHEAD days."""
    week = []
    for offset in range(DAYS_AHEAD):
        day = today + timedelta(days=offset)
        entries = []
        for rotation in schedule.rotations:
            shift = shift_on(rotation, day, schedule.time_zone)
            if shift is not None:
                entries.append((shift.start, shift.end, rotation.role, shift.person, False))
        entries += [(o.start, o.end, o.role, o.person, True) for o in schedule.overrides
                    if local_date_of(o.start, schedule.time_zone) == day]
        week.append((day, sorted(entries, key=lambda e: (e[0], e[2]))))
    return week


def _rota_now_and_coming(session: Session, schedule: OnCallSchedule | None, now: datetime
                         ) -> tuple[dict[str, str | None], list[tuple[date, list[RotaEntry]]]]:
    """Who is on call now per role (by name), and the rota for the coming week."""
    if schedule is None:
        return {}, []
    on_call_ids = {role: who_is_on_call(schedule, role, now) for role in ON_CALL_ROLES}
    week = _week_of(schedule, local_date_of(now, schedule.time_zone))
    names = _names(session, {e[3] for _day, entries in week for e in entries} | {i for i in on_call_ids.values() if i})
    coming = [(day, [RotaEntry(s, e, r, names.get(p, "?"), o) for s, e, r, p, o in entries]) for day, entries in week]
    return {role: names.get(i) if i else None for role, i in on_call_ids.items()}, coming


def overview(session: Session, clock: Clock, principal: Principal) -> list[TeamOverview]:
    """The principal's teams with members, hours, the rota now and for the coming week, and the
    escalation policy."""
    now = clock.now()
    views = []
    for team in session.exec(select(Team).where(col(Team.id).in_(sorted(principal.team_ids))).order_by(Team.name)):
        schedule = team_context(session, team).on_call
        on_call_now, coming = _rota_now_and_coming(session, schedule, now)
        policy = team_policy(team)
        views.append(TeamOverview(
            team=team, members=members(session, team.id), policy=policy, custom_policy=bool(team.escalation_policy),
            on_call_now=on_call_now, coming=coming, has_rota=schedule is not None,
            situations=situations(policy) if policy else [], can_edit=is_admin(principal, team.id)))
    return views


# ---- saving with an audit row --------------------------------------------------------------

def _save(session: Session, clock: Clock, team: Team, actor: Actor, what: str, old: Any, new: Any) -> None:
    audit.record(session, clock, actor=actor, action=f"team.{what}.change", object_type="team", object_id=team.id,
                 old=old, new=new)
    session.add(team)
    session.flush()
    # The planner's view of the team is kept per session; this one is out of date now.
    session.info.get("team_contexts", {}).pop(team.id, None)


def record_denied(session: Session, clock: Clock, actor: Actor, team_id: int, what: str) -> None:
    audit.record_refusal(session, clock, actor=actor, action=f"team.{what}.denied", object_type="team",
                         object_id=team_id)


# ---- opening hours -------------------------------------------------------------------------

def check_opening_hours(form: Mapping[str, Any]) -> tuple[dict | None, list[Problem]]:
    """The form's days ({"mon": {"opens": "8:00", "closes": "16.00"}, …}) → the team's JSON; a
    day with both empty is closed. Problems are located at (day, "opens" or "closes")."""
    problems: list[Problem] = []
    hours: dict[str, list[str]] = {}
    for day in WEEKDAY_KEYS:
        try:
            typed = OpeningDay.model_validate(form.get(day) or {})
        except ValidationError as exc:
            problems += [((day, *loc), code, params) for loc, code, params in problems_of(exc)]
            continue
        day_hours = typed.hours()
        if day_hours:
            hours[day] = day_hours
    if problems:
        return None, problems
    try:
        OpeningHours.model_validate(hours)  # the planner's own check; the ones above are stricter
    except ValidationError as exc:
        return None, [(("mon", "opens"), "policy_other", {"reason": str(exc)})]
    return hours, []


def save_opening_hours(session: Session, clock: Clock, team: Team, actor: Actor, hours: dict) -> None:
    old = team.opening_hours
    team.opening_hours = hours
    _save(session, clock, team, actor, "opening_hours", old, hours)


# ---- phones --------------------------------------------------------------------------------

def check_phones(form: Mapping[str, Any]) -> tuple[dict | None, list[Problem]]:
    """The form's phone, on_call_phone and out_of_hours_phone → E.164 numbers (PhonesInput)."""
    try:
        typed = PhonesInput.model_validate(dict(form))
    except ValidationError as exc:
        return None, problems_of(exc)
    return typed.model_dump(), []


def save_phones(session: Session, clock: Clock, team: Team, actor: Actor, phones: dict) -> None:
    old = {"phone": team.phone, "on_call_phone": team.on_call_phone, "out_of_hours_phone": team.out_of_hours_phone}
    team.phone, team.on_call_phone = phones["phone"], phones["on_call_phone"]
    team.out_of_hours_phone = phones.get("out_of_hours_phone")
    _save(session, clock, team, actor, "phones", old, phones)


# ---- the on-call rota ----------------------------------------------------------------------

def rota_rows(schedule: dict | None) -> list[dict]:
    """The stored rotations as the rota form's rows."""
    if not schedule:
        return []
    parsed = OnCallSchedule.model_validate(schedule)
    return [{"role": r.role, "people": [str(p) for p in r.people], "weekdays": [str(d) for d in r.weekdays],
             "shift_start": values.format_time(r.shift_start), "shift_end": values.format_time(r.shift_end),
             "start_date": r.start_date.isoformat(), "handover": r.handover} for r in parsed.rotations]


def check_rota(rows: list[dict], member_ids: set[int], time_zone: str,
               today: date) -> tuple[list[dict] | None, list[Problem]]:
    """The rota form's rows → the rotations of an OnCallSchedule (blank rows are dropped). The
    rules are RotaRow's and RotaInput's (services/team_models.py)."""
    try:
        typed = RotaInput.model_validate({"rota": rows}, context={"member_ids": member_ids, "today": today})
    except ValidationError as exc:
        return None, problems_of(exc)
    try:
        OnCallSchedule.model_validate({"time_zone": time_zone, "rotations": typed.rotations()})
    except ValidationError as exc:  # the escalation package's own check, should it ever be stricter
        return None, [(("rota", 0, "role"), "policy_other", {"reason": str(exc)})]
    return typed.rotations(), []


def save_rota(session: Session, clock: Clock, team: Team, actor: Actor, rotations: list[dict]) -> None:
    """Replace the rotations; overrides (swapped shifts) stay as they are. No rotations and no
    overrides: no rota at all (role steps then page everyone with the role)."""
    old = team.on_call_schedule
    overrides = (old or {}).get("overrides", [])
    if rotations or overrides:
        new = OnCallSchedule.model_validate({"time_zone": (old or {}).get("time_zone", team.time_zone),
                                             "rotations": rotations, "overrides": overrides}).model_dump(mode="json")
    else:
        new = None
    team.on_call_schedule = new
    _save(session, clock, team, actor, "on_call", old, new)


def member_names(session: Session, team_id: int) -> list[tuple[int, str]]:
    """(account id, name) of the team's active members, by name, each once."""
    rows = session.exec(select(Account.id, Account.name).join(TeamMembership, col(TeamMembership.account_id) == Account.id)
                        .where(TeamMembership.team_id == team_id, col(Account.is_active).is_(True))
                        .order_by(Account.name)).all()
    return list(dict.fromkeys((i, n) for i, n in rows))


def team_member_ids(session: Session, team_id: int) -> set[int]:
    return {i for i, _name in member_names(session, team_id)}


# ---- the escalation policy -----------------------------------------------------------------

def _target_row(target: Any) -> dict:
    row = {"kind": target.kind, "role": "nurse", "person": "", "number": "", "label": ""}
    if target.kind in ("on_call", "role"):
        row["role"] = target.role
    elif target.kind == "person":
        row["person"] = str(target.account_id)
    elif target.kind == "phone":
        row["number"], row["label"] = target.number, target.label
    return row


def _minutes_text(value: int | None) -> str:
    return "" if value is None else str(value)


def policy_input(policy: EscalationPolicy) -> dict:
    """A policy as the policy form's data (the team's own or the standard one, to start from)."""
    steps = [_target_row(step.target) | {
        "channels": list(step.channels), "severities": list(step.severities), "when": step.when,
        "wait_yellow": _minutes_text(step.wait.yellow), "wait_red": _minutes_text(step.wait.red)}
        for step in policy.steps]
    remeasure = policy.yellow_remeasure
    return {"name": policy.name, "steps": steps, "fallback": [_target_row(t) for t in policy.fallback],
            "repeat": str(policy.repeat), "ack_yellow": str(policy.ack_timeout.yellow),
            "ack_red": str(policy.ack_timeout.red), "snooze_yellow": str(policy.snooze_max.yellow),
            "snooze_red": str(policy.snooze_max.red), "remeasure_wait": str(remeasure.wait) if remeasure else "",
            "remeasure_rules": ", ".join(remeasure.rule_keys) if remeasure else ""}


# parse_policy's reasons (English, with the facts in them) → our codes and their parameters.
_REASONS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"set the (?P<what>wait|acknowledgement timeout|longest snooze) for (?P<severity>\w+) alerts"),
     "minutes_missing"),
    (re.compile(r"the (?P<what>wait|acknowledgement timeout|longest snooze) for (?P<severity>\w+) alerts must be "
                r"between (?P<low>\d+) and (?P<high>\d+) minutes"), "minutes_range"),
    (re.compile(r"choose at least one channel"), "channels_missing"),
    (re.compile(r"a phone number can only receive SMS"), "phone_sms_only"),
    (re.compile(r"choose yellow, red or both"), "severities_missing"),
    (re.compile(r"a queue-only step cannot apply to red alerts"), "queue_only_red"),
    (re.compile(r"add at least one step"), "steps_missing"),
    (re.compile(r"no step pages anyone about red alerts in opening hours"), "no_red_in_hours"),
    (re.compile(r"no step pages anyone about red alerts outside opening hours"), "no_red_outside_hours"),
    (re.compile(r"add at least one fallback"), "fallback_empty"),
    (re.compile(r"the queue cannot be a fallback"), "fallback_queue"),
    (re.compile(r"include at least one fixed phone number"), "fallback_needs_phone"),
    (re.compile(r"name at least one rule"), "remeasure_rules_missing"),
]
_PER_SEVERITY_FIELDS = {"ack_timeout": "ack", "snooze_max": "snooze"}


def _reason_code(reason: str) -> tuple[str, dict]:
    for pattern, code in _REASONS:
        if match := pattern.search(reason):
            return code, match.groupdict()
    return "policy_other", {"reason": reason}


def _row(parts: list[str], rows: list[int]) -> int:
    """The form row of parse_policy's n-th step or fallback (unused rows are not in the policy)."""
    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
        return rows[int(parts[1])]
    return rows[0] if rows else 0


def _step_location(parts: list[str], severity: str, step_rows: list[int]) -> tuple:
    row = _row(parts, step_rows)
    rest = parts[2] if len(parts) > 2 and parts[1].isdigit() else "kind"
    if rest == "wait":
        return ("steps", row, f"wait_{severity}")
    if rest == "target":
        return ("steps", row, "number" if "number" in parts else "kind")
    return ("steps", row, rest)


def _policy_location(path: str, severity: str, typed: PolicyInput) -> tuple:
    """Where on the form parse_policy's path ('steps.1.wait', 'fallback', 'ack_timeout') is."""
    parts = path.split(".")
    if parts[0] == "steps":
        return _step_location(parts, severity, typed.used_steps())
    if parts[0] == "fallback":
        return ("fallback", _row(parts, typed.used_fallback()), "number" if "number" in parts else "kind")
    if parts[0] in _PER_SEVERITY_FIELDS:
        return (f"{_PER_SEVERITY_FIELDS[parts[0]]}_{severity}",)
    if parts[0] == "yellow_remeasure":
        return ("remeasure_wait" if "wait" in parts else "remeasure_rules",)
    return (parts[0],)


def check_policy(form: Mapping[str, Any], member_ids: set[int]) -> tuple[EscalationPolicy | None, list[Problem]]:
    """The policy form's data → a policy validated by parse_policy; every problem at once, each
    tied to the field it is about. Rows whose target is left empty are not steps. What is typed
    is checked first (PolicyInput), then the policy as a whole."""
    try:
        typed = PolicyInput.model_validate(dict(form), context={"member_ids": member_ids})
    except ValidationError as exc:
        return None, _unique(problems_of(exc))
    try:
        return parse_policy(typed.data(member_ids)), []
    except PolicyError as exc:
        problems = []
        for path, reason in exc.problems:
            code, params = _reason_code(reason)
            problems.append((_policy_location(path, params.get("severity", "red"), typed), code, params))
        return None, _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, result = set(), []
    for p in problems:
        key = (p[0], p[1], tuple(sorted(p[2].items())))
        if key not in seen:
            seen.add(key)
            result.append(p)
    return result


def save_policy(session: Session, clock: Clock, team: Team, actor: Actor, policy: EscalationPolicy) -> None:
    """The team's own policy from now on; alerts already open keep the snapshot they fired with."""
    old = team.escalation_policy
    new = policy.model_dump(mode="json")
    team.escalation_policy = new
    _save(session, clock, team, actor, "escalation_policy", old, new)


__all__ = [
    "Forbidden",
    "Problem",
    "TeamOverview",
    "check_opening_hours",
    "check_phones",
    "check_policy",
    "check_rota",
    "is_admin",
    "overview",
    "policy_input",
    "record_denied",
    "rota_rows",
    "save_opening_hours",
    "save_phones",
    "save_policy",
    "save_rota",
    "situations",
    "team_for",
    "member_names",
    "team_member_ids",
]
