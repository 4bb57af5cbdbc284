"""Teams: opening hours, and whom a patient calls now (the team, its out-of-hours phone, or
legevakt 116 117) — one answer for every page and SMS that tells a patient whom to call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from pydantic import ValidationError
from sqlmodel import Session, select

from rules.schedule import local_date_of

from ..escalation import OpeningHours, next_opening_change
from ..escalation import is_open as _open_at
from ..i18n import N_, t
from ..models import Account, Organisation, Team, TeamMembership
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
        .join(TeamMembership, TeamMembership.account_id == Account.id)
        .join(Organisation, Organisation.id == Account.organisation_id, isouter=True)
        .where(TeamMembership.team_id == team_id, Account.is_active.is_(True))
        .order_by(Account.name)
    ).all()
    found: dict[int, tuple[Account, list[str], str | None]] = {}
    for account, role, organisation in rows:
        found.setdefault(account.id, (account, [], organisation))[1].append(role)
    return [Member(a.name, tuple(r), org, a.phone) for a, r, org in found.values()]
