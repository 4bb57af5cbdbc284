"""Plan text for people: schedules in words ("kl. 09:00", "mandag og torsdag kl. 08:00"), never
a raw {'times': ['09:00']}; and the team's own words marked as theirs when the interface speaks
another language than the one the team wrote the plan in.

Plain functions taking the locale, so services, templates and exports can share them; the
templates reach them through the Jinja globals that `register` adds."""

from __future__ import annotations

from datetime import time
from typing import Any

from markupsafe import Markup, escape

from rules.schedule import Schedule

from .i18n import N_, t

# The language the teams write plans, instructions and tasks in.
TEAM_LANGUAGE = "nb"

WEEKDAY_WORDS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))


def as_schedule(value: Any) -> Schedule | None:
    """A Schedule from a Schedule or its stored form ({'times': ['09:00'], 'weekdays': [0, 3]});
    None for anything else."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict) and "times" in value:
        try:
            return Schedule.model_validate(value)
        except ValueError:
            return None
    return None


def _and(locale: str, words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return t(locale, N_("%(first)s and %(last)s"), first=", ".join(words[:-1]), last=words[-1])


def times_words(times, locale: str) -> str:
    """'kl. 08:00' / 'kl. 08:00 og 20:00' ('at 08:00 and 20:00')."""
    hours = [(x if isinstance(x, time) else time.fromisoformat(str(x))).strftime("%H:%M") for x in times]
    return t(locale, N_("at %(times)s"), times=_and(locale, hours))


def schedule_words(value: Any, locale: str) -> str:
    """A schedule as a sentence part: 'kl. 09:00' (every day), 'mandag og torsdag kl. 08:00';
    'ved behov' (when needed) for none. A value that is not a schedule is shown as nothing
    rather than as raw data."""
    if value is None:
        return t(locale, N_("when needed"))
    schedule = as_schedule(value)
    if schedule is None:
        return ""
    at = times_words(schedule.times, locale)
    if schedule.is_daily:
        return at
    days = _and(locale, [t(locale, WEEKDAY_WORDS[d]).lower() if locale == "nb" else t(locale, WEEKDAY_WORDS[d])
                         for d in schedule.weekdays])
    return t(locale, N_("%(days)s %(at)s"), days=days, at=at)


def is_other_language(locale: str) -> bool:
    """Whether the interface speaks another language than the one the team wrote the plan in."""
    return (locale or TEAM_LANGUAGE) != TEAM_LANGUAGE


def team_note(locale: str, staff: bool = False) -> str:
    """The note, once per section, that the text below is the team's own, in Norwegian."""
    if not is_other_language(locale):
        return ""
    return t(locale, N_("Written by the team in Norwegian.") if staff else N_("Written by your care team in Norwegian."))


def team_lang(locale: str) -> Markup:
    """The lang attribute for an element holding the team's own words: ' lang="nb"' when the
    interface speaks another language (screen readers then read it as Norwegian), else ''."""
    return Markup(f' lang="{escape(TEAM_LANGUAGE)}"') if is_other_language(locale) else Markup("")


def register(state) -> None:
    """Add the Jinja globals to the app (called with a blueprint's setup state or an app)."""
    from .web import locale_code

    app = getattr(state, "app", state)
    app.jinja_env.globals.update(
        plan_schedule=lambda value: schedule_words(value, locale_code()),
        team_note=lambda staff=False: team_note(locale_code(), staff),
        team_lang=lambda: team_lang(locale_code()),
    )
