"""Route x principal matrix (issue 19), generated from `app.url_map`: every principal who may not
see patient B's data, on every route, with the URL's ids taken from a world where B's data
exists. Nobody gets a 200 with B's data, nobody gets a 5xx, and the API stores nothing for B.

A route added later is in the matrix without anyone remembering to add it. A second test walks
the same map and fails for any route that reads patient data without an audit record.

Builds on tests/factories.py (`build_world`: team B's nurse Berit and patient Bjørn B1) and
tests/test_access.py (which sweeps team A's ids with a nurse of team B); here B is the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from homefollow.models import (Alert, AuditEvent, Message, Organisation, PlanTemplate, Report, ServicePerson,
                               ServiceUse)
from homefollow.outcomes import entry
from homefollow.outcomes_cli import person_secret
from homefollow.services import api_tokens, reporting
from homefollow.services.audit import Actor
from homefollow.services.hospital_stays import identify_patient
from tests.factories import PASSWORD, grant, make_account, make_staff, standard_plan
from tests.webclient import WebClient

B1_LOCAL = "5559999"
# Text that only B's data contains. The name is B's data for everyone but a relative who may
# report for B (who knows whom they help); what B measured and wrote is B's data for everyone.
B_NAME_MARKERS = ("Bjørn B1", "910\u00a000\u00a0003", "+4791000003", "Berit Nurse", "Bodil Kandidat",
                  "Team B sin mal")
B_DATA_MARKERS = ("Hemmelig melding fra Bjørn", "83,7", "83.7")
OBSERVATION = {"id": "matrix-obs", "patient": {"local_id": B1_LOCAL}, "measured_at": "2026-03-10T08:55:00+01:00",
               "item": "pulse", "values": {"pulse": 72}}
ADMISSION = {"id": "matrix-adm", "patient": {"local_id": B1_LOCAL}, "admitted_at": "2026-03-10T09:00:00+01:00"}


@dataclass
class Principal:
    name: str
    client: WebClient
    headers: dict
    markers: tuple[str, ...]
    may: frozenset[str] = frozenset()  # endpoints this principal may legitimately use for B


def _b_world(app, session, clock, world) -> dict:
    """B's data, one of each kind a URL can name, and the ids to put in the URLs."""
    b1, nurse_b = world.patient_b1, world.nurse_b
    outcome = reporting.report_measurement(session, clock, patient=b1, item_key="weight", values={"weight": 83.7},
                                           idempotency_key="matrix-b1-weight", reported_by_account_id=b1.account_id,
                                           actor_kind="patient")
    reporting.report_measurement(session, clock, patient=b1, item_key="spo2", values={"spo2": 80},
                                 idempotency_key="matrix-b1-spo2", reported_by_account_id=b1.account_id,
                                 actor_kind="patient")
    alert = session.exec(select(Alert).where(Alert.patient_id == b1.id)).first()
    session.add(Message(patient_id=b1.id, author_account_id=b1.account_id, from_team=False,
                        body="Hemmelig melding fra Bjørn", created_at=clock.now()))
    template = PlanTemplate(team_id=world.team_b.id, key="team-b-only", name="Team B sin mal",
                            content=standard_plan().model_dump(mode="json"), created_at=clock.now(),
                            updated_at=clock.now())
    person = ServicePerson(team_id=world.team_b.id, person_key="local:UNN:b", name="Bodil Kandidat",
                           created_at=clock.now(), updated_at=clock.now())
    session.add_all([template, person])
    session.commit()
    with app.app_context():
        secret = person_secret()
    identify_patient(session, clock, patient_id=b1.id, source="UNN", local_id=B1_LOCAL, national_id=None,
                     secret=secret)
    use = entry.add(session, clock, patient=b1, entry=entry.Entry("admission", date(2026, 3, 1), date(2026, 3, 3)),
                    today=date(2026, 3, 10), actor=Actor(nurse_b.id, "staff"))
    return {"patient_id": b1.id, "alert_id": alert.id if alert else 1, "report_id": outcome.report.id,
            "person_id": person.id, "team_id": world.team_b.id, "account_id": nurse_b.id,
            "template_id": template.id, "use_id": use.id, "item_key": "weight", "key": "cat", "step": 1,
            "section": "goals", "secret": "not-the-secret", "token": "not-a-token", "filename": "css/app.css"}


def _url(rule, values: dict) -> str:
    url = rule.rule
    for name in rule.arguments:
        for pattern in (f"<int:{name}>", f"<path:{name}>", f"<{name}>"):
            url = url.replace(pattern, str(values[name]))
    return url


