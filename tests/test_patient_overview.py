"""The clinician's patient overview, the patient page (notes, frailty, timeline, charts) and the
per-patient audit view: content, sorting, filters, a pinned query count, and who may see what."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from homefollow.clock import FixedClock
from homefollow.models import Alert, AuditEvent, Message, Patient, PatientNote, PatientStatus
from homefollow.services import alerts, audit, checklist, overview, reporting
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import Contact
from tests.factories import make_patient, standard_plan
from tests.webclient import WebClient, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def _staff(app, email="nurse.a@example.no") -> WebClient:
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def _report(session, clock, patient, item_key, values, key, **kw):
    return reporting.report_measurement(session, clock, patient=patient, item_key=item_key, values=values,
                                        idempotency_key=key, reported_by_account_id=kw.pop("by", None),
                                        actor_kind=kw.pop("actor_kind", "patient"), **kw)


def _rows(html: str) -> list[str]:
    """The overview's table rows as text, in order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>") if "<td" in row]


# --- overview ------------------------------------------------------------------------------------

def test_overview_shows_each_patient_of_my_teams_with_light_last_report_adherence_and_alerts(app, session, clock,
                                                                                              world):
    _report(session, clock, world.patient_a1, "weight", {"weight": 71}, "w1")  # yellow: 3 kg over dry weight
    nurse = _staff(app)
    response = nurse.get("/clinic/patients")
    assert response.status_code == 200
    rows = _rows(response.get_data(as_text=True))
    assert len(rows) == 2 and "Bjørn B1" not in response.get_data(as_text=True)
    astrid = next(r for r in rows if "Astrid A1" in r)
    arne = next(r for r in rows if "Arne A2" in r)
    # The light is in words, not colour alone; the last report says when and what.
    assert astrid.startswith("Gul") and "Vekt" in astrid and "71,0 kg" in astrid and "Aktiv" in astrid
    assert arne.startswith("Grønn") and "Ingenting rapportert ennå" in arne
    # Red before yellow before green by default.
    assert rows[0] == astrid
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "view.patients")).one().actor_account_id \
        == world.nurse_a.id


def test_adherence_and_missed_today_agree_with_the_checklist(session, clock, world):
    for patient in (world.patient_a1, world.patient_a2):  # followed for a month, so 14 whole days count
        patient.monitoring_since = clock.now() - timedelta(days=30)
        session.add(patient)
    session.commit()
    past = FixedClock(clock.now() - timedelta(days=3))
    _report(session, past, world.patient_a1, "spo2", {"spo2": 96}, "p1")
    _report(session, past, world.patient_a1, "weight", {"weight": 68}, "p2")
    clock.advance(hours=4)  # 13:00 in Oslo: this morning's spo2, weight and blood pressure are missed
    _report(session, clock, world.patient_a1, "spo2", {"spo2": 96}, "today")  # fills the 08:00 slot late
    rows = {r.patient.id: r for r in overview.patient_rows(session, clock, {world.team_a.id})}
    for patient in (world.patient_a1, world.patient_a2):
        content = rows[patient.id].plan
        expected = checklist.adherence(session, clock, patient, content, days=overview.ADHERENCE_DAYS)
        assert rows[patient.id].adherence == expected
    a1 = rows[world.patient_a1.id].adherence
    assert a1.total_expected == 14 * 4 and sum(a1.done.values()) == 2
    # A2 measures when needed: nothing is expected of him, so nothing is missed.
    assert rows[world.patient_a1.id].missed_today == 2 and rows[world.patient_a2.id].missed_today == 0


def test_overview_sorts_by_a_column_link_in_both_directions(app, session, clock, world):
    _report(session, clock, world.patient_a2, "weight", {"weight": 71}, "w")
    nurse = _staff(app)
    page = nurse.get("/clinic/patients?sort=name&dir=asc").get_data(as_text=True)
    assert [r.split()[1] for r in _rows(page)] == ["Arne", "Astrid"]
    assert 'aria-sort="ascending"' in page
    # The active column's link flips the direction and keeps the filters.
    assert re.search(r'href="/clinic/patients\?[^"]*sort=name[^"]*dir=desc', page.replace("&amp;", "&"))
    page = nurse.get("/clinic/patients?sort=name&dir=desc").get_data(as_text=True)
    assert [r.split()[1] for r in _rows(page)] == ["Astrid", "Arne"]
    page = nurse.get("/clinic/patients?sort=last_report&dir=desc").get_data(as_text=True)
    assert [r.split()[1] for r in _rows(page)] == ["Arne", "Astrid"]  # no report comes last
    # Nonsense sort or direction falls back to the default, never a 500.
    assert nurse.get("/clinic/patients?sort=drop&dir=sideways").status_code == 200


