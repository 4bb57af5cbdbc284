"""Builders and a timeline driver for the escalation tests.

The driver plays the scheduler sweep: every tick it plans at the clock's `now`, checks that
planning again at the same moment with the recorded state yields nothing new, and stores the
state through JSON as the alert row would."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, datetime, timedelta, UTC
from typing import Any
from zoneinfo import ZoneInfo

from homefollow.clock import FixedClock
from homefollow.escalation import (
    AlertFacts,
    Contact,
    EscalationState,
    OnCallSchedule,
    OpeningHours,
    PageIntent,
    Plan,
    TeamContext,
    parse_policy,
    plan,
)

OSLO = ZoneInfo("Europe/Oslo")
UTC = UTC

NURSES = (11, 12, 13)
COORDINATORS = (41, 42)
PHYSICIAN = 51
RESPONSE_CENTRE = "+4722000000"
ON_CALL_PHONE = "+4790000000"


def oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def hhmm(at: datetime) -> str:
    return at.astimezone(OSLO).strftime("%H:%M")


BASE_POLICY: dict[str, Any] = {
    "name": "Dagteam med responssenter",
    "steps": [
        {"target": {"kind": "on_call", "role": "nurse"}, "channels": ["sms", "email"],
         "wait": {"red": 15, "yellow": 60}},
        {"target": {"kind": "role", "role": "coordinator"}, "channels": ["sms", "email"],
         "wait": {"red": 15, "yellow": 60}},
    ],
    "repeat": 0,
    "fallback": [{"kind": "phone", "number": ON_CALL_PHONE, "label": "Vakttelefon"}],
    "ack_timeout": {"red": 30, "yellow": 240},
    "snooze_max": {"red": 60, "yellow": 1440},
}

# In opening hours: nurse, then coordinators; outside: the 24/7 response centre.
HOURS_POLICY: dict[str, Any] = {
    **BASE_POLICY,
    "steps": [
        {"target": {"kind": "on_call", "role": "nurse"}, "channels": ["sms", "email"],
         "wait": {"red": 15, "yellow": 60}, "when": "in_opening_hours"},
        {"target": {"kind": "role", "role": "coordinator"}, "channels": ["sms"],
         "wait": {"red": 15, "yellow": 60}, "when": "in_opening_hours"},
        {"target": {"kind": "phone", "number": RESPONSE_CENTRE, "label": "Responssenter"},
         "wait": {"red": 15, "yellow": 60}, "when": "outside_opening_hours"},
    ],
}


def policy_data(base: dict[str, Any] = BASE_POLICY, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(copy.deepcopy(changes))
    return data


def make_policy(base: dict[str, Any] = BASE_POLICY, **changes: Any):
    return parse_policy(policy_data(base, **changes))


WEEKDAY_HOURS = OpeningHours.model_validate({d: ["08:00", "15:30"] for d in ("mon", "tue", "wed", "thu", "fri")})

# Nurses take 24-hour turns handing over at 08:00 local, starting Monday 2 March 2026.
ROUND_THE_CLOCK = OnCallSchedule.model_validate({
    "rotations": [{"role": "nurse", "people": list(NURSES), "start_date": "2026-03-02",
                   "shift_start": "08:00", "shift_end": "08:00"}],
})


def contacts() -> dict[int, Contact]:
    people = {n: Contact(phone=f"+479100000{n}", email=f"nurse{n}@example.no") for n in NURSES}
    people.update({c: Contact(phone=f"+479200000{c}", email=f"coord{c}@example.no") for c in COORDINATORS})
    people[PHYSICIAN] = Contact(email="physician@example.no")
    return people


def make_team(on_call: OnCallSchedule | None = ROUND_THE_CLOCK, **changes: Any) -> TeamContext:
    base = TeamContext(
        time_zone="Europe/Oslo",
        opening_hours=WEEKDAY_HOURS,
        members={"nurse": list(NURSES), "coordinator": list(COORDINATORS), "physician": [PHYSICIAN]},
        contacts=contacts(),
        on_call=on_call,
    )
    return dataclasses.replace(base, **changes)


def nurse_on_duty(at: datetime) -> int:
    """The nurse of ROUND_THE_CLOCK at a moment (computed independently of the module)."""
    local = at.astimezone(OSLO)
    day = local.date() if local.hour >= 8 else local.date() - timedelta(days=1)
    return NURSES[(day - date(2026, 3, 2)).days % len(NURSES)]


@dataclasses.dataclass
class Sent:
    at: datetime
    intent: PageIntent

    @property
    def local(self) -> str:
        return hhmm(self.at)


class Timeline:
    def __init__(self, policy, alert: AlertFacts, team: TeamContext | None = None, clock: FixedClock | None = None):
        self.policy = policy
        self.alert = alert
        self.team = team or make_team()
        self.clock = clock or FixedClock(alert.opened_at)
        self.state: EscalationState | None = None
        self.failed: set[str] = set()
        self.sent: list[Sent] = []
        self.returned: list[datetime] = []
        self.last: Plan | None = None

    def update(self, **changes: Any) -> None:
        self.alert = dataclasses.replace(self.alert, **changes)

    def acknowledge(self) -> None:
        self.update(acknowledged_at=self.clock.now())

    def resolve(self) -> None:
        self.update(resolved_at=self.clock.now())

    def fail(self, intent_or_key: PageIntent | str) -> None:
        self.failed.add(intent_or_key if isinstance(intent_or_key, str) else intent_or_key.dedup_key)

    def tick(self) -> list[PageIntent]:
        now = self.clock.now()
        result = plan(self.policy, self.alert, self.team, self.state, now, frozenset(self.failed))
        again = plan(self.policy, self.alert, self.team, result.state, now, frozenset(self.failed))
        assert again.intents == (), f"planning twice at {now} paged again: {again.intents}"
        assert again.next_due_at == result.next_due_at
        assert not again.returned_to_queue
        self.state = EscalationState.model_validate_json(result.state.model_dump_json())
        self.sent.extend(Sent(now, i) for i in result.intents)
        if result.returned_to_queue:  # what the alert service does: back to open
            self.returned.append(now)
            self.update(acknowledged_at=None)
        self.last = result
        return list(result.intents)

    def run_until(self, end: datetime, step: timedelta = timedelta(minutes=1)) -> list[Sent]:
        """Tick every `step` up to and including `end`; the new pages."""
        first = len(self.sent)
        while self.clock.now() <= end:
            self.tick()
            self.clock.advance(step)
        self.clock.set(end)
        return self.sent[first:]

    def at(self, moment: datetime) -> list[PageIntent]:
        self.clock.set(moment)
        return self.tick()

    def pages(self) -> list[tuple[str, str, str]]:
        """(local time, recipient, channel) of everything sent so far."""
        return [(s.local, s.intent.recipient, s.intent.channel) for s in self.sent]
