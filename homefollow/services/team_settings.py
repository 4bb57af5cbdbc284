"""Team settings that team admins edit in the portal: opening hours, the team's phones, the
on-call rota and the escalation policy; and the overview the Teams page shows.

Input comes as plain strings (what a form posted) and problems go back as
(field name, code, params): the portal turns each code into a translated message next to the
field. Nothing here knows about requests. The formats themselves, and their last word on
validity, belong to homefollow.escalation (OpeningHours, OnCallSchedule, parse_policy).
Every change writes an audit row with the old and the new value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import phonenumbers
from pydantic import ValidationError
from sqlmodel import Session, select

from ..clock import Clock
from ..escalation import (EscalationPolicy, OnCallSchedule, OpeningHours, PolicyError, parse_policy, shift_on,
                          who_is_on_call)
from ..escalation.oncall import ROLES
from ..escalation.policy import SEVERITIES, applies
from ..escalation.policy import TeamContext as _PlannerTeam
from ..models import Account, Team, TeamMembership
from .access import AccessDenied, Principal
from .accounts import normalise_phone
from .escalation import team_context, team_policy
from .teams import WEEKDAY_KEYS, Member, members
from . import audit
from rules.schedule import local_date_of

Problem = tuple[str, str, dict]  # (form field name, problem code, parameters of the message)

ON_CALL_ROLES = ("nurse", "coordinator", "physician")  # shown on the Teams page
DAYS_AHEAD = 7
_HHMM = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


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
    return {a.id: a.name for a in session.exec(select(Account).where(Account.id.in_(sorted(ids))))}


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
            at = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # any moment: the hours above are constant
            minute, pages = 0, []
            for step in policy.steps:
                if not applies(step, severity, context, at):
                    continue
                if step.pages:
                    pages.append((step.target, minute))
                minute += step.wait.of(severity)
            result.append(Situation(severity, in_hours, tuple(pages)))
    return result


def overview(session: Session, clock: Clock, principal: Principal) -> list[TeamOverview]:
    """The principal's teams with members, hours, the rota now and for the coming week, and the
    escalation policy."""
    now = clock.now()
    views = []
    for team in session.exec(select(Team).where(Team.id.in_(sorted(principal.team_ids))).order_by(Team.name)):
        context = team_context(session, team)
        schedule = context.on_call
        coming: list[tuple[date, list[RotaEntry]]] = []
        on_call_ids: dict[str, int | None] = {}
        ids: set[int] = set()
        if schedule is not None:
            on_call_ids = {role: who_is_on_call(schedule, role, now) for role in ON_CALL_ROLES}
            today = local_date_of(now, schedule.time_zone)
            raw: list[tuple[date, list[tuple]]] = []
            for offset in range(DAYS_AHEAD):
                day = today + timedelta(days=offset)
                entries = []
                for rotation in schedule.rotations:
                    shift = shift_on(rotation, day, schedule.time_zone)
                    if shift is not None:
                        entries.append((shift.start, shift.end, rotation.role, shift.person, False))
                for o in schedule.overrides:
                    if local_date_of(o.start, schedule.time_zone) == day:
                        entries.append((o.start, o.end, o.role, o.person, True))
                raw.append((day, sorted(entries, key=lambda e: (e[0], e[2]))))
                ids |= {e[3] for e in entries}
            ids |= {i for i in on_call_ids.values() if i}
            names = _names(session, ids)
            coming = [(day, [RotaEntry(s, e, r, names.get(p, "?"), o) for s, e, r, p, o in entries])
                      for day, entries in raw]
            on_call_now = {role: names.get(i) if i else None for role, i in on_call_ids.items()}
        else:
            on_call_now = {}
        policy = team_policy(team)
        views.append(TeamOverview(
            team=team, members=members(session, team.id), policy=policy, custom_policy=bool(team.escalation_policy),
            on_call_now=on_call_now, coming=coming, has_rota=schedule is not None,
            situations=situations(policy) if policy else [], can_edit=is_admin(principal, team.id)))
    return views


# ---- saving with an audit row --------------------------------------------------------------

def _save(session: Session, clock: Clock, team: Team, actor: Principal, what: str, old: Any, new: Any,
          ip: str | None) -> None:
    audit.record(session, clock, actor_account_id=actor.account_id, actor_kind=actor.kind,
                 action=f"team.{what}.change", object_type="team", object_id=team.id, ip=ip, old=old, new=new)
    session.add(team)
    session.commit()
    # The planner's view of the team is kept per session; this one is out of date now.
    session.info.get("team_contexts", {}).pop(team.id, None)


def record_denied(session: Session, clock: Clock, actor: Principal, team_id: int, what: str,
                  ip: str | None) -> None:
    audit.record(session, clock, actor_account_id=actor.account_id, actor_kind=actor.kind,
                 action=f"team.{what}.denied", object_type="team", object_id=team_id, ip=ip)
    session.commit()


def parse_time(text: str | None) -> time | None:
    """'08:00', '8:00' or '08.00' → time; None if it is not a time of day."""
    match = _HHMM.match((text or "").strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


# ---- opening hours -------------------------------------------------------------------------

def check_opening_hours(days: Mapping[str, tuple[str, str]]) -> tuple[dict | None, list[Problem]]:
    """{"mon": ("08:00", "15:30"), …} as typed → the team's JSON; a day with both empty is closed."""
    problems: list[Problem] = []
    hours: dict[str, list[str]] = {}
    for day in WEEKDAY_KEYS:
        opens_text, closes_text = (s.strip() for s in days.get(day, ("", "")))
        if not opens_text and not closes_text:
            continue
        opens, closes = parse_time(opens_text), parse_time(closes_text)
        bad = False
        for name, text, value in ((f"{day}_opens", opens_text, opens), (f"{day}_closes", closes_text, closes)):
            if not text:
                problems.append((name, "time_missing", {}))
                bad = True
            elif value is None:
                problems.append((name, "time_format", {"value": text}))
                bad = True
        if bad:
            continue
        if closes <= opens:
            problems.append((f"{day}_closes", "closes_before_opens", {}))
            continue
        hours[day] = [opens.strftime("%H:%M"), closes.strftime("%H:%M")]
    if problems:
        return None, problems
    try:
        OpeningHours.model_validate(hours)  # the planner's own check; the ones above are stricter
    except ValidationError as exc:
        return None, [("mon_opens", "policy_other", {"reason": str(exc)})]
    return hours, []


