"""Team settings in the clinician portal: the Teams page, and the forms where team admins
edit opening hours, phone numbers, the on-call rota and the escalation policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homefollow.escalation import parse_policy
from homefollow.models import Account, Organisation, Team
from homefollow.services import team_settings as ts
from tests.factories import audit_events as audits
from tests.webclient import staff_client as staff, text_of


def reload(session, team_id: int) -> Team:
    session.expire_all()
    return session.get(Team, team_id)


def day_rota(nurse_id: int, clock) -> dict:
    return {"time_zone": "Europe/Oslo", "rotations": [
        {"role": "nurse", "people": [nurse_id], "start_date": (clock.now().date() - timedelta(days=7)).isoformat(),
         "shift_start": "08:00", "shift_end": "16:00", "weekdays": [0, 1, 2, 3, 4]}]}


# ---- the Teams page ------------------------------------------------------------------------

def test_the_teams_page_shows_members_with_organisation_rota_for_the_week_and_policy_in_words(app, session, clock,
                                                                                                world):
    org = Organisation(name="UNN Tromsø", kind="hospital", created_at=clock.now())
    session.add(org)
    session.flush()
    nurse = session.get(Account, world.nurse_a.id)
    nurse.organisation_id = org.id
    team = session.get(Team, world.team_a.id)
    team.on_call_schedule = day_rota(world.nurse_a.id, clock)
    session.commit()

    page = text_of(staff(app, "nurse.a@example.no").get("/clinic/teams"))
    assert "Team A" in page and "Team B" not in page
    assert "Nora Nurse UNN Tromsø Sykepleier" in page
    assert "Ada Admin – Koordinator, Teamadministrator" in page
    assert "man. 08:00–15:30" in page and "lør. Stengt" in page
    assert "Sykepleier, nå Nora Nurse" in page  # Tuesday 09:00 in Tromsø: the day shift
    assert page.count("08:00–16:00 Sykepleier Nora Nurse") == 5  # the coming 7 days: five weekdays
    assert "Ingen har vakt: reserven varsles." in page  # the weekend
    assert "Røde varsler utenfor åpningstiden: Vakttelefon 900 00 000 straks." in page
    assert ("Røde varsler i åpningstiden: sykepleier på vakt straks, så alle med rollen koordinator i teamet "
            "etter 15 min.") in page
    assert "Bare teamets administratorer kan endre disse innstillingene." in page
    assert "Endre åpningstidene" not in page


def test_team_admins_get_a_link_to_each_form(app, world):
    page = staff(app, "admin.a@example.no").get("/clinic/teams").get_data(as_text=True)
    team = world.team_a.id
    for path in ("opening-hours", "phones", "on-call", "escalation"):
        assert f'href="/clinic/teams/{team}/{path}"' in page


# ---- access --------------------------------------------------------------------------------

FORMS = ("opening-hours", "phones", "on-call", "escalation")


@pytest.mark.parametrize("path", FORMS)
def test_only_the_teams_admins_may_open_the_forms(app, session, world, path):
    team = world.team_a.id
    assert staff(app, "admin.a@example.no").get(f"/clinic/teams/{team}/{path}").status_code == 200
    nurse = staff(app, "nurse.a@example.no")
    assert nurse.get(f"/clinic/teams/{team}/{path}").status_code == 403
    assert nurse.client.post(f"/clinic/teams/{team}/{path}", data={}).status_code in (400, 403)  # CSRF or refusal
    other = staff(app, "nurse.b@example.no")
    response = other.get(f"/clinic/teams/{team}/{path}")
    assert response.status_code == 404 and "Team A" not in text_of(response)
    assert staff(app, "admin.a@example.no").get(f"/clinic/teams/{world.team_b.id}/{path}").status_code == 404
    assert staff(app, "admin.a@example.no").get(f"/clinic/teams/99999/{path}").status_code == 404
    denied = [e for e in audits(session, f"team.{ts_name(path)}.denied")]
    assert {e.actor_account_id for e in denied} == {world.nurse_a.id, world.nurse_b.id, world.admin_a.id}


def ts_name(path: str) -> str:
    return {"opening-hours": "opening_hours", "phones": "phones", "on-call": "on_call",
            "escalation": "escalation_policy"}[path]


def test_a_nurse_cannot_change_settings_by_posting_with_a_valid_token(app, session, world):
    nurse = staff(app, "nurse.a@example.no")
    token = nurse.csrf_token("/clinic/teams")
    response = nurse.client.post(f"/clinic/teams/{world.team_a.id}/phones",
                                 data={"csrf_token": token, "phone": "77620001", "on_call_phone": "90000001"})
    assert response.status_code == 403
    assert reload(session, world.team_a.id).on_call_phone == "+4790000000"


# ---- opening hours -------------------------------------------------------------------------

def hours_data(**days) -> dict:
    data = {f"{d}_{w}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") for w in ("opens", "closes")}
    for day, (opens, closes) in days.items():
        data[f"{day}_opens"], data[f"{day}_closes"] = opens, closes
    return data


def test_an_admin_saves_opening_hours_and_the_change_is_audited(app, session, world):
    admin = staff(app, "admin.a@example.no")
    url = f"/clinic/teams/{world.team_a.id}/opening-hours"
    assert 'value="08:00"' in admin.get(url).get_data(as_text=True)
    response = admin.submit(url, hours_data(mon=("8:00", "16.00"), sat=("10:00", "14:00")), follow_redirects=True)
    assert "Åpningstidene er lagret." in text_of(response)
    assert reload(session, world.team_a.id).opening_hours == {"mon": ["08:00", "16:00"], "sat": ["10:00", "14:00"]}
    [event] = audits(session, "team.opening_hours.change")
    assert event.actor_account_id == world.admin_a.id and event.object_id == world.team_a.id
    assert event.detail["old"]["tue"] == ["08:00", "15:30"]
    assert event.detail["new"] == {"mon": ["08:00", "16:00"], "sat": ["10:00", "14:00"]}


@pytest.mark.parametrize(("typed", "field", "message"), [
    (("8 am", "16:00"), "mon_opens", "Skriv klokkeslettet som TT:MM, for eksempel 08:00 (du skrev 8 am)."),
    (("08:00", ""), "mon_closes", "Skriv begge klokkeslettene, eller la begge stå tomme hvis teamet er stengt."),
    (("16:00", "08:00"), "mon_closes", "Stengetiden må være senere enn åpningstiden."),
])
def test_bad_opening_hours_are_explained_by_the_field_and_kept(app, session, world, typed, field, message):
    admin = staff(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/opening-hours", hours_data(mon=typed))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in text_of(response)
    assert f'id="{field}-error"' in html and f'href="#{field}"' in html
    assert f'value="{typed[0]}"' in html  # what was typed is kept
    assert reload(session, world.team_a.id).opening_hours["mon"] == ["08:00", "15:30"]
    assert audits(session, "team.opening_hours.change") == []


# ---- phones --------------------------------------------------------------------------------

def test_an_admin_saves_the_phones_in_any_norwegian_notation(app, session, world):
    admin = staff(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/phones",
                            {"phone": "77 62 00 01", "on_call_phone": "+47 900 00 001"}, follow_redirects=True)
    assert "Telefonnumrene er lagret." in text_of(response)
    team = reload(session, world.team_a.id)
    assert (team.phone, team.on_call_phone) == ("+4777620001", "+4790000001")
    [event] = audits(session, "team.phones.change")
    assert event.detail == {"old": {"phone": "+4777620000", "on_call_phone": "+4790000000", "out_of_hours_phone": None},
                            "new": {"phone": "+4777620001", "on_call_phone": "+4790000001", "out_of_hours_phone": None}}


@pytest.mark.parametrize(("phone", "on_call", "field", "message"), [
    ("12", "90000001", "phone", "Skriv et gyldig norsk telefonnummer, for eksempel 77 62 00 00 eller 900 00 000 "
                                "(du skrev 12)."),
    ("", "+46 8 123 456 78", "on_call_phone", "Skriv et gyldig norsk telefonnummer"),  # Swedish: not Norwegian
    ("77620000", "", "on_call_phone", "Skriv vakttelefonnummeret: det varsles når ingen andre kan nås."),
])
def test_bad_phones_are_refused_with_the_reason(app, session, world, phone, on_call, field, message):
    admin = staff(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/phones", {"phone": phone, "on_call_phone": on_call})
    assert response.status_code == 400 and message in text_of(response)
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert reload(session, world.team_a.id).on_call_phone == "+4790000000"


def test_an_empty_team_phone_is_allowed(app, session, world):
    admin = staff(app, "admin.a@example.no")
    admin.submit(f"/clinic/teams/{world.team_a.id}/phones", {"phone": "", "on_call_phone": "90000000"})
    assert reload(session, world.team_a.id).phone is None


# ---- the on-call rota ----------------------------------------------------------------------

def rota_row(i: int, role="nurse", people=(), weekdays=(), start="", end="", start_date="",
             handover="daily") -> dict:
    data = {f"rota-{i}-role": role, f"rota-{i}-shift_start": start, f"rota-{i}-shift_end": end,
            f"rota-{i}-start_date": start_date, f"rota-{i}-handover": handover}
    for j in range(3):
        data[f"rota-{i}-people-{j}"] = str(people[j]) if j < len(people) else ""
    data[f"rota-{i}-weekdays"] = [str(d) for d in weekdays]
    return data


def test_an_admin_saves_a_rota_of_day_and_night_shifts(app, session, clock, world):
    admin = staff(app, "admin.a@example.no")
    url = f"/clinic/teams/{world.team_a.id}/on-call"
    data = rota_row(0, people=[world.nurse_a.id], weekdays=range(5), start="08:00", end="16:00",
                    start_date="2026-03-09")
    data |= rota_row(1, people=[world.admin_a.id, world.nurse_a.id], weekdays=range(7), start="16:00", end="08:00",
                     start_date="2026-03-09", handover="weekly")
    data |= rota_row(2)  # an empty row is no shift
    response = admin.submit(url, data, follow_redirects=True)
    assert "Vaktlisten er lagret." in text_of(response)
    schedule = reload(session, world.team_a.id).on_call_schedule
    assert [r["people"] for r in schedule["rotations"]] == [[world.nurse_a.id], [world.admin_a.id, world.nurse_a.id]]
    assert schedule["rotations"][1]["handover"] == "weekly"
    page = text_of(response)
    assert "Sykepleier, nå Nora Nurse" in page and "16:00–08:00 Sykepleier Ada Admin" in page
    [event] = audits(session, "team.on_call.change")
    assert event.detail["old"] is None and event.detail["new"] == schedule
    form = admin.get(url).get_data(as_text=True)
    assert 'value="16:00"' in form and "Vakt 4" in form  # saved rows plus two empty ones


@pytest.mark.parametrize(("row", "field", "message"), [
    ({"weekdays": range(5), "start": "08:00", "end": "16:00"}, "rota-0-people-0",
     "Velg hvem som tar denne vakten, eller tøm hele raden for å fjerne den."),
    ({"people": "N", "start": "08:00", "end": "16:00"}, "rota-0-weekdays",
     "Velg minst én ukedag vakten begynner på."),
    ({"people": "N", "weekdays": [0], "start": "25:00", "end": "16:00"}, "rota-0-shift_start",
     "Skriv klokkeslettet som TT:MM, for eksempel 08:00 (du skrev 25:00)."),
    ({"people": "N", "weekdays": [0], "start": "08:00", "end": ""}, "rota-0-shift_end",
     "Skriv begge klokkeslettene"),
    ({"people": "N", "weekdays": [0], "start": "08:00", "end": "16:00", "start_date": "31.02.2026"},
     "rota-0-start_date", "Skriv datoen som ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ"),
    ({"people": "B", "weekdays": [0], "start": "08:00", "end": "16:00"}, "rota-0-people-0",
     "Velg et medlem av teamet."),
])
def test_bad_rota_rows_are_explained(app, session, world, row, field, message):
    row = dict(row)  # the parameters are shared by both database backends
    people = {"N": [world.nurse_a.id], "B": [world.nurse_b.id]}.get(row.pop("people", None), [])
    admin = staff(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/on-call", rota_row(0, people=people, **row))
    assert response.status_code == 400 and message in text_of(response)
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert reload(session, world.team_a.id).on_call_schedule is None


def test_overlapping_shifts_for_one_role_are_refused(app, session, world):
    admin = staff(app, "admin.a@example.no")
    data = rota_row(0, people=[world.nurse_a.id], weekdays=range(5), start="08:00", end="16:00")
    data |= rota_row(1, people=[world.admin_a.id], weekdays=[4], start="22:00", end="09:00")  # Fri night to Sat
    data |= rota_row(2, people=[world.admin_a.id], weekdays=[0], start="15:00", end="20:00")
    data |= rota_row(3, role="coordinator", people=[world.admin_a.id], weekdays=[0], start="08:00", end="16:00")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/on-call", data)
    page = text_of(response)
    assert response.status_code == 400
    assert "Denne vakten overlapper vakt 1 for samme rolle (fra mandag 15:00)." in page
    assert "vakt 2" not in page  # Friday night ends before Monday; another role may overlap
    assert 'value="15:00"' in response.get_data(as_text=True)


@pytest.mark.parametrize(("row", "where", "code"), [
    ({"start_date": "01.01.0001"}, ("rota", 0, "start_date"), "date_format"),
    ({"shift_start": "08:00\x00"}, ("rota", 0, "shift_start"), "time_format"),
    ({"shift_end": "1" * 10_000}, ("rota", 0, "shift_end"), "time_format"),
    ({"people": ["1", "\x00"]}, ("rota", 0, "people", 1), "not_a_member"),
    ({"people": ["1", "1"]}, ("rota", 0, "people", 1), "person_twice"),
    ({"weekdays": ["7", "x"]}, ("rota", 0, "weekdays"), "shift_without_weekdays"),
])
def test_hostile_rota_values_are_refused_at_their_field(row, where, code):
    from datetime import date

    typed = {"role": "nurse", "people": ["1"], "weekdays": ["0"], "shift_start": "08:00", "shift_end": "16:00"} | row
    rotations, problems = ts.check_rota([typed], {1}, "Europe/Oslo", date(2026, 3, 10))
    assert rotations is None and [(loc, c) for loc, c, _p in problems] == [(where, code)]
    assert all("\x00" not in str(p) and len(str(p)) < 200 for _l, _c, p in problems)


def test_the_overlap_check_wraps_around_the_week():
    rows = [{"role": "nurse", "people": ["1"], "weekdays": ["6"], "shift_start": "22:00", "shift_end": "08:00"},
            {"role": "nurse", "people": ["2"], "weekdays": ["0"], "shift_start": "07:00", "shift_end": "15:00"}]
    from datetime import date

    _rotations, problems = ts.check_rota(rows, {1, 2}, "Europe/Oslo", date(2026, 3, 10))
    assert problems == [(("rota", 1, "shift_start"), "shifts_overlap", {"other": 1, "day": "mon", "time": "07:00"})]


# ---- the escalation policy -----------------------------------------------------------------

def target(prefix: str, kind="", role="nurse", person="", number="", label="") -> dict:
    return {f"{prefix}-kind": kind, f"{prefix}-role": role, f"{prefix}-person": person, f"{prefix}-number": number,
            f"{prefix}-label": label}


def step(i: int, kind="", severities=("yellow", "red"), channels=("sms",), when="always", wait_yellow="60",
         wait_red="15", **kw) -> dict:
    data = target(f"steps-{i}", kind, **kw)
    data |= {f"steps-{i}-severities": list(severities), f"steps-{i}-channels": list(channels),
             f"steps-{i}-when": when, f"steps-{i}-wait_yellow": wait_yellow, f"steps-{i}-wait_red": wait_red}
    return data


def policy_data(steps: list[dict], fallback: list[dict], action="save", **top) -> dict:
    data = {"name": "Dagteam", "repeat": "1", "ack_yellow": "240", "ack_red": "30", "snooze_yellow": "1440",
            "snooze_red": "60", "remeasure_wait": "", "remeasure_rules": "", "action": action}
    for s in steps:
        data |= s
    for f in fallback:
        data |= f
    return data | top


def good_policy(**top) -> dict:
    return policy_data(
        [step(0, "on_call", when="in_opening_hours", channels=("sms", "email")),
         step(1, "role", role="coordinator", when="in_opening_hours", wait_red="10"),
         step(2, "phone", number="22 33 44 55", label="Responssenter", severities=("red",),
              when="outside_opening_hours", wait_yellow="")],
        [target("fallback-0", "phone", number="900 00 000", label="Vakttelefon")], **top)


def test_an_admin_previews_and_saves_a_policy_and_the_change_is_audited(app, session, world):
    admin = staff(app, "admin.a@example.no")
    url = f"/clinic/teams/{world.team_a.id}/escalation"
    form = admin.get(url).get_data(as_text=True)
    assert 'value="Standard"' in form and "Trinn 5" in form  # the standard policy's three steps + two empty

    preview = admin.submit(url, good_policy(action="preview"))
    page = text_of(preview)
    assert preview.status_code == 200 and "Forhåndsvisning" in page
    assert "Røde varsler utenfor åpningstiden: Responssenter 22 33 44 55 straks." in page
    assert ("Røde varsler i åpningstiden: sykepleier på vakt straks, så alle med rollen koordinator i teamet "
            "etter 15 min.") in page
    assert "Gule varsler utenfor åpningstiden: ingen varsles; de venter i triagekøen." in page
    assert reload(session, world.team_a.id).escalation_policy is None  # a preview saves nothing

    saved = admin.submit(url, good_policy(), follow_redirects=True)
    assert "Varslingsplanen er lagret." in text_of(saved)
    policy = parse_policy(reload(session, world.team_a.id).escalation_policy)
    assert policy.steps[2].target.number == "+4722334455" and policy.fallback[0].number == "+4790000000"
    assert policy.steps[0].channels == ("sms", "email") and policy.steps[2].severities == ("red",)
    assert "Teamets egen plan (Dagteam)" in text_of(saved)
    [event] = audits(session, "team.escalation_policy.change")
    assert event.detail["old"] is None and event.detail["new"]["name"] == "Dagteam"


def test_a_policy_with_an_empty_fallback_cannot_be_saved(app, session, world):
    admin = staff(app, "admin.a@example.no")
    data = good_policy() | target("fallback-0")  # the only fallback row left empty
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/escalation", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert ("Reserven kan ikke være tom: legg til teamets vakttelefon eller et døgnåpent responssenter. Den "
            "varsles når et trinn ikke når noen.") in text_of(response)
    assert 'id="fallback-0-kind-error"' in html and 'value="22 33 44 55"' in html  # input kept
    assert reload(session, world.team_a.id).escalation_policy is None
    assert audits(session, "team.escalation_policy.change") == []


@pytest.mark.parametrize(("change", "field", "message"), [
    (target("fallback-0", "role", role="nurse"), "fallback-0-kind",
     "Ta med minst ett fast telefonnummer i reserven"),
    (step(2, "phone", number="22 33 44 55", severities=("red",), when="in_opening_hours", wait_yellow=""),
     "steps-0-kind", "Ingen trinn varsler noen om røde varsler utenfor åpningstiden."),
    (step(0, "on_call", when="in_opening_hours", wait_red=""), "steps-0-wait_red",
     "Skriv antall minutter for røde varsler."),
    (step(0, "on_call", when="in_opening_hours", wait_red="90"), "steps-0-wait_red",
     "For røde varsler, velg fra 0 til 60 minutter."),
    (step(0, "on_call", when="in_opening_hours", wait_red="ti"), "steps-0-wait_red",
     "Skriv et helt antall minutter (du skrev ti)."),
    (step(0, "queue_only", when="in_opening_hours"), "steps-0-severities",
     "Et trinn som bare venter i triagekøen kan ikke gjelde røde varsler"),
    (step(0, "on_call", when="in_opening_hours", channels=()), "steps-0-channels",
     "Velg minst én kanal: SMS eller e-post."),
    (step(2, "phone", number="123", severities=("red",), when="outside_opening_hours", wait_yellow=""),
     "steps-2-number", "Skriv et gyldig norsk telefonnummer"),
    (step(2, "phone", number="22334455", channels=("sms", "email"), severities=("red",),
          when="outside_opening_hours", wait_yellow=""), "steps-2-channels",
     "Et telefonnummer kan bare motta SMS: velg bare SMS."),
    ({"ack_red": "2"}, "ack_red", "For røde varsler, velg fra 5 til 1440 minutter."),
    ({"remeasure_rules": "copd.spo2_low"}, "remeasure_wait", "Skriv hvor mange minutter det skal ventes på den nye"),
])
def test_each_policy_problem_is_explained_at_its_field(app, session, world, change, field, message):
    admin = staff(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/escalation", good_policy() | change)
    assert response.status_code == 400, text_of(response)
    assert message in text_of(response)
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert reload(session, world.team_a.id).escalation_policy is None


def test_a_named_person_must_belong_to_the_team(app, session, world):
    admin = staff(app, "admin.a@example.no")
    data = good_policy() | step(1, "person", person=str(world.nurse_b.id), when="in_opening_hours")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/escalation", data)
    assert response.status_code == 400 and "Velg et medlem av teamet." in text_of(response)
    ok = admin.submit(f"/clinic/teams/{world.team_a.id}/escalation",
                      good_policy() | step(1, "person", person=str(world.admin_a.id), when="in_opening_hours"))
    assert ok.status_code == 302
    assert parse_policy(reload(session, world.team_a.id).escalation_policy).steps[1].target.account_id == \
        world.admin_a.id


def test_a_team_without_on_call_phone_starts_from_the_standard_shape_with_the_number_to_fill_in(app, session,
                                                                                                 world):
    team = session.get(Team, world.team_a.id)
    team.on_call_phone = None
    session.commit()
    admin = staff(app, "admin.a@example.no")
    page = admin.get(f"/clinic/teams/{world.team_a.id}/escalation").get_data(as_text=True)
    assert 'id="fallback-0-number" name="fallback-0-number" type="tel" value=""' in page
    assert "+4700000000" not in page


def test_the_policy_words_follow_the_planner_skipping_steps_that_do_not_apply():
    policy = parse_policy({
        "name": "x", "repeat": 0, "ack_timeout": {"yellow": 60, "red": 30}, "snooze_max": {"yellow": 0, "red": 0},
        "steps": [
            {"target": {"kind": "queue_only"}, "severities": ["yellow"], "wait": {"yellow": 30}},
            {"target": {"kind": "on_call", "role": "nurse"}, "when": "in_opening_hours",
             "wait": {"yellow": 60, "red": 10}},
            {"target": {"kind": "phone", "number": "+4790000000"}, "wait": {"yellow": 60, "red": 15}},
        ],
        "fallback": [{"kind": "phone", "number": "+4790000000"}]})
    by = {(s.severity, s.in_hours): [(t.kind, m) for t, m in s.pages] for s in ts.situations(policy)}
    assert by[("red", True)] == [("on_call", 0), ("phone", 10)]
    assert by[("red", False)] == [("phone", 0)]
    assert by[("yellow", True)] == [("on_call", 30), ("phone", 90)]
    assert by[("yellow", False)] == [("phone", 30)]
