"""Quiet hours: no SMS that can wait reaches a patient or a relative at night.

Reminders, "you have a new message", invitations and every other notice that is not about a red
finding are queued with the outbox's not-before time (`Notification.due_at`) at the end of the
recipient's quiet hours, in the patient's time zone. They are held, never dropped: the outbox
sends them at that moment like any other due row. Red is never held: pages to staff, the
relative's red-alert SMS, the re-measure request and replies to an SMS the person just sent go
at once (docs/escalation.md, "Quiet hours").

Pure: `now` and the hours are arguments; times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.schedule import local_to_utc

# The patient's own quiet hours are in their reminder settings (services.reminders.Settings);
# relatives have no settings of their own and get these, in the patient's time zone.
DEFAULT_START = time(21, 0)
DEFAULT_END = time(8, 0)


def in_quiet_hours(local: time, start: time = DEFAULT_START, end: time = DEFAULT_END) -> bool:
    """Whether a local wall-clock time is in [start, end), which may wrap past midnight."""
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def send_after(now: datetime, tz: str, start: time = DEFAULT_START, end: time = DEFAULT_END) -> datetime:
    """The earliest moment an SMS that can wait may go: `now` outside quiet hours, else the end of
    the quiet hours (UTC). DST-safe: the end is a wall-clock time on the right local date."""
    local = now.astimezone(ZoneInfo(tz))
    if not in_quiet_hours(local.time(), start, end):
        return now
    day = local.date()
    if start > end and local.time() >= start:  # evening: the quiet hours end tomorrow morning
        day += timedelta(days=1)
    return max(local_to_utc(day, end, tz), now)