def save_opening_hours(session: Session, clock: Clock, team: Team, actor: Principal, hours: dict,
                       ip: str | None = None) -> None:
    old = team.opening_hours
    team.opening_hours = hours
    _save(session, clock, team, actor, "opening_hours", old, hours, ip)


# ---- phones --------------------------------------------------------------------------------

def norwegian_phone(text: str) -> str | None:
    """'77 62 00 00' → '+4777620000'; None unless it is a valid Norwegian number."""
    number = normalise_phone(text.strip(), "NO")
    if number is None or phonenumbers.parse(number).country_code != 47:
        return None
    return number


def check_phones(phone: str, on_call_phone: str, out_of_hours_phone: str = "") -> tuple[dict | None, list[Problem]]:
    """The team's phone (patients call it in opening hours), its on-call phone (paged) and the
    number patients are told to call when the team is closed (empty: legevakt 116 117)."""
    problems: list[Problem] = []
    result: dict[str, str | None] = {}
    for name, text, required in (("phone", phone, False), ("on_call_phone", on_call_phone, True),
                                 ("out_of_hours_phone", out_of_hours_phone, False)):
        text = (text or "").strip()
        if not text:
            if required:
                problems.append((name, "on_call_phone_required", {}))
            result[name] = None
            continue
        number = norwegian_phone(text)
        if number is None:
            problems.append((name, "phone_invalid", {"value": text}))
        result[name] = number
    return (None, problems) if problems else (result, [])


