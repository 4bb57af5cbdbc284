"""Teams: opening hours, whom a patient calls now (the team, its out-of-hours phone, or
legevakt 116 117) — one answer for every page and SMS that tells a patient whom to call — and
whether the team can be reached about a red alert outside opening hours (its out-of-hours
route), which a team must have before it takes on patients."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from pydantic import ValidationError
from sqlmodel import Session, select, col

from rules.schedule import local_date_of

from ..escalation import OpeningHours, next_opening_change
from ..escalation import is_open as _open_at
from ..i18n import N_, t
from ..models import Account, AccountKind, Organisation, Team, TeamMembership
from ..notifications import outbox
from .accounts import display_phone

log = logging.getLogger(__name__)

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LEGEVAKT = "116117"  # the national number of the out-of-hours emergency clinic
EMERGENCY = "113"


def opening_hours(team: Team) -> OpeningHours:
    """The team's hours as the escalation planner reads them; stored hours that no longer pass
    validation count as always closed, so patients are sent to legevakt rather than to a
    phone nobody answers."""
    try:
        return OpeningHours.model_validate(team.opening_hours or {})
    except ValidationError:
        log.exception("team %s: stored opening hours are invalid; treated as closed", getattr(team, "id", None))
        return OpeningHours({})


def is_open(team: Team, at: datetime) -> bool:
    """Whether the team answers its phone at this moment, by its opening hours in its time zone."""
    return _open_at(opening_hours(team), team.time_zone, at)


# ---- whom to call ---------------------------------------------------------------------------

CALL_TEAM, CALL_OUT_OF_HOURS, CALL_LEGEVAKT = "team", "out_of_hours", "legevakt"

# What the patient reads after "the team is open / closed now", per number to call.
_URGENT = {
    CALL_TEAM: N_("If it is urgent, call the care team on %(number)s."),
    CALL_OUT_OF_HOURS: N_("If it is urgent, call the out-of-hours phone on %(number)s."),
    CALL_LEGEVAKT: N_("If it is urgent, call the emergency clinic (legevakt) on %(number)s."),
}
# The label of the big tap-to-call button.
_BUTTON = {
    CALL_TEAM: N_("Call your care team"),
    CALL_OUT_OF_HOURS: N_("Call the out-of-hours phone"),
    CALL_LEGEVAKT: N_("Call the emergency clinic (legevakt)"),
}


@dataclass(frozen=True)
class WhomToCall:
    """Whom the patient calls now when it cannot wait for a message or a reply. In an
    emergency it is always 113; pages show that first."""

    open: bool  # the team is open now (answers its phone, reads messages)
    number: str  # E.164, or 116117
    kind: str  # CALL_TEAM, CALL_OUT_OF_HOURS or CALL_LEGEVAKT
    opens_at: datetime | None  # closed: when it opens next (None: the team has no opening hours)
    closes_at: datetime | None  # open: when it closes
    at: datetime  # the moment this answer is for
    time_zone: str  # the team's, for "opens Monday at 08:00"

    @property
    def is_legevakt(self) -> bool:
        return self.kind == CALL_LEGEVAKT

    @property
    def button_msgid(self) -> str:
        """The tap-to-call button's text, untranslated (templates translate it with _())."""
        return _BUTTON[self.kind]

    def number_text(self, *, sms: bool = False) -> str:
        """'116 117' on a page, '116117' in an SMS (a phone links it); others as people write them.
        Pages keep a number on one line (no-break spaces); an SMS has plain spaces (GSM-7)."""
        if self.kind == CALL_LEGEVAKT:
            return LEGEVAKT if sms else "116\u00a0117"
        text = display_phone(self.number)
        return text.replace("\u00a0", " ") if sms else text


def whom_to_call(team: Team, now: datetime) -> WhomToCall:
    """In opening hours the team's phone; outside them (or when the team gives patients no
    phone) the team's out-of-hours phone if it has one, else legevakt 116 117."""
    hours = opening_hours(team)
    open_now = _open_at(hours, team.time_zone, now)
    change = next_opening_change(hours, team.time_zone, now)
    if open_now and team.phone:
        number, kind = team.phone, CALL_TEAM
    elif team.out_of_hours_phone:
        number, kind = team.out_of_hours_phone, CALL_OUT_OF_HOURS
    else:
        number, kind = LEGEVAKT, CALL_LEGEVAKT
    return WhomToCall(open=open_now, number=number, kind=kind, opens_at=None if open_now else change,
                      closes_at=change if open_now else None, at=now, time_zone=team.time_zone)