def _relative_of_b(app, session, clock, world, login, name, **grant_kw) -> WebClient:
    account = make_account(session, clock, "relative", login, name, phone=login)
    account.password_hash = world.relative.password_hash
    grant(session, clock, world.patient_b1, account, "venn", **grant_kw)
    session.commit()
    client = WebClient(app.test_client())
    client.login_patient(login)
    with client.client.session_transaction() as s:  # chosen before the grant ended: a stale choice
        s["acting_patient_id"] = world.patient_b1.id
    return client


def _principals(app, session, clock, world) -> list[Principal]:
    every = B_NAME_MARKERS + B_DATA_MARKERS
    anonymous = WebClient(app.test_client())
    patient_a = WebClient(app.test_client())
    patient_a.login_patient("+4791000001")
    revoked = _relative_of_b(app, session, clock, world, "+4791000021", "Rita Revoked", revoked=True)
    expired = _relative_of_b(app, session, clock, world, "+4791000022", "Egil Expired",
                             valid_until=clock.now() + timedelta(minutes=1))
    report_only = _relative_of_b(app, session, clock, world, "+4791000023", "Reidun Reporter", can_view=False,
                                 can_report=True)
    clock.advance(minutes=2)  # Egil's grant has ended
    nurse_a = WebClient(app.test_client())
    nurse_a.login_staff("nurse.a@example.no")
    half = WebClient(app.test_client())  # B's own nurse, password done, no code yet
    assert half.submit("/clinic/login", {"email": "nurse.b@example.no", "password": PASSWORD}).status_code == 302

    # API tokens: one of B's own hospital without the encounters scope, one of a hospital
    # that takes part in team A only. (_b_world made UNN's id for B1.)
    tokens = {}
    for org_name, team, scopes in (("UNN B", world.team_b, ["observations:write"]),
                                   ("UNN A", world.team_a, ["encounters:write", "observations:write"])):
        org = Organisation(name=org_name, kind="hospital", created_at=clock.now())
        session.add(org)
        session.flush()
        make_staff(session, clock, f"staff@{org.id}.example.no", f"Sykehus {org_name}", team,
                   "nurse").organisation_id = org.id
        session.commit()
        tokens[org_name] = api_tokens.create(session, clock, organisation_id=org.id, name=org_name, source="UNN",
                                             scopes=scopes).token
    return [
        Principal("anonymous", anonymous, {}, every),
        Principal("patient A", patient_a, {}, every),
        Principal("revoked relative of B", revoked, {}, every),
        Principal("expired relative of B", expired, {}, every),
        Principal("report-only relative of B", report_only, {}, B_DATA_MARKERS),
        Principal("nurse of team A", nurse_a, {}, every),
        Principal("half-signed-in nurse of team B", half, {}, every),
        Principal("token without the scope", WebClient(app.test_client()),
                  {"Authorization": f"Bearer {tokens['UNN B']}"}, every,
                  may=frozenset({"api.observation", "api.fhir_observation"})),  # its own scope
        Principal("token of another organisation", WebClient(app.test_client()),
                  {"Authorization": f"Bearer {tokens['UNN A']}"}, every),
    ]


def test_no_principal_sees_b_on_any_route(app, session, clock, world):
    values = _b_world(app, session, clock, world)
    principals = _principals(app, session, clock, world)
    reports_before = session.exec(select(func.count()).select_from(Report)).one()
    uses_before = session.exec(select(func.count()).select_from(ServiceUse)).one()
    leaks, errors, cells = [], [], 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        url = _url(rule, values)
        for principal in principals:
            if rule.endpoint in principal.may:
                continue
            if "GET" in rule.methods:
                response = principal.client.client.get(url, headers=principal.headers)
            elif rule.endpoint.startswith("api."):
                body = ADMISSION if "admission" in rule.endpoint or "ncounter" in rule.endpoint else OBSERVATION
                response = principal.client.client.post(url, json=body, headers=principal.headers)
            else:  # a form post without its CSRF token: refused before anything is read
                response = principal.client.client.post(url, data={}, headers=principal.headers)
            cells += 1
            status = response.status_code
            text = response.get_data(as_text=True)
            if status >= 500:
                errors.append((principal.name, rule.rule, status))
            elif 200 <= status < 300 and any(marker in text for marker in principal.markers):
                leaks.append((principal.name, rule.rule, status,
                              [m for m in principal.markers if m in text]))
    assert not errors, errors
    assert not leaks, leaks
    assert cells >= 9 * 90  # the matrix really covered the map
    session.expire_all()
    # Nothing was stored for B by a token that may not (wrong scope, other organisation).
    assert session.exec(select(func.count()).select_from(Report)).one() == reports_before
    assert session.exec(select(func.count()).select_from(ServiceUse)).one() == uses_before