def test_overview_filters_by_light_status_name_and_team(app, session, clock, world):
    _report(session, clock, world.patient_a1, "weight", {"weight": 71}, "w")
    a2 = session.get(Patient, world.patient_a2.id)
    a2.status = PatientStatus.PAUSED.value
    session.add(a2)
    session.commit()
    nurse = _staff(app)

    def names(url):
        return [r.split()[1] for r in _rows(nurse.get(url).get_data(as_text=True))]

    assert names("/clinic/patients?light=yellow") == ["Astrid"]
    assert names("/clinic/patients?light=green") == ["Arne"]
    assert names("/clinic/patients?status=paused") == ["Arne"]
    assert names("/clinic/patients?q=astr") == ["Astrid"]
    assert names("/clinic/patients?q=ASTRID+a1") == ["Astrid"]
    assert names(f"/clinic/patients?team={world.team_a.id}") == ["Astrid", "Arne"]
    # Another team's id as a filter shows nothing of that team.
    other = nurse.get(f"/clinic/patients?team={world.team_b.id}")
    assert "Bjørn" not in other.get_data(as_text=True) and "Ingen pasienter passer" in text_of(other)
    assert nurse.get("/clinic/patients?team=abc&status=weird&light=blue").status_code == 200
    # The filter form keeps what was chosen.
    page = nurse.get("/clinic/patients?q=astr&light=yellow").get_data(as_text=True)
    assert 'value="astr"' in page and '<option selected value="yellow">' in page


def test_overview_query_count_does_not_grow_with_the_number_of_patients(app, session, clock, world,
                                                                       count_queries):
    def add_patients(n, start):
        made = [make_patient(session, clock, world.team_a, f"Pasient {start + i:03d}", None, standard_plan(),
                             world.nurse_a) for i in range(n)]
        session.commit()
        return made

    first = add_patients(8, 0)
    for i, patient in enumerate(first[:4]):
        _report(session, clock, patient, "weight", {"weight": 71 if i % 2 else 68}, f"w{i}")
    nurse = _staff(app)
    nurse.get("/clinic/patients")  # warm up whatever is loaded once

    with count_queries() as small:
        page = nurse.get("/clinic/patients")
    assert len(_rows(page.get_data(as_text=True))) == 10

    add_patients(70, 100)
    with count_queries() as large:
        page = nurse.get("/clinic/patients")
    assert len(_rows(page.get_data(as_text=True))) == overview.PAGE_SIZE  # 80 patients: the first page
    assert len(large) == len(small), (len(small), len(large))
    assert len(small) <= 20, small


def test_the_overview_pages_show_every_patient_once_in_the_unpaged_order(app, session, clock, world, monkeypatch):
    """Paging reads full rows only for the page's patients; the pages together are exactly
    the unpaged overview, row for row, for every sort (correctness against the old path)."""
    made = []
    for i in range(60):
        plan = standard_plan()
        if i % 3:  # two in three have a plan review, on a few different days
            plan.next_review = date(2026, 4, 1) + timedelta(days=(i * 7) % 50)
        made.append(make_patient(session, clock, world.team_a, f"Pasient {i:03d}", None, plan, world.nurse_a))
    session.commit()
    for i, patient in enumerate(made[:12]):  # red, yellow and green; some without any report
        _report(session, clock, patient, "spo2", {"spo2": 85 if i % 3 == 0 else 91 if i % 3 == 1 else 97}, f"s{i}")
    clock.advance(minutes=5)
    _report(session, clock, made[30], "weight", {"weight": 68}, "late")
    teams = {world.team_a.id}
    for sort in overview.SORTS:
        for descending in (False, True):
            whole = overview.patient_rows(session, clock, teams, sort=sort, descending=descending)
            pages = [overview.overview_page(session, clock, teams, sort=sort, descending=descending, page=n,
                                            page_size=25) for n in (1, 2, 3)]
            assert [p.total for p in pages] == [62] * 3 and [p.pages for p in pages] == [3] * 3
            assert [r for p in pages for r in p.rows] == whole, (sort, descending)
    reviews = [r.next_review for r in overview.patient_rows(session, clock, teams, sort="review")]
    assert len(set(reviews)) > 5 and reviews[-1] is None  # dates first, none set last
    full_rows, rows_read = overview._rows, []
    monkeypatch.setattr(overview, "_rows", lambda s, c, patients: rows_read.append(len(patients)) or full_rows(
        s, c, patients))
    overview.overview_page(session, clock, teams, sort="review", page=2, page_size=25)
    monkeypatch.setattr(overview, "_rows", full_rows)
    assert rows_read == [25]  # the plan review sort reads full rows for the page only
    first = overview.overview_page(session, clock, teams, page=1, page_size=25)
    # Red first, and the counts cover the patients on the other pages too.
    whole = overview.patient_rows(session, clock, teams)
    assert first.rows[0].light == "red" and first.lights["red"] > 0
    assert first.lights == {light: sum(r.light == light for r in whole) for light in overview.LIGHTS}
    assert (first.first, first.last) == (1, 25)
    assert overview.overview_page(session, clock, teams, page=99, page_size=25).page == 3  # past the end: the last