def when_words(moment: datetime, time_zone: str, now: datetime, locale: str) -> str:
    """'today at 08:00', 'tomorrow at 08:00', 'Monday at 08:00', in plain words."""
    local = moment.astimezone(ZoneInfo(time_zone))
    clock_time = local.strftime("%H:%M")
    today = local_date_of(now, time_zone)
    if local.date() == today:
        return t(locale, "today at %(time)s", time=clock_time)
    if local.date() == today + timedelta(days=1):
        return t(locale, "tomorrow at %(time)s", time=clock_time)
    day = format_date(local.date(), "EEEE", locale="nb" if locale == "nb" else "en")
    return t(locale, "%(day)s at %(time)s", day=day, time=clock_time)


def call_advice(call: WhomToCall, locale: str, *, sms: bool = False) -> str:
    """'The care team is closed now and opens again Monday at 08:00. If it is urgent, call the
    emergency clinic (legevakt) on 116 117.' The same words on every page and in SMS replies."""
    if call.open:
        status = t(locale, "The care team is open now, until %(time)s.",
                   time=call.closes_at.astimezone(ZoneInfo(call.time_zone)).strftime("%H:%M")) \
            if call.closes_at else t(locale, "The care team is open now.")
    elif call.opens_at:
        status = t(locale, "The care team is closed now and opens again %(when)s.",
                   when=when_words(call.opens_at, call.time_zone, call.at, locale))
    else:
        status = t(locale, "The care team is closed now.")
    return f"{status} {t(locale, _URGENT[call.kind], number=call.number_text(sms=sms))}"


# ---- members --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    name: str
    roles: tuple[str, ...]
    organisation: str | None
    phone: str | None


def members(session: Session, team_id: int) -> list[Member]:
    """The team's active members, each once with all their roles (one query)."""
    rows = session.exec(
        select(Account, TeamMembership.role, Organisation.name)
        .join(TeamMembership, col(TeamMembership.account_id) == col(Account.id))
        .join(Organisation, col(Organisation.id) == col(Account.organisation_id), isouter=True)
        .where(col(TeamMembership.team_id) == team_id, col(Account.is_active).is_(True))
        .order_by(Account.name)
    ).all()
    found: dict[int, tuple[Account, list[str], str | None]] = {}
    for account, role, organisation in rows:
        found.setdefault(account.id, (account, [], organisation))[1].append(role)
    return [Member(a.name, tuple(r), org, a.phone) for a, r, org in found.values()]


# ---- the out-of-hours route -------------------------------------------------------------------

ROUTE_NO_POLICY, ROUTE_NO_NUMBER, ROUTE_OPTED_OUT = "no_policy", "no_number", "opted_out"

_ROUTE_PROBLEMS = {
    ROUTE_NO_POLICY: N_("The team has no on-call phone and no escalation policy of its own, so nobody is paged "
                        "about red alerts outside opening hours. Set the team's on-call phone."),
    ROUTE_NO_NUMBER: N_("The team's escalation policy pages no fixed phone and no member with a mobile number about "
                        "red alerts outside opening hours. Add the on-call phone or a 24/7 response centre to it."),
    ROUTE_OPTED_OUT: N_("Every number paged about red alerts outside opening hours has replied STOP (%(numbers)s). "
                        "Change the on-call phone, or send START from that phone."),
}


@dataclass(frozen=True)
class RouteProblem:
    """Why a team cannot be reached about a red alert outside opening hours. `str()` is the
    English text; views translate `msgid` with `params`, services use `text(locale)`."""

    code: str  # ROUTE_NO_POLICY, ROUTE_NO_NUMBER or ROUTE_OPTED_OUT
    numbers: tuple[str, ...] = ()  # E.164: the numbers that replied STOP

    @property
    def msgid(self) -> str:
        return _ROUTE_PROBLEMS[self.code]

    @property
    def params(self) -> dict[str, str]:
        return {"numbers": ", ".join(display_phone(n) for n in self.numbers)}

    def text(self, locale: str = "en") -> str:
        return t(locale, self.msgid, **self.params)

    def __str__(self) -> str:
        return self.text("en").replace("\u00a0", " ")  # for terminals and logs


