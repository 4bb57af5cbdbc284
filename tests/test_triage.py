"""The nurse's triage queue: order, filters, counts, assigning, acknowledging a selection, and
that the page runs a fixed number of queries however long the queue is."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import select

from homefollow.models import Alert, AlertEvent, AuditEvent, Organisation, Patient
from homefollow.services import triage
from tests.factories import make_patient
from tests.webclient import WebClient, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

_codes = itertools.count(1)


def make_alert(session, clock, patient, severity="yellow", *, minutes_ago=10, title=None, **kw) -> Alert:
    at = clock.now() - timedelta(minutes=minutes_ago)
    n = next(_codes)
    title = title or f"{severity} {n}"
    alert = Alert(patient_id=patient.id, team_id=patient.team_id, rule_key=f"rule.{n}", title={"nb": title, "en": title},
                  severity=severity, short_code=f"T{n:05d}", opened_at=at, severity_since=at, last_seen_at=at,
                  value_text={"nb": "86%", "en": "86%"}, threshold_text={"nb": "< 88%", "en": "< 88%"},
                  explanation={"nb": f"Forklaring {n}", "en": f"Explanation {n}"}, **kw)
    session.add(alert)
    session.commit()
    return alert


def nurse_client(app, email="nurse.a@example.no") -> WebClient:
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def test_red_comes_before_yellow_then_the_longest_waiting_first(app, session, clock, world):
    old_yellow = make_alert(session, clock, world.patient_a1, "yellow", minutes_ago=300, title="Gammel gul")
    new_red = make_alert(session, clock, world.patient_a2, "red", minutes_ago=5, title="Ny rød")
    old_red = make_alert(session, clock, world.patient_a1, "red", minutes_ago=50, title="Gammel rød")
    new_yellow = make_alert(session, clock, world.patient_a2, "yellow", minutes_ago=20, title="Ny gul")
    make_alert(session, clock, world.patient_b1, "red", minutes_ago=500, title="Annet team")
    queue = text_of(nurse_client(app).get("/clinic/"))
    positions = [queue.index(t) for t in ("Gammel rød", "Ny rød", "Gammel gul", "Ny gul")]
    assert positions == sorted(positions)
    assert "Annet team" not in queue
    assert "Rød: 2" in queue and "Gul: 2" in queue
    assert "Forklaring" in queue and "5 timer" in queue  # the explanation and how long it waited
    ids = [r.alert.id for r in triage.load_queue(session, clock, team_ids={world.team_a.id},
                                                 account_id=world.nurse_a.id, filters=triage.QueueFilters()).rows]
    assert ids == [old_red.id, new_red.id, old_yellow.id, new_yellow.id]


def test_filters_narrow_the_rows_and_the_counts_follow_the_team_and_municipality(app, session, clock, world):
    tromso = Organisation(name="Tromsø kommune", kind="municipality", created_at=clock.now())
    balsfjord = Organisation(name="Balsfjord kommune", kind="municipality", created_at=clock.now())
    session.add_all([tromso, balsfjord])
    session.flush()
    a1, a2 = session.get(Patient, world.patient_a1.id), session.get(Patient, world.patient_a2.id)
    a1.municipality_id, a2.municipality_id = tromso.id, balsfjord.id
    session.commit()
    make_alert(session, clock, a1, "red", title="Tromsø rød")
    make_alert(session, clock, a1, "yellow", title="Tromsø gul")
    make_alert(session, clock, a2, "yellow", title="Balsfjord gul", assigned_to_account_id=world.nurse_a.id)
    make_alert(session, clock, a2, "yellow", title="Balsfjord kvittert", status="acknowledged",
               acknowledged_by_account_id=world.admin_a.id, acknowledged_at=clock.now())
    nurse = nurse_client(app)

    page = text_of(nurse.get(f"/clinic/?municipality={tromso.id}"))
    assert "Tromsø rød" in page and "Tromsø gul" in page and "Balsfjord" not in page.split("Last inn køen på nytt")[1]
    assert "Rød: 1" in page and "Gul: 1" in page

    page = text_of(nurse.get("/clinic/?severity=red"))
    assert "Tromsø rød" in page and "Tromsø gul" not in page
    assert "Rød: 1" in page and "Gul: 3" in page  # counts always show the whole scope

    page = text_of(nurse.get("/clinic/?status=mine"))
    assert "Balsfjord gul" in page and "Tromsø" not in page.split("Last inn køen på nytt")[1]
    page = text_of(nurse.get("/clinic/?status=acknowledged"))
    assert "Balsfjord kvittert" in page and "Kvittert av Ada Admin" in page and "Tromsø gul" not in page

    # Another team's id in the address is ignored: it shows the user's own queue, not theirs.
    make_alert(session, clock, world.patient_b1, "red", title="Annet team")
    page = text_of(nurse.get(f"/clinic/?team={world.team_b.id}"))
    assert "Annet team" not in page and "Tromsø rød" in page and "ble ikke gjenkjent" in page


def test_bad_filter_values_never_break_the_page(app, session, clock, world):
    make_alert(session, clock, world.patient_a1, "red", title="Rød")
    nurse = nurse_client(app)
    for query in ("team=abc", "municipality=" + "9" * 30, "severity=<script>", "status=all&status=x",
                  "team=-1&municipality=1.5"):
        response = nurse.get(f"/clinic/?{query}")
        assert response.status_code == 200, query
        assert "Rød" in text_of(response)
    # A control character is never typed, only crafted: the one input guard refuses it with a
    # page that says what is wrong and links back to the queue (homefollow/input_guard.py).
    crafted = nurse.get("/clinic/?severity=%00")
    assert crafted.status_code == 400
    assert "tegn som ikke kan brukes" in text_of(crafted)


def test_a_nurse_assigns_an_alert_to_herself_and_to_a_colleague_but_not_outside_the_team(app, session, clock, world):
    alert = make_alert(session, clock, world.patient_a1, "red")
    alert_id = alert.id
    nurse = nurse_client(app)
    done = nurse.submit("/clinic/", {"assignee": "me"}, action=f"/clinic/alerts/{alert_id}/assign",
                        follow_redirects=True)
    assert "Varselet er tildelt deg." in text_of(done)
    session.expire_all()
    assert session.get(Alert, alert_id).assigned_to_account_id == world.nurse_a.id
    assert "Nora Nurse" in text_of(nurse.get("/clinic/?status=mine"))

    done = nurse.submit(f"/clinic/alerts/{alert_id}", {"assignee": str(world.admin_a.id)},
                        action=f"/clinic/alerts/{alert_id}/assign", follow_redirects=True)
    assert "Varselet er tildelt Ada Admin." in text_of(done)
    session.expire_all()
    assert session.get(Alert, alert_id).assigned_to_account_id == world.admin_a.id
    assert session.get(Alert, alert_id).assigned_at == clock.now()

    refused = nurse.submit(f"/clinic/alerts/{alert_id}", {"assignee": str(world.nurse_b.id)},
                           action=f"/clinic/alerts/{alert_id}/assign", follow_redirects=True)
    assert "kan bare tildeles noen i pasientens team" in text_of(refused)
    for bad in ("abc", "", "9" * 40):
        response = nurse.submit(f"/clinic/alerts/{alert_id}", {"assignee": bad},
                                action=f"/clinic/alerts/{alert_id}/assign")
        assert response.status_code == 302
    session.expire_all()
    assert session.get(Alert, alert_id).assigned_to_account_id == world.admin_a.id

    events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id, AlertEvent.kind == "assigned")
                          .order_by(AlertEvent.id)).all()
    assert [(e.actor_account_id, e.data["assignee_account_id"]) for e in events] == [
        (world.nurse_a.id, world.nurse_a.id), (world.nurse_a.id, world.admin_a.id)]
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "alert.assigned")).all()
    assert [(a.object_id, a.patient_id) for a in audited] == [(alert_id, world.patient_a1.id)] * 2
    log = text_of(nurse.get(f"/clinic/alerts/{alert_id}"))
    # Each name once, in a sentence (it read "Tildelt – Nora Nurse: Nora Nurse").
    assert "Nora Nurse tok varselet" in log and "Tildelt Ada Admin av Nora Nurse" in log
    assert "Nora Nurse: Nora Nurse" not in log and "Send melding til pasienten" in log


def test_acknowledge_the_selected_yellow_alerts_one_event_and_audit_each_never_red(app, session, clock, world):
    y1 = make_alert(session, clock, world.patient_a1, "yellow")
    y2 = make_alert(session, clock, world.patient_a2, "yellow")
    y3 = make_alert(session, clock, world.patient_a2, "yellow")
    red = make_alert(session, clock, world.patient_a1, "red")
    ids = {"y1": y1.id, "y2": y2.id, "y3": y3.id, "red": red.id}
    nurse = nurse_client(app)
    html = nurse.get("/clinic/").get_data(as_text=True)
    assert f'name="alert_id" value="{ids["y1"]}"' in html and f'name="alert_id" value="{ids["red"]}"' not in html

    done = nurse.submit("/clinic/", {"alert_id": [str(ids["y1"]), str(ids["y2"]), str(ids["red"])]},
                        action="/clinic/alerts/acknowledge-selected", follow_redirects=True)
    page = text_of(done)
    assert "2 varsler kvittert." in page
    assert "1 rødt varsel ble ikke kvittert" in page
    session.expire_all()
    status = {k: session.get(Alert, i).status for k, i in ids.items()}
    assert status == {"y1": "acknowledged", "y2": "acknowledged", "y3": "open", "red": "open"}
    acked = session.exec(select(AlertEvent.alert_id).where(AlertEvent.kind == "acknowledged")).all()
    assert sorted(acked) == sorted([ids["y1"], ids["y2"]])
    audited = session.exec(select(AuditEvent.object_id).where(AuditEvent.action == "alert.acknowledged")).all()
    assert sorted(audited) == sorted([ids["y1"], ids["y2"]])

    # Sent again (a double click): nothing changes twice.
    again = nurse.submit("/clinic/", {"alert_id": [str(ids["y1"])]}, action="/clinic/alerts/acknowledge-selected",
                         follow_redirects=True)
    assert "allerede kvittert eller avsluttet" in text_of(again)
    assert len(session.exec(select(AlertEvent).where(AlertEvent.kind == "acknowledged")).all()) == 2

    for bad in ([], ["abc"], ["9" * 40], ["-1"]):
        response = nurse.submit("/clinic/", {"alert_id": bad}, action="/clinic/alerts/acknowledge-selected",
                                follow_redirects=True)
        assert response.status_code == 200 and "Kryss av de gule varslene" in text_of(response)


def test_staff_of_another_team_see_nothing_and_cannot_act(app, session, clock, world):
    yellow = make_alert(session, clock, world.patient_a1, "yellow", title="Team A gul")
    mine = make_alert(session, clock, world.patient_b1, "yellow", title="Team B gul")
    yellow_id, mine_id = yellow.id, mine.id
    other = nurse_client(app, "nurse.b@example.no")
    page = text_of(other.get(f"/clinic/?team={world.team_a.id}"))
    assert "Team A gul" not in page and "Astrid" not in page and "Team B gul" in page
    token = other.csrf_token("/clinic/")
    response = other.client.post(f"/clinic/alerts/{yellow_id}/assign", data={"csrf_token": token, "assignee": "me"})
    assert response.status_code == 404
    response = other.client.post("/clinic/alerts/acknowledge-selected",
                                 data={"csrf_token": token, "alert_id": [str(mine_id), str(yellow_id)]})
    assert response.status_code == 404
    session.expire_all()
    for alert_id in (yellow_id, mine_id):  # all or nothing: not even B's own alert was touched
        alert = session.get(Alert, alert_id)
        assert (alert.status, alert.assigned_to_account_id) == ("open", None)
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.nurse_b.id)).all()
    assert {d.patient_id for d in denied} == {world.patient_a1.id}


def test_the_escalation_step_is_read_from_the_alert():
    policy = {"steps": [{}, {}, {}]}
    assert triage.escalation_step(Alert(escalation_policy=None)).kind == "none"
    assert triage.escalation_step(Alert(escalation_policy=policy)).kind == "waiting"
    state = {"started": True, "current": {"slot": "s1", "round": 0, "step_index": 1}}
    assert triage.escalation_step(Alert(escalation_policy=policy, escalation_state=state)) == \
        triage.EscalationStep("step", step=2, steps=3, round=1)
    state = {"started": True, "current": {"slot": "s0fb", "round": 1, "step_index": 0}}
    assert triage.escalation_step(Alert(escalation_policy=policy, escalation_state=state)).kind == "fallback"
    assert triage.escalation_step(Alert(escalation_policy=policy, escalation_state={"started": True,
                                                                                    "exhausted": True})).kind == "done"


def test_the_queue_runs_the_same_few_queries_for_10_or_80_alerts(app, session, clock, world, count_queries):
    org = Organisation(name="Tromsø kommune", kind="municipality", created_at=clock.now())
    session.add(org)
    session.commit()
    patients = [make_patient(session, clock, world.team_a, f"Pasient {i:02d}", None) for i in range(80)]
    for p in patients:
        p.municipality_id = org.id
    session.commit()

    def add_alerts(chosen):
        for i, p in enumerate(chosen):
            make_alert(session, clock, p, "red" if i % 3 == 0 else "yellow", minutes_ago=i + 1,
                       **({"status": "acknowledged", "acknowledged_by_account_id": world.admin_a.id,
                           "acknowledged_at": clock.now()} if i % 4 == 0 else {}),
                       **({"assigned_to_account_id": world.nurse_a.id} if i % 5 == 0 else {}))

    nurse = nurse_client(app)
    add_alerts(patients[:10])
    nurse.get("/clinic/")  # warm up (first-use queries of the connection)
    with count_queries() as with_10:
        assert nurse.get("/clinic/").status_code == 200
    add_alerts(patients[10:])
    with count_queries() as with_80:
        assert nurse.get("/clinic/").status_code == 200
    assert text_of(nurse.get("/clinic/")).count("Pasient") >= triage.PAGE_SIZE  # 80 alerts: the first page
    assert len(with_80) == len(with_10), with_80
    assert len(with_80) <= 12  # paging added one statement: the count of the filtered selection


def test_the_queue_is_paged_red_first_and_says_what_waits_on_other_pages(app, session, clock, world):
    """60 yellow alerts older than 55 red ones: the reds fill page 1 and start page 2, and every
    page counts the alerts it does not show, per severity."""
    for i in range(60):
        make_alert(session, clock, world.patient_a1, "yellow", minutes_ago=600 + i)
    for i in range(55):
        make_alert(session, clock, world.patient_a2, "red", minutes_ago=10 + i)
    first = triage.load_queue(session, clock, team_ids={world.team_a.id}, account_id=world.nurse_a.id,
                              filters=triage.QueueFilters())
    assert (first.page, first.pages, first.first, first.last) == (1, 3, 1, 50)
    assert {r.alert.severity for r in first.rows} == {"red"} and first.elsewhere == {"red": 5, "yellow": 60}
    second = triage.load_queue(session, clock, team_ids={world.team_a.id}, account_id=world.nurse_a.id,
                               filters=triage.QueueFilters(), page=2)
    assert [r.alert.severity for r in second.rows] == ["red"] * 5 + ["yellow"] * 45
    assert second.elsewhere == {"red": 50, "yellow": 15} and second.counts == {"red": 55, "yellow": 60}
    pages = [triage.load_queue(session, clock, team_ids={world.team_a.id}, account_id=world.nurse_a.id,
                               filters=triage.QueueFilters(), page=n).rows for n in (1, 2, 3)]
    assert len({r.alert.id for rows in pages for r in rows}) == 115  # every alert on exactly one page
    # The page: plain links keep the filters; the counts of the other pages are on the page.
    nurse = nurse_client(app)
    page = nurse.get("/clinic/?status=open&page=2")
    html, text = page.get_data(as_text=True).replace("&amp;", "&"), text_of(page)
    assert "51–100" in text and "115" in text and "50" in text and "15" in text
    assert 'href="/clinic/?status=open&page=3"' in html and 'href="/clinic/?status=open&page=1"' in html
    assert nurse.get("/clinic/?page=999").status_code == 200 and nurse.get("/clinic/?page=x").status_code == 200
    # A filtered selection is paged on its own count.
    reds = triage.load_queue(session, clock, team_ids={world.team_a.id}, account_id=world.nurse_a.id,
                             filters=triage.QueueFilters(severity="red"), page=2)
    assert len(reds.rows) == 5 and reds.elsewhere == {"red": 50, "yellow": 0}