def save_phones(session: Session, clock: Clock, team: Team, actor: Principal, phones: dict,
                ip: str | None = None) -> None:
    old = {"phone": team.phone, "on_call_phone": team.on_call_phone, "out_of_hours_phone": team.out_of_hours_phone}
    team.phone, team.on_call_phone = phones["phone"], phones["on_call_phone"]
    team.out_of_hours_phone = phones.get("out_of_hours_phone")
    _save(session, clock, team, actor, "phones", old, phones, ip)


# ---- the on-call rota ----------------------------------------------------------------------

@dataclass
class RotaRow:
    """One rotation as typed: people take turns on shifts that start on the chosen weekdays."""

    role: str = "nurse"
    people: list[str] = field(default_factory=list)  # account ids as strings, in turn order
    weekdays: list[str] = field(default_factory=list)  # "0" (Monday) … "6"
    shift_start: str = ""
    shift_end: str = ""
    start_date: str = ""
    handover: str = "daily"

    def is_blank(self) -> bool:
        return not any(p for p in self.people) and not self.weekdays and not self.shift_start.strip() \
            and not self.shift_end.strip()


def rota_rows(schedule: dict | None) -> list[RotaRow]:
    """The stored rotations as form rows."""
    if not schedule:
        return []
    parsed = OnCallSchedule.model_validate(schedule)
    return [RotaRow(role=r.role, people=[str(p) for p in r.people], weekdays=[str(d) for d in r.weekdays],
                    shift_start=r.shift_start.strftime("%H:%M"), shift_end=r.shift_end.strftime("%H:%M"),
                    start_date=r.start_date.isoformat(), handover=r.handover) for r in parsed.rotations]


def _week_minutes(start: time, end: time, weekdays: Sequence[int]) -> list[tuple[int, int]]:
    """A rotation's shifts as [from, to) minutes of a week starting Monday 00:00 local;
    a shift past Sunday midnight wraps to Monday."""
    week = 7 * 24 * 60
    length = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    if length <= 0:
        length += 24 * 60  # ends the next day; equal times: 24 hours
    spans = []
    for day in weekdays:
        begin = day * 24 * 60 + start.hour * 60 + start.minute
        stop = begin + length
        spans.append((begin, min(stop, week)))
        if stop > week:
            spans.append((0, stop - week))
    return spans


def _first_overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int | None:
    starts = [max(x[0], y[0]) for x in a for y in b if max(x[0], y[0]) < min(x[1], y[1])]
    return min(starts) if starts else None