def test_sorting_by_adherence_reads_the_kept_days_and_pages_like_the_whole_list(session, clock, world, monkeypatch):
    """The adherence sort ranks a team by the kept days (services.adherence_days) and reads full
    rows for the page only; the pages are the unpaged list, which counts every patient afresh,
    row for row — also for a patient whose kept days no longer hold (a late reading)."""
    from homefollow.scheduler import roll_up_adherence

    now = clock.now()
    made = [make_patient(session, clock, world.team_a, f"Pasient {i:03d}", None, standard_plan(), world.nurse_a)
            for i in range(24)]
    for patient in made:
        patient.monitoring_since = now - timedelta(days=20)
    session.commit()
    for i, patient in enumerate(made):  # patient i weighs in on (i % 8) of every 8 days
        for back in range(1, 15):
            if back % 8 < i % 8:
                clock.set(now - timedelta(days=back, hours=1))
                _report(session, clock, patient, "weight", {"weight": 68}, f"w{i}-{back}")
    clock.set(now)
    session.commit()
    roll_up_adherence(session.get_bind(), clock)
    _report(session, clock, made[5], "weight", {"weight": 68}, "late", measured_at=now - timedelta(days=2, hours=2))
    session.commit()
    teams = {world.team_a.id}
    full_rows = overview._rows
    for descending in (False, True):
        whole = overview.patient_rows(session, clock, teams, sort="adherence", descending=descending)
        rates = [r.adherence.rate for r in whole if r.adherence.rate is not None]
        assert len(set(rates)) >= 6 and rates == sorted(rates, reverse=descending)
        rows_read: list[int] = []

        def counted(s, c, patients, rows_read=rows_read):
            rows_read.append(len(patients))
            return full_rows(s, c, patients)

        monkeypatch.setattr(overview, "_rows", counted)
        pages = [overview.overview_page(session, clock, teams, sort="adherence", descending=descending, page=n,
                                        page_size=10) for n in (1, 2, 3)]
        monkeypatch.setattr(overview, "_rows", full_rows)
        assert [r for p in pages for r in p.rows] == whole, descending
        assert rows_read == [10, 10, 6]  # full rows for each page's patients only


def test_the_overview_is_paged_with_plain_links_that_keep_the_filters(app, session, clock, world):
    for i in range(55):
        make_patient(session, clock, world.team_a, f"Pasient {i:03d}", None, standard_plan(), world.nurse_a)
    session.commit()
    nurse = _staff(app)
    page = nurse.get("/clinic/patients?q=pasient&sort=name&dir=desc")
    html = page.get_data(as_text=True).replace("&amp;", "&")
    assert len(_rows(html)) == 50 and "1–50" in text_of(page) and "55" in text_of(page)
    link = re.search(r'href="(/clinic/patients\?[^"]*page=2[^"]*)"', html).group(1)
    assert "q=pasient" in link and "sort=name" in link and "dir=desc" in link
    second = nurse.get(link)
    assert [r.split()[2] for r in _rows(second.get_data(as_text=True))] == [f"{i:03d}" for i in range(4, -1, -1)]
    assert "51–55" in text_of(second)
    # The sort links start again at the first page.
    assert "page=" not in re.search(r'href="([^"]*sort=light[^"]*)"', second.get_data(as_text=True)).group(1)


# --- patient page ---------------------------------------------------------------------------------