def out_of_hours_numbers(session: Session, team: Team) -> list[str] | None:
    """The numbers the team's effective policy (its own, or the standard one) pages by SMS about
    a red alert outside opening hours: fixed phones and the mobiles of the active members it
    names, in its out-of-hours red steps and its fallback. None: the team has no policy at all.

    Whoever a rota has on call is not counted: a rota can have a gap at 3 a.m. (the planner
    then pages the fallback, which is counted)."""
    from ..escalation import PersonTarget, PhoneTarget, PolicyError, RoleTarget
    from .escalation import team_policy

    try:
        policy = team_policy(team)
    except PolicyError:  # a stored on-call phone the standard policy refuses: it pages nobody
        log.exception("team %s: no valid escalation policy", team.id)
        return []
    if policy is None:
        return None
    targets = [step.target for step in policy.steps
               if step.pages and "red" in step.severities and step.when != "in_opening_hours"
               and "sms" in step.channels]
    targets += list(policy.fallback)  # the fallback pages by SMS first
    mobiles: dict[int, str] = {}
    roles: dict[str, list[int]] = {}
    for role, account_id, phone in session.exec(
            select(TeamMembership.role, Account.id, Account.phone)
            .join(Account, col(Account.id) == col(TeamMembership.account_id))
            .where(col(TeamMembership.team_id) == team.id, col(Account.is_active).is_(True))):
        roles.setdefault(role, []).append(account_id)
        if phone:
            mobiles[account_id] = phone
    numbers: list[str] = []
    for target in targets:
        if isinstance(target, PhoneTarget):
            numbers.append(target.number)
        elif isinstance(target, PersonTarget):
            numbers += [mobiles[target.account_id]] if target.account_id in mobiles else []
        elif isinstance(target, RoleTarget):
            numbers += [mobiles[i] for i in roles.get(target.role, ()) if i in mobiles]
    return list(dict.fromkeys(numbers))


def out_of_hours_route_problems(session: Session, team: Team) -> list[RouteProblem]:
    """Empty when the team has a reachable out-of-hours route: its effective policy exists and
    pages, about red alerts outside opening hours, at least one fixed phone or member's mobile
    that has not replied STOP. Otherwise what to fix. A team with problems takes on no patients
    (services.pathway), and /healthz, the Teams page and `flask teams check` name it."""
    numbers = out_of_hours_numbers(session, team)
    if numbers is None:
        return [RouteProblem(ROUTE_NO_POLICY)]
    if not numbers:
        return [RouteProblem(ROUTE_NO_NUMBER)]
    opted_out = outbox.opted_out_numbers(session)
    if all(number in opted_out for number in numbers):
        return [RouteProblem(ROUTE_OPTED_OUT, tuple(numbers))]
    return []


def teams_without_route(session: Session) -> list[tuple[Team, list[RouteProblem]]]:
    """Every team that lacks a reachable out-of-hours route, by name."""
    found = []
    for team in session.exec(select(Team).order_by(col(Team.name), col(Team.id))):
        problems = out_of_hours_route_problems(session, team)
        if problems:
            found.append((team, problems))
    return found


# ---- duty numbers -----------------------------------------------------------------------------

def duty_teams(session: Session, phone: str) -> list[Team]:
    """The teams whose duty pages can reach this number (E.164): it is a team's on-call phone,
    a fixed number in a team's own escalation policy, or the mobile of an active staff member
    of the team. A STOP from such a number does not switch off duty pages (services.sms_inbox)."""
    from ..escalation import PhoneTarget
    from .escalation import team_policy

    staff_teams = set(session.exec(
        select(col(TeamMembership.team_id)).join(Account, col(Account.id) == col(TeamMembership.account_id))
        .where(col(Account.phone) == phone, col(Account.kind) == AccountKind.STAFF.value, col(Account.is_active).is_(True))
    ).all())
    found = []
    for team in session.exec(select(Team).order_by(col(Team.id))):
        if team.id in staff_teams or team.on_call_phone == phone:
            found.append(team)
            continue
        policy = team_policy(team) if team.escalation_policy else None
        if policy is not None and any(isinstance(target, PhoneTarget) and target.number == phone
                                      for target in [*(s.target for s in policy.steps), *policy.fallback]):
            found.append(team)
    return found