def check_rota(rows: Sequence[RotaRow], member_ids: set[int], time_zone: str,
               today: date) -> tuple[list[dict] | None, list[Problem]]:
    """Form rows → the rotations of an OnCallSchedule (blank rows are dropped). Refused: a row
    without a person, weekday or times, a person not in the team, and two rows for the same
    role whose shifts overlap (only the first would ever count, so it is surely a mistake)."""
    problems: list[Problem] = []
    rotations: list[tuple[int, dict, list[tuple[int, int]]]] = []
    for i, row in enumerate(rows):
        if row.is_blank():
            continue
        prefix = f"rota-{i}-"
        row_problems: list[Problem] = []
        if row.role not in ROLES:
            row_problems.append((prefix + "role", "choose_role", {}))
        people: list[int] = []
        for j, text in enumerate(row.people):
            if not text:
                continue
            if not text.isdigit() or int(text) not in member_ids:
                row_problems.append((f"{prefix}people-{j}", "not_a_member", {}))
            elif int(text) in people:
                row_problems.append((f"{prefix}people-{j}", "person_twice", {}))
            else:
                people.append(int(text))
        if not people and not any(p[0].startswith(prefix + "people") for p in row_problems):
            row_problems.append((prefix + "people-0", "shift_without_person", {}))
        weekdays = sorted({int(d) for d in row.weekdays if d.isdigit() and int(d) < 7})
        if not weekdays:
            row_problems.append((prefix + "weekdays", "shift_without_weekdays", {}))
        times = []
        for name in ("shift_start", "shift_end"):
            text = getattr(row, name).strip()
            value = parse_time(text)
            if not text:
                row_problems.append((prefix + name, "time_missing", {}))
            elif value is None:
                row_problems.append((prefix + name, "time_format", {"value": text}))
            times.append(value)
        start_date = today
        if row.start_date.strip():
            try:
                start_date = date.fromisoformat(row.start_date.strip())
            except ValueError:
                row_problems.append((prefix + "start_date", "date_format", {"value": row.start_date}))
        if row.handover not in ("daily", "weekly"):
            row_problems.append((prefix + "handover", "choose_handover", {}))
        problems += row_problems
        if row_problems:
            continue
        data = {"role": row.role, "people": people, "start_date": start_date.isoformat(),
                "shift_start": times[0].strftime("%H:%M"), "shift_end": times[1].strftime("%H:%M"),
                "weekdays": weekdays, "handover": row.handover}
        rotations.append((i, data, _week_minutes(times[0], times[1], weekdays)))
    for n, (i, data, spans) in enumerate(rotations):
        for k, other, other_spans in rotations[:n]:
            if other["role"] != data["role"]:
                continue
            at = _first_overlap(spans, other_spans)
            if at is not None:
                problems.append((f"rota-{i}-shift_start", "shifts_overlap",
                                 {"other": k + 1, "day": WEEKDAY_KEYS[at // (24 * 60)],
                                  "time": f"{at % (24 * 60) // 60:02d}:{at % 60:02d}"}))
    if problems:
        return None, problems
    try:
        OnCallSchedule.model_validate({"time_zone": time_zone, "rotations": [r[1] for r in rotations]})
    except ValidationError as exc:  # the escalation package's own check, should it ever be stricter
        return None, [("rota-0-role", "policy_other", {"reason": str(exc)})]
    return [r[1] for r in rotations], []


def save_rota(session: Session, clock: Clock, team: Team, actor: Principal, rotations: list[dict],
              ip: str | None = None) -> None:
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
    _save(session, clock, team, actor, "on_call", old, new, ip)


def member_names(session: Session, team_id: int) -> list[tuple[int, str]]:
    """(account id, name) of the team's active members, by name, each once."""
    rows = session.exec(select(Account.id, Account.name).join(TeamMembership, TeamMembership.account_id == Account.id)
                        .where(TeamMembership.team_id == team_id, Account.is_active.is_(True))
                        .order_by(Account.name)).all()
    return list(dict.fromkeys((i, n) for i, n in rows))


def team_member_ids(session: Session, team_id: int) -> set[int]:
    return {i for i, _name in member_names(session, team_id)}


# ---- the escalation policy -----------------------------------------------------------------

TARGET_KINDS = ("queue_only", "on_call", "role", "person", "phone")
WHEN = ("always", "in_opening_hours", "outside_opening_hours")


@dataclass
class TargetRow:
    kind: str = ""  # "" = an unused row
    role: str = "nurse"
    person: str = ""
    number: str = ""
    label: str = ""


@dataclass
class StepRow(TargetRow):
    channels: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    when: str = "always"
    wait_yellow: str = ""
    wait_red: str = ""


@dataclass
class PolicyInput:
    name: str = ""
    steps: list[StepRow] = field(default_factory=list)
    fallback: list[TargetRow] = field(default_factory=list)
    repeat: str = "0"
    ack_yellow: str = ""
    ack_red: str = ""
    snooze_yellow: str = ""
    snooze_red: str = ""
    remeasure_wait: str = ""
    remeasure_rules: str = ""


def _target_row(target: Any, row: TargetRow) -> None:
    row.kind = target.kind
    if target.kind in ("on_call", "role"):
        row.role = target.role
    elif target.kind == "person":
        row.person = str(target.account_id)
    elif target.kind == "phone":
        row.number, row.label = target.number, target.label


def policy_input(policy: EscalationPolicy) -> PolicyInput:
    """A policy as form values (the team's own or the standard one, to start from)."""
    steps = []
    for step in policy.steps:
        row = StepRow(channels=list(step.channels), severities=list(step.severities), when=step.when,
                      wait_yellow="" if step.wait.yellow is None else str(step.wait.yellow),
                      wait_red="" if step.wait.red is None else str(step.wait.red))
        _target_row(step.target, row)
        steps.append(row)
    fallback = []
    for target in policy.fallback:
        row = TargetRow()
        _target_row(target, row)
        fallback.append(row)
    remeasure = policy.yellow_remeasure
    return PolicyInput(
        name=policy.name, steps=steps, fallback=fallback, repeat=str(policy.repeat),
        ack_yellow=str(policy.ack_timeout.yellow), ack_red=str(policy.ack_timeout.red),
        snooze_yellow=str(policy.snooze_max.yellow), snooze_red=str(policy.snooze_max.red),
        remeasure_wait=str(remeasure.wait) if remeasure else "",
        remeasure_rules=", ".join(remeasure.rule_keys) if remeasure else "")


def _minutes(text: str, name: str, problems: list[Problem]) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,5}", text):
        problems.append((name, "whole_minutes", {"value": text}))
        return None
    return int(text)