def test_patient_page_shows_the_essentials_relatives_and_contacts(app, session, clock, world):
    a1 = session.get(Patient, world.patient_a1.id)
    a1.birth_date = date(1944, 5, 1)
    a1.diagnoses = ["Hjertesvikt", "KOLS"]
    a1.gp_name = "Dr. Fastlege"
    a1.frailty_score = 5
    session.add(a1)
    change_plan(session, clock, patient=a1, author_account_id=world.nurse_a.id, reason="contacts",
                content=standard_plan(contacts=[Contact(name="Hjemmesykepleien Nord", role="hjemmesykepleien",
                                                        phone="+4777600000")]), checked=False)
    session.commit()
    page = text_of(_staff(app).get(f"/clinic/patients/{world.patient_a1.id}"))
    assert "81 år" in page and "Hjertesvikt, KOLS" in page and "Dr. Fastlege" in page
    assert "5 – Lett skrøpelig" in page
    assert "Hjemmesykepleien Nord" in page
    # Each relative with a valid grant and exactly what they may do; a revoked one is not listed.
    assert "Marit Datter (datter)" in page and "kan rapportere for pasienten" in page
    assert "Sverre Sønn (sønn)" in page and "kan ikke rapportere" in page
    assert "Rolf Revoked" not in page


def test_patient_page_has_charts_with_limits_and_a_timeline_of_everything(app, session, clock, world):
    _report(session, clock, world.patient_a1, "weight", {"weight": 71}, "w", by=world.relative.id,
            actor_kind="relative")
    alert = session.exec(select(Alert)).one()
    clock.advance(minutes=30)
    alerts.resolve(session, clock, alert.id, world.nurse_a.id, alerts.Outcome.ADVICE_GIVEN, "Ringte, ok.")
    nurse = _staff(app)
    assert nurse.submit(f"/clinic/patients/{world.patient_a1.id}", {"note": "Ringte Astrid, ok etter ny dose."},
                        action=f"/clinic/patients/{world.patient_a1.id}/notes").status_code == 302
    response = nurse.get(f"/clinic/patients/{world.patient_a1.id}")
    html = response.get_data(as_text=True)
    assert html.count("<svg") >= 3  # one chart per planned measurement
    timeline = text_of(response).split("Tidslinje", 1)[1]
    # Newest first: the note, the resolution with its outcome, the alert, the value and who reported it.
    note_at = timeline.index("Ringte Astrid, ok etter ny dose.")
    resolved_at = timeline.index("Varsel lukket")
    value_at = timeline.index("71,0 kg")
    assert note_at < resolved_at < value_at
    assert "Råd gitt" in timeline and "Ringte, ok." in timeline and "datter" in timeline and "Nora Nurse" in timeline


def test_the_timeline_is_limited_with_a_show_more_link(app, session, clock, world):
    for i in range(30):
        clock.advance(minutes=10)
        session.add(PatientNote(patient_id=world.patient_a1.id, author_account_id=world.nurse_a.id,
                                body=f"Notat nummer {i:02d}", created_at=clock.now()))
    session.commit()
    nurse = _staff(app)
    first = nurse.get(f"/clinic/patients/{world.patient_a1.id}").get_data(as_text=True)
    assert "Notat nummer 29" in first and "Notat nummer 04" not in first and "Vis flere" in first
    more = re.search(r'href="([^"]*show=50[^"]*)"', first).group(1).replace("&amp;", "&")
    all_of_them = nurse.get(more).get_data(as_text=True)
    assert "Notat nummer 00" in all_of_them and "Vis flere" not in all_of_them
    assert nurse.get(f"/clinic/patients/{world.patient_a1.id}?show=-5&period=x").status_code == 200


def test_the_message_thread_and_reply_still_work(app, session, world):
    nurse = _staff(app)
    response = nurse.submit(f"/clinic/patients/{world.patient_a1.id}", {"body": "Hei Astrid!"},
                            action=f"/clinic/patients/{world.patient_a1.id}/messages")
    assert response.status_code == 302
    assert session.exec(select(Message)).one().body == "Hei Astrid!"
    assert "Hei Astrid!" in text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))


# --- notes and frailty ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, error", [("   ", "Skriv notatet."),
                                         ("x" * 4001, "Et notat kan være på høyst 4000 tegn.")])
def test_a_bad_note_is_refused_with_the_text_kept(app, session, world, body, error):
    nurse = _staff(app)
    url = f"/clinic/patients/{world.patient_a1.id}"
    response = nurse.submit(url, {"note": body}, action=f"{url}/notes")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert error in text_of(response) and 'aria-invalid="true"' in html and 'href="#note"' in html
    if body.strip():
        assert body in html
    assert session.exec(select(PatientNote)).all() == []


def test_a_note_is_saved_audited_and_shown_with_its_author(app, session, world):
    nurse = _staff(app)
    url = f"/clinic/patients/{world.patient_a1.id}"
    response = nurse.submit(url, {"note": "  Hjemmebesøk avtalt torsdag.  "}, action=f"{url}/notes")
    assert response.status_code == 302
    note = session.exec(select(PatientNote)).one()
    assert note.body == "Hjemmebesøk avtalt torsdag." and note.author_account_id == world.nurse_a.id
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "note.create")).one().object_id == note.id
    page = text_of(nurse.get(url))
    assert "Notatet er lagret." in page and "Hjemmebesøk avtalt torsdag. Nora Nurse" in page