def test_the_matrix_would_see_a_leak(app, session, clock, world):
    """The control: B's own nurse, fully signed in, gets B's data on the same URLs, so the
    markers above are really on those pages."""
    values = _b_world(app, session, clock, world)
    nurse_b = WebClient(app.test_client())
    nurse_b.login_staff("nurse.b@example.no")
    page = nurse_b.client.get(f"/clinic/patients/{values['patient_id']}").get_data(as_text=True)
    assert "Bjørn B1" in page and "Hemmelig melding fra Bjørn" in page
    b1 = WebClient(app.test_client())
    b1.login_patient("+4791000003")
    assert "83,7" in b1.client.get(f"/report/result/{values['report_id']}").get_data(as_text=True)


# ---- every route that reads patient data writes an audit record ------------------------------

# Routes that read no personal data, each with why. Anything else that a signed-in principal
# can GET must leave at least one audit record per request.
NO_PERSONAL_DATA = {
    "static": "CSS, JavaScript and images",
    "health.healthz": "process health, no personal data",
    "api.openapi": "the API's description",
    "patient.login": "sign-in form", "patient.login_code": "sign-in form",
    "patient.login_code_check": "sign-in form", "clinician.login": "sign-in form",
    "clinician.login_code": "sign-in form", "clinician.login_enrol": "sign-in form (the account's own secret)",
    "clinician.set_password": "set-password form; audited when used",
    "patient.index": "a redirect to /today",
    "patient.menu": "links only",
    "patient.settings": "the patient's own reminder settings, no health data",
    "patient.change_phone": "form for a new number", "patient.change_phone_check": "form for the code",
    "patient.invite_relative": "empty invitation form",
    "clinician.teams": "team settings: names, opening hours, phones of the service",
    "clinician.team_opening_hours": "team settings", "clinician.team_phones": "team settings",
    "clinician.team_on_call": "staff rota (staff data, audited as team changes)",
    "clinician.team_escalation": "team settings",
    "clinician.team_pathway_deadlines": "team settings",
    "clinician.outbox": "the team admin's view of sent messages, audited by its own service",
    "clinician.plan_templates_list": "templates, no patient", "clinician.plan_template": "a template, no patient",
    "clinician.plan_template_backtest": "aggregates over the team's history, no person shown",
    "clinician.figures": "aggregate figures, no person", "clinician.figures_csv": "aggregate figures",
    "clinician.my_sessions": "the user's own sign-in sessions",
    "clinician.team_members": "staff accounts, not patients", "clinician.team_member": "a staff account",
}


def _audit_count(session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(AuditEvent)).one()


def test_every_route_that_reads_patient_data_writes_an_audit_record(app, session, clock, world):
    values = _b_world(app, session, clock, world)
    nurse_b = WebClient(app.test_client())
    nurse_b.login_staff("nurse.b@example.no")
    b1 = WebClient(app.test_client())
    b1.login_patient("+4791000003")
    unaudited, checked, ok = [], 0, set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NO_PERSONAL_DATA:
            continue
        if not rule.endpoint.startswith(("patient.", "clinician.")):
            continue
        client = nurse_b if rule.endpoint.startswith("clinician.") else b1
        before = _audit_count(session)
        response = client.client.get(_url(rule, values))
        if response.status_code == 200:
            ok.add(rule.endpoint)
            if _audit_count(session) == before:
                unaudited.append(rule.endpoint)
        checked += 1
    assert not unaudited, f"read patient data without an audit record: {unaudited}"
    # The walk really opened the pages (a 404 everywhere would pass vacuously).
    assert {"clinician.patient_detail", "clinician.alert_detail", "clinician.refer_candidate",
            "clinician.candidates", "clinician.patients", "clinician.fhir_export", "patient.today",
            "patient.report_result", "patient.history", "patient.messages_page"} <= ok, ok
    assert len(ok) >= 25


@pytest.mark.parametrize("endpoint", sorted(NO_PERSONAL_DATA))
def test_the_allow_list_names_real_routes(app, endpoint):
    assert endpoint in {rule.endpoint for rule in app.url_map.iter_rules()}