def _target_data(row: TargetRow, prefix: str, member_ids: set[int], problems: list[Problem]) -> dict | None:
    if row.kind not in TARGET_KINDS:
        problems.append((prefix + "kind", "choose_target", {}))
        return None
    if row.kind in ("on_call", "role"):
        if row.role not in ROLES:
            problems.append((prefix + "role", "choose_role", {}))
            return None
        return {"kind": row.kind, "role": row.role}
    if row.kind == "person":
        if not row.person.isdigit() or int(row.person) not in member_ids:
            problems.append((prefix + "person", "not_a_member", {}))
            return None
        return {"kind": "person", "account_id": int(row.person)}
    if row.kind == "phone":
        if not row.number.strip():
            problems.append((prefix + "number", "number_missing", {}))
            return None
        number = norwegian_phone(row.number)
        if number is None:
            problems.append((prefix + "number", "phone_invalid", {"value": row.number.strip()}))
            return None
        return {"kind": "phone", "number": number, "label": row.label.strip()[:100]}
    return {"kind": "queue_only"}


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


def _policy_problem(path: str, reason: str, step_rows: list[int], fallback_rows: list[int]) -> Problem:
    code, params = "policy_other", {"reason": reason}
    for pattern, name in _REASONS:
        match = pattern.search(reason)
        if match:
            code, params = name, match.groupdict()
            break
    parts = path.split(".")
    severity = params.get("severity", "red")
    if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit():
        prefix = f"steps-{step_rows[int(parts[1])]}-"
        rest = parts[2] if len(parts) > 2 else "kind"
        if rest == "wait":
            return prefix + f"wait_{severity}", code, params
        if rest == "target":
            return prefix + ("number" if "number" in parts else "kind"), code, params
        return prefix + rest, code, params
    if parts[0] == "steps":
        return f"steps-{step_rows[0] if step_rows else 0}-kind", code, params
    if parts[0] == "fallback":
        row = fallback_rows[int(parts[1])] if len(parts) > 1 and parts[1].isdigit() else \
            (fallback_rows[0] if fallback_rows else 0)
        return f"fallback-{row}-" + ("number" if "number" in parts else "kind"), code, params
    if parts[0] in _PER_SEVERITY_FIELDS:
        return f"{_PER_SEVERITY_FIELDS[parts[0]]}_{severity}", code, params
    if parts[0] == "yellow_remeasure":
        return ("remeasure_wait" if "wait" in parts else "remeasure_rules"), code, params
    return parts[0], code, params


