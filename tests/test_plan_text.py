"""Plans read as plain text wherever they are shown: schedules as "kl. 09:00", never a raw
{'times': ['09:00']}; and, when the interface is in English, the team's Norwegian words are
marked as theirs (lang="nb" and a short note)."""

import re

import pytest

from homefollow.services.plan_templates import shipped_templates
from tests.factories import make_patient
from tests.webclient import WebClient, staff_client, text_of

TEMPLATES = shipped_templates()


def _pages(app, session, clock, world, content, locale="nb"):
    patient = make_patient(session, clock, world.team_a, "Planny Plan", "+4791000077", content, world.nurse_a)
    session.commit()
    nurse = staff_client(app, "nurse.a@example.no")
    me = WebClient(app.test_client())
    me.login_patient("+4791000077")
    if locale != "nb":
        me.submit("/plan", {"locale": locale}, action="/locale")
        nurse.submit("/clinic/", {"locale": locale}, action="/locale")
    return {
        "clinic plan": nurse.get(f"/clinic/patients/{patient.id}/plan/edit"),
        "clinic print": nurse.get(f"/clinic/patients/{patient.id}/plan/print"),
        "patient plan": me.get("/plan"),
        "patient today": me.get("/today"),
    }


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.key for t in TEMPLATES])
def test_no_plan_page_shows_a_raw_schedule(app, session, clock, world, template):
    for name, response in _pages(app, session, clock, world, template.content).items():
        assert response.status_code == 200, name
        text = text_of(response)
        assert "{" not in text and "'times'" not in text and "times" not in text, (name, text)


def test_a_schedule_the_plan_gives_a_rule_reads_as_a_time(app, session, clock, world):
    """The missed-check-in rule follows the measurement's schedule; written into the rule's
    parameters, it showed as {'times': ['09:00']} on Johan's plan."""
    from homefollow.services.plans import AssignedRule
    from tests.factories import standard_plan

    content = standard_plan()
    content = content.model_copy(update={"rules": [*content.rules, AssignedRule(
        key="missed.blood_pressure", parameters={"schedule": {"times": ["09:00"]}})]})
    pages = _pages(app, session, clock, world, content)
    for name in ("clinic plan", "clinic print"):
        text = text_of(pages[name])
        assert "{" not in text and "'times'" not in text, name
        assert "kl. 09:00" in text, name


def test_schedule_words():
    from homefollow.plan_text import schedule_words

    assert schedule_words({"times": ["09:00"]}, "nb") == "kl. 09:00"
    assert schedule_words({"times": ["08:00"], "weekdays": [0, 3]}, "nb") == "mandag og torsdag kl. 08:00"
    assert schedule_words({"times": ["08:00", "20:00"]}, "en") == "at 08:00 and 20:00"
    assert schedule_words({"times": ["08:00"], "weekdays": [0, 3]}, "en") == "Monday and Thursday at 08:00"
    assert schedule_words(None, "nb") == "ved behov"
    assert schedule_words({"what": 1}, "nb") == ""


@pytest.mark.parametrize("locale", ["nb", "en"])
def test_the_teams_norwegian_is_marked_as_theirs_in_english(app, session, clock, world, locale):
    from datetime import time

    from homefollow.services.plans import PlanTask, Schedule
    from tests.factories import standard_plan

    content = standard_plan(tasks=[PlanTask(key="walk", text="Gå tur med hunden", schedule=Schedule(times=(time(13, 0),)))])
    pages = _pages(app, session, clock, world, content, locale)
    patient = pages["patient plan"].get_data(as_text=True)
    clinic = pages["clinic plan"].get_data(as_text=True)
    if locale == "en":
        assert "Written by your care team in Norwegian." in patient
        assert "Written by the team in Norwegian." in clinic
        # The instruction, the goal and the task are marked as Norwegian for screen readers.
        assert re.search(r'<p class="zone-result__instruction" lang="nb">\s*Start beredskapskuren', patient)
        assert '<span lang="nb">Gå tur med hunden</span>' in patient
        assert '<span lang="nb">Gå tur med hunden</span>' in clinic
        assert '<ul lang="nb"><li>Gå tur hver dag' in patient
        # Once per section, not once per line.
        section = patient[patient.index('id="tasks-title"'):]
        section = section[:section.index("</section>")]
        assert section.count("Written by your care team") == 1
        # "Today" too: the task's name is the team's Norwegian, the measurements are ours.
        today = pages["patient today"].get_data(as_text=True)
        assert '<span lang="nb">Gå tur med hunden</span>' in today
        assert today.count("Written by your care team in Norwegian.") == 1
    else:
        for html in (patient, clinic, pages["patient today"].get_data(as_text=True)):
            assert "Written by" not in html and "Skrevet av" not in html
            assert 'lang="nb">Gå tur' not in html
        assert "Gå tur med hunden" in patient and "Gå tur med hunden" in clinic