@pytest.mark.parametrize("value", ["12", "0", "abc", "5.5"])
def test_a_bad_frailty_score_is_refused_not_a_500(app, session, world, value):
    nurse = _staff(app)
    url = f"/clinic/patients/{world.patient_a1.id}"
    response = nurse.submit(url, {"score": value}, action=f"{url}/frailty")
    assert response.status_code == 400
    assert "Velg en skår fra 1 til 9" in text_of(response)
    assert session.get(Patient, world.patient_a1.id).frailty_score is None


def test_the_frailty_score_is_set_cleared_and_audited(app, session, world):
    nurse = _staff(app)
    url = f"/clinic/patients/{world.patient_a1.id}"
    assert nurse.submit(url, {"score": "6"}, action=f"{url}/frailty").status_code == 302
    assert session.get(Patient, world.patient_a1.id).frailty_score == 6
    page = nurse.get(url).get_data(as_text=True)
    assert re.search(r'<option selected value="6">|<option value="6" selected', page)
    assert nurse.submit(url, {"score": ""}, action=f"{url}/frailty").status_code == 302
    session.expire_all()
    assert session.get(Patient, world.patient_a1.id).frailty_score is None
    changes = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.frailty")
                           .order_by(AuditEvent.id)).all()
    assert [(c.detail["previous"], c.detail["score"]) for c in changes] == [(None, 6), (6, None)]


# --- access -------------------------------------------------------------------------------------------

def test_staff_of_another_team_see_none_of_these_patients(app, session, world):
    other = _staff(app, "nurse.b@example.no")
    overview_page = other.get("/clinic/patients").get_data(as_text=True)
    assert "Astrid" not in overview_page and "Arne" not in overview_page and "Bjørn B1" in overview_page
    url = f"/clinic/patients/{world.patient_a1.id}"
    for path in (url, f"{url}/audit", f"{url}?show=50"):
        response = other.get(path)
        assert response.status_code == 404 and "Astrid" not in response.get_data(as_text=True)
    token = other.csrf_token("/clinic/patients")
    assert other.client.post(f"{url}/notes", data={"csrf_token": token, "note": "x"}).status_code == 404
    assert other.client.post(f"{url}/frailty", data={"csrf_token": token, "score": "3"}).status_code == 404
    assert session.exec(select(PatientNote)).all() == []
    assert session.get(Patient, world.patient_a1.id).frailty_score is None
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.nurse_b.id)).all()
    assert len(denied) == 5 and {d.patient_id for d in denied} == {world.patient_a1.id}


def test_a_nurse_without_the_role_gets_a_clear_403_on_the_audit_view(app, session, world):
    nurse = _staff(app)
    assert "Hvem har sett på eller endret" not in text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))
    response = nurse.get(f"/clinic/patients/{world.patient_a1.id}/audit")
    assert response.status_code == 403
    assert "Bare teamets administratorer og koordinatorer" in text_of(response)
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert refused.detail["attempted"] == "view.audit" and refused.patient_id == world.patient_a1.id


def test_a_coordinator_sees_who_looked_and_changed_in_words_and_oslo_time_paged(app, session, clock, world):
    url = f"/clinic/patients/{world.patient_a1.id}"
    _staff(app).get(url)  # Nora looks at the page at 09:00 in Oslo
    for _ in range(55):
        audit.record(session, clock, actor_account_id=world.nurse_a.id, actor_kind="staff", action="view.alert",
                     patient_id=world.patient_a1.id)
    session.commit()
    admin = _staff(app, "admin.a@example.no")
    assert "Hvem har sett på eller endret" in text_of(admin.get(url))
    first = admin.get(f"{url}/audit")
    assert first.status_code == 200
    page = text_of(first)
    assert "Åpnet tilgangsloggen" in page and "Ada Admin" in page and "Åpnet et varsel" in page
    assert "kl. 09:00" in page  # 08:00 UTC
    assert "Side 1 av 2" in page and len(_rows(first.get_data(as_text=True))) == 50
    last = text_of(admin.get(f"{url}/audit?page=2"))
    assert "Åpnet pasientsiden" in last and "Nora Nurse" in last
    assert admin.get(f"{url}/audit?page=999").status_code == 200
    views = session.exec(select(AuditEvent).where(AuditEvent.action == "view.audit")).all()
    assert {v.actor_account_id for v in views} == {world.admin_a.id} and len(views) == 3