def check_policy(form: PolicyInput, member_ids: set[int]) -> tuple[EscalationPolicy | None, list[Problem]]:
    """Form values → a policy validated by parse_policy; every problem at once, each tied to
    the field it is about. Rows whose target is left empty are not steps."""
    problems: list[Problem] = []
    steps, step_rows = [], []
    for i, row in enumerate(form.steps):
        if not row.kind:
            continue
        prefix = f"steps-{i}-"
        target = _target_data(row, prefix, member_ids, problems)
        waits = {s: _minutes(getattr(row, f"wait_{s}"), f"{prefix}wait_{s}", problems) for s in SEVERITIES}
        if row.when not in WHEN:
            problems.append((prefix + "when", "choose_when", {}))
        step_rows.append(i)
        # A target already refused above stands in as a paging one, so no second message follows.
        steps.append({"target": target or {"kind": "role", "role": "nurse"},
                      "channels": [c for c in ("sms", "email") if c in row.channels],
                      "severities": [s for s in SEVERITIES if s in row.severities], "when": row.when,
                      "wait": {s: w for s, w in waits.items() if w is not None}})
    fallback, fallback_rows = [], []
    for i, row in enumerate(form.fallback):
        if not row.kind:
            continue
        target = _target_data(row, f"fallback-{i}-", member_ids, problems)
        if target is not None:
            fallback.append(target)
            fallback_rows.append(i)
    numbers = {}
    for name in ("ack_yellow", "ack_red", "snooze_yellow", "snooze_red", "remeasure_wait"):
        numbers[name] = _minutes(getattr(form, name), name, problems)
    repeat = (form.repeat or "0").strip()
    if repeat not in ("0", "1", "2", "3"):
        problems.append(("repeat", "choose_repeat", {}))
    name = form.name.strip()
    if not name or len(name) > 100:
        problems.append(("name", "name_length", {}))
    data: dict[str, Any] = {
        "name": name or "-", "repeat": int(repeat) if repeat in ("0", "1", "2", "3") else 0,
        "steps": steps,
        "fallback": fallback,
        "ack_timeout": {"yellow": numbers["ack_yellow"], "red": numbers["ack_red"]},
        "snooze_max": {"yellow": numbers["snooze_yellow"], "red": numbers["snooze_red"]},
    }
    rules = [k.strip() for k in re.split(r"[,\s]+", form.remeasure_rules or "") if k.strip()]
    if numbers["remeasure_wait"] is not None or rules:
        if numbers["remeasure_wait"] is None and not any(p[0] == "remeasure_wait" for p in problems):
            problems.append(("remeasure_wait", "remeasure_wait_missing", {}))
        data["yellow_remeasure"] = {"wait": numbers["remeasure_wait"] or 5, "rule_keys": rules}
    try:
        policy = parse_policy(data)
    except PolicyError as exc:
        policy = None
        typed = {p[0] for p in problems}  # a field already explained keeps its first message
        for path, reason in exc.problems:
            problem = _policy_problem(path, reason, step_rows, fallback_rows)
            if problem[0] in typed and problem[1] in ("minutes_missing", "policy_other"):
                continue
            problems.append(problem)
    if problems:
        return None, _unique(problems)
    return policy, []


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, result = set(), []
    for p in problems:
        key = (p[0], p[1], tuple(sorted(p[2].items())))
        if key not in seen:
            seen.add(key)
            result.append(p)
    return result


def save_policy(session: Session, clock: Clock, team: Team, actor: Principal, policy: EscalationPolicy,
                ip: str | None = None) -> None:
    """The team's own policy from now on; alerts already open keep the snapshot they fired with."""
    old = team.escalation_policy
    new = policy.model_dump(mode="json")
    team.escalation_policy = new
    _save(session, clock, team, actor, "escalation_policy", old, new, ip)


__all__ = [
    "Forbidden",
    "PolicyInput",
    "Problem",
    "RotaRow",
    "StepRow",
    "TargetRow",
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
