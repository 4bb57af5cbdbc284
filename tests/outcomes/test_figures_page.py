"""The figures page and its CSV files: service use before/after, alert burden, response times,
outcomes, adherence and caseload, checked against numbers worked out by hand; and who may see them."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, timedelta

import pytest
from sqlmodel import select

from homefollow.models import Alert, AuditEvent, PlanTemplate
from homefollow.services import plan_templates
from homefollow.services.audit import Actor
from homefollow.outcomes.service_figures import AlertTimes, burden, followed_days, nearest_rank, response_times
from tests.conftest import T0
from tests.webclient import WebClient, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

M = timedelta(minutes=1)


def test_percentiles_by_nearest_rank():
    assert nearest_rank([], 90) is None
    assert nearest_rank([5, 1, 3], 90) == 5  # rank ceil(2.7) = 3
    assert nearest_rank([5, 1, 3], 50) == 3  # rank ceil(1.5) = 2
    assert nearest_rank(list(range(10, 101, 10)), 90) == 90  # rank 9 of 10
    assert nearest_rank(list(range(10, 111, 10)), 90) == 100  # rank ceil(9.9) = 10 of 11


def _times(severity, ack=None, resolved=None, rule="r", outcome=None):
    return AlertTimes(rule, severity, T0, T0 + ack * M if ack is not None else None,
                      T0 + resolved * M if resolved is not None else None, outcome)


def test_time_to_acknowledge_and_resolve_by_severity():
    alerts = [_times("red", 5, 120), _times("red", 10), _times("red", 30), _times("red", None, 60), _times("red"),
              _times("yellow", 200)]
    rows = {(r.severity, r.measure): r for r in response_times(alerts)}
    red_ack = rows[("red", "acknowledge")]
    # Acknowledged after 5, 10, 30 and (resolved without acknowledging) 60 minutes; one waits.
    assert (red_ack.alerts, red_ack.waiting, red_ack.median_minutes, red_ack.p90_minutes) == (5, 1, 20, 60)
    red_resolve = rows[("red", "resolve")]
    # Resolved after 120 and 60 minutes: median 90, 90th percentile rank ceil(1.8) = 2 -> 120.
    assert (red_resolve.waiting, red_resolve.median_minutes, red_resolve.p90_minutes) == (3, 90, 120)
    assert (rows[("yellow", "acknowledge")].median_minutes, rows[("yellow", "resolve")].median_minutes) == (200, None)


def test_alert_burden_per_patient_week():
    # Period 8 Feb – 9 Mar (30 days): one patient all of it, one from 26 Feb (12 days) = 42 days = 6 weeks.
    days = followed_days([date(2025, 11, 30), date(2026, 2, 26)], date(2026, 2, 8), date(2026, 3, 10))
    assert days == 42
    alerts = [_times("yellow", rule="a"), _times("red", rule="b"), _times("yellow", rule="a"),
              _times("yellow", rule="a")]
    assert burden(alerts, days) == [("a", 3, 0.5), ("b", 1, 1 / 6)]
    assert burden([], 0) == []


# --- the page -------------------------------------------------------------------------------------

_SHORT_CODES = itertools.count(1)  # unique across the module's tests, as the alerts' codes must be


def _alert(session, patient, rule, severity, opened, *, ack=None, resolved=None, outcome=None):
    n = next(_SHORT_CODES)
    alert = Alert(patient_id=patient.id, team_id=patient.team_id, rule_key=rule, severity=severity,
                  status="resolved" if resolved is not None else "acknowledged" if ack is not None else "open",
                  short_code=f"F{n:05d}", title={"nb": f"Regel {rule}", "en": f"Rule {rule}"},
                  opened_at=opened, severity_since=opened, last_seen_at=opened,
                  acknowledged_at=opened + ack * M if ack is not None else None,
                  resolved_at=opened + resolved * M if resolved is not None else None, outcome=outcome)
    session.add(alert)
    return alert


def service_world(session, clock, world):
    """A1 followed for 100 days, A2 for 12; alerts over the last 30 days (and two that do not count)."""
    a1, a2 = world.patient_a1, world.patient_a2
    a1.monitoring_since = T0 - timedelta(days=100)  # included 30 Nov 2025
    a2.monitoring_since = T0 - timedelta(days=12)  # 26 Feb 2026
    session.add_all([a1, a2])
    day = T0 - timedelta(days=5)
    # A resolution without acknowledging is also a first response: 60 minutes.
    _alert(session, a1, "copd.spo2_low", "yellow", day, ack=10, resolved=100, outcome="advice_given")
    _alert(session, a1, "copd.spo2_low", "yellow", day + timedelta(days=1), ack=30)
    _alert(session, a2, "copd.spo2_low", "yellow", day + timedelta(days=2))
    _alert(session, a2, "general.bp_red", "red", day, resolved=60, outcome="admitted")
    _alert(session, a1, "general.bp_red", "red", T0 - timedelta(days=40), ack=1)  # before the period
    _alert(session, world.patient_b1, "copd.spo2_low", "red", day, ack=1)  # another team
    session.commit()


def _staff(app, email):
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def _csv(response) -> dict[str, dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    return {next(iter(r.values())): r for r in rows}


def _record(client, patient_id, kind, start, end="", acute="yes"):
    url = f"/clinic/patients/{patient_id}/service-use"
    response = client.submit(url, {"kind": kind, "start": start, "end": end, "acute": acute}, action=url)
    assert response.status_code == 302, text_of(response)


def test_the_figures_page_and_its_csv_files(app, session, clock, world):
    service_world(session, clock, world)
    client = _staff(app, "nurse.a@example.no")
    a1 = world.patient_a1.id
    # Before A1's inclusion (30 Nov 2025): 5 nights and a legevakt contact; after: 3 nights.
    _record(client, a1, "admission", "01.10.2025", "06.10.2025")
    _record(client, a1, "emergency", "2025-11-01")
    _record(client, a1, "admission", "10.01.2026", "13.01.2026")

    page = text_of(client.get(f"/clinic/figures?team={world.team_a.id}&days=30"))
    assert "2 pasienter valgt." in page
    assert "1 av dem har ingen historikk" in page  # A2: nothing imported or recorded

    base = f"team={world.team_a.id}&days=30"
    outcomes = _csv(client.get(f"/clinic/figures/outcomes.csv?{base}"))
    # Before: 250 days = 0.68 patient-years, 1 admission = 1.46 per patient-year. After: 100 days
    # = 0.27 patient-years, 1 admission = 3.65; the rate is 2.5 times: +150 %.
    assert outcomes["acute_admissions"] == {
        "measure": "acute_admissions", "before_total": "1", "before_patients": "1", "before_patient_years": "0.68",
        "before_per_patient_year": "1.46", "before_rate": "", "after_total": "1", "after_patients": "1",
        "after_patient_years": "0.27", "after_per_patient_year": "3.65", "after_rate": "", "change": "150.0"}
    assert (outcomes["bed_days"]["before_total"], outcomes["bed_days"]["after_total"]) == ("5", "3")
    assert (outcomes["emergency_contacts"]["before_total"], outcomes["emergency_contacts"]["after_total"]) == ("1", "0")
    # Each discharge is followed by no acute admission within 30 days: 0 of 1, before and after.
    assert (outcomes["readmission_30d"]["before_total"], outcomes["readmission_30d"]["after_rate"]) == ("0/1", "0.0")

    burden = _csv(client.get(f"/clinic/figures/alert_burden.csv?{base}"))
    # 30 days for A1 + 12 for A2 = 6 patient-weeks; 3 and 1 alerts.
    assert burden["copd.spo2_low"] == {"rule": "copd.spo2_low", "alerts": "3", "patient_weeks": "6.0",
                                       "per_patient_week": "0.500"}
    assert burden["general.bp_red"]["per_patient_week"] == "0.167"
    times = {(r["severity"], r["measure"]): r for r in csv.DictReader(io.StringIO(
        client.get(f"/clinic/figures/response_times.csv?{base}").get_data(as_text=True)))}
    assert times[("yellow", "acknowledge")] == {"severity": "yellow", "measure": "acknowledge", "alerts": "3",
                                                "waiting": "1", "median_minutes": "20.0", "p90_minutes": "30.0"}
    assert times[("red", "acknowledge")]["median_minutes"] == "60.0"
    assert (times[("yellow", "resolve")]["waiting"], times[("yellow", "resolve")]["p90_minutes"]) == ("2", "100.0")
    outcomes_of_alerts = _csv(client.get(f"/clinic/figures/alert_outcomes.csv?{base}"))
    assert {k: (v["alerts"], v["share"]) for k, v in outcomes_of_alerts.items()} == \
        {"admitted": ("1", "50.0"), "advice_given": ("1", "50.0")}
    # The standard plan asks for 4 measurements a day: 30 days for A1 = 120 (A2 measures when
    # needed: nothing is expected of him); none done.
    adherence = _csv(client.get(f"/clinic/figures/adherence.csv?{base}"))
    assert adherence["measurement"] == {"kind": "measurement", "expected": "120", "done": "0", "rate": "0.0"}
    caseload = _csv(client.get(f"/clinic/figures/caseload.csv?{base}"))
    assert caseload["Team A"] == {"team": "Team A", "patients": "2", "nurses": "1", "per_nurse": "2.0",
                                  "benchmark": "80"}

    html = client.get(f"/clinic/figures?{base}").get_data(as_text=True)
    assert html.count('role="img"') == 10  # 5 before/after charts and 5 service charts
    assert "Regel copd.spo2_low" in html and "0,500" in html
    events = session.exec(select(AuditEvent).where(AuditEvent.action.in_(["view.figures", "export.figures"]))).all()
    assert {e.action for e in events} == {"view.figures", "export.figures"}
    assert all(e.detail["team"] == world.team_a.id and e.detail["patients"] == 2 for e in events)


def test_the_same_figures_for_one_patient_and_by_plan_template(app, session, clock, world):
    service_world(session, clock, world)
    client = _staff(app, "nurse.a@example.no")
    _record(client, world.patient_a1.id, "admission", "01.10.2025", "06.10.2025")
    page = text_of(client.get(f"/clinic/patients/{world.patient_a1.id}"))
    assert "Bruk av tjenester" in page and "Sengedøgn" in page
    assert "Ingen historikk for tjenestebruk" in text_of(client.get(f"/clinic/patients/{world.patient_a2.id}"))
    own = _csv(client.get(f"/clinic/patients/{world.patient_a1.id}/figures.csv"))
    assert (own["bed_days"]["before_total"], own["bed_days"]["before_patients"]) == ("5", "1")

    # A2's plan is started from the shared COPD template; only A2 is in that cohort.
    plan_templates.sync_defaults(session, clock)
    template = session.exec(select(PlanTemplate).where(PlanTemplate.team_id.is_(None))).first()
    plan_templates.start_from_template(session, clock, patient=world.patient_a2, template=template,
                                       actor=Actor(world.nurse_a.id, "staff"), reason="Start fra mal", expected_version=1)
    burden = _csv(client.get(f"/clinic/figures/alert_burden.csv?template={template.id}&days=30"))
    # A2 alone: 12 days = 1.7 weeks; one spo2 alert and one bp alert.
    assert {k: v["alerts"] for k, v in burden.items()} == {"copd.spo2_low": "1", "general.bp_red": "1"}
    assert burden["copd.spo2_low"]["patient_weeks"] == "1.7"


def test_staff_of_another_team_get_nothing(app, session, clock, world):
    service_world(session, clock, world)
    other = _staff(app, "nurse.b@example.no")
    a_team = world.team_a.id
    for url in (f"/clinic/figures?team={a_team}", f"/clinic/figures/outcomes.csv?team={a_team}",
                f"/clinic/patients/{world.patient_a1.id}/service-use",
                f"/clinic/patients/{world.patient_a1.id}/figures.csv", f"/clinic/patients/{world.patient_a1.id}/fhir"):
        response = other.get(url)
        assert response.status_code == 404, url
        assert "Astrid" not in response.get_data(as_text=True)
    team_template = PlanTemplate(team_id=a_team, key="own", name="Team A sin mal", content={}, created_at=T0,
                                 updated_at=T0)
    session.add(team_template)
    session.commit()
    assert other.get(f"/clinic/figures?template={team_template.id}").status_code == 404
    # Their own figures count only their own team's alerts (B1's one red alert).
    burden = _csv(other.get("/clinic/figures/alert_burden.csv?days=30"))
    assert {k: v["alerts"] for k, v in burden.items()} == {"copd.spo2_low": "1"}
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert len(denied) == 6
    assert {e.detail["attempted"] for e in denied} >= {"view.figures", "export.figures", "export.fhir"}
