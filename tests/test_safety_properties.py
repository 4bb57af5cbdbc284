"""Property-based tests of the safety net (hypothesis), over every shipped plan template:

- any reading outside the safety net's red limits is red: a red finding on that reading, and,
  through every channel a reading enters by (the patient's web form, a relative's, an SMS, the
  device API, a nurse's form), an open red alert with a page queued;
- any check-in answer worse than usual is at least yellow, and a red flag is red;
- a plan the checks accept leaves nothing it asks for unwatched: each planned item is judged by
  a rule, and each scheduled item not sent by its deadline becomes a finding.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from datetime import datetime, time, timedelta, UTC

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from homefollow.models import Alert, Notification, RelativeAccess
from homefollow.questionnaires import DAILY_CHECKIN
from homefollow.services import api_tokens, evaluation, plan_safety, plan_templates, sms_inbox
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule, PlanContent, PlanMeasurement, PlanQuestionnaire
from homefollow.services.rulebook import sync_defaults
from rules import EvaluationContext, Observation, evaluate_all, resolve_parameters, rule_codes
from rules.codes import matches
from rules.measurements import CATALOGUE, ITEMS
from rules.model import MissedCheckinSpec, Severity, SilenceSpec
from rules.ruleset import default_rules
from rules.safety import safety_limits
from rules.schedule import Schedule
from tests.factories import make_account, make_patient, make_staff
from tests.webclient import WebClient, staff_client
from tests.conftest import examples

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

SETTINGS = settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANNEL_SETTINGS = settings(max_examples=12, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
RULES = default_rules()
TEMPLATES = {t.key: t.content for t in plan_templates.shipped_templates()}
SAFETY = safety_limits()
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
CTX = EvaluationContext(tz="Europe/Oslo", active_since=NOW - timedelta(days=1))


def _rules_of(content: PlanContent):
    """The plan's rules and the safety net's, resolved as the evaluation service resolves them."""
    pairs = [(RULES[key], resolve_parameters(RULES[key], overrides or None))
             for key, overrides in content.safety_overrides().items()]
    decided = {key for key, _ in content.safety_overrides().items()}
    pairs += [(rule, rule.defaults) for key, rule in RULES.items() if rule.layer == "safety" and key not in decided]
    for entry in content.rules:
        rule = RULES[entry.key]
        overrides = {**evaluation.derived_parameters(rule, content), **entry.parameters}
        pairs.append((rule, resolve_parameters(rule, overrides or None)))
    return pairs


def _evaluate(content: PlanContent, observations, now=NOW):
    pairs = _rules_of(content)
    return evaluate_all([r for r, _ in pairs], {r.key: p for r, p in pairs}, observations, {}, now, CTX)


def _step(code: str) -> float:
    return 10 ** -CATALOGUE[code].decimals


@st.composite
def dangerous_readings(draw, reportable_only: bool = False):
    """A code and a value the safety net calls red, within what a real reading can be (with
    reportable_only, a code a patient, a nurse or a device can send: respiratory rate, which the
    safety net also watches, has no entry form yet)."""
    codes = [c for c in SAFETY if SAFETY[c].red_low is not None or SAFETY[c].red_high is not None]
    if reportable_only:
        codes = [c for c in codes if any(c in i.codes for i in ITEMS.values())]
    code = draw(st.sampled_from(sorted(codes)))
    limits, m = SAFETY[code], CATALOGUE[code]
    sides = [s for s, v in (("low", limits.red_low), ("high", limits.red_high)) if v is not None]
    side = draw(st.sampled_from(sides))
    scale = 10 ** m.decimals
    if side == "low":
        lo, hi = m.plausible_min, limits.red_low - _step(code)
    else:
        lo, hi = limits.red_high + _step(code), m.plausible_max
    value = draw(st.integers(math.ceil(lo * scale), math.floor(hi * scale))) / scale
    return code, value


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@SETTINGS
@given(reading=dangerous_readings())
def test_a_reading_outside_the_safety_limits_is_red_under_every_template(template, reading):
    code, value = reading
    results = _evaluate(TEMPLATES[template], [Observation(code, value, NOW, "m:1")])
    red = [ev.findings[0] for ev in results.values()
           if ev.findings and ev.findings[0].severity is Severity.RED and "m:1" in ev.findings[0].observation_refs]
    assert red, f"{code} {value} raised no red finding under {template}"


ANSWERS = st.fixed_dictionaries({q.code: st.sampled_from([o.value for o in q.options]) for q in DAILY_CHECKIN.questions})
RED_FLAGS = {"checkin.breathless": 2, "checkin.chest_pain": 1, "checkin.fainting": 1, "checkin.confusion": 1,
             "checkin.cough": 3}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@SETTINGS
@given(answers=ANSWERS)
def test_a_worse_answer_is_at_least_yellow_and_a_red_flag_red_under_every_template(template, answers):
    observations = [Observation(code, value, NOW, f"q:{code}") for code, value in answers.items()]
    results = _evaluate(TEMPLATES[template], observations)
    worst = max((ev.findings[0].severity.rank for ev in results.values() if ev.findings
                 and set(ev.findings[0].observation_refs) & {o.ref for o in observations}), default=0)
    if any(answers[code] >= level for code, level in RED_FLAGS.items()):
        assert worst == Severity.RED.rank, answers
    elif any(v >= 1 for v in answers.values()):
        assert worst >= Severity.YELLOW.rank, answers
    else:
        assert worst == 0, answers


# ---- any plan the checks accept watches everything it asks for ---------------------------------

PLAN_RULES = sorted(k for k, r in RULES.items() if r.layer == "plan")


@st.composite
def plans(draw):
    items = draw(st.lists(st.sampled_from(sorted(ITEMS)), unique=True, max_size=4))
    measurements = [PlanMeasurement(item=i, schedule=draw(st.sampled_from([None, Schedule(times=(time(8, 0),))])))
                    for i in items]
    questionnaires = [PlanQuestionnaire(key="daily_checkin", schedule=Schedule(times=(time(10, 0),)))] \
        if draw(st.booleans()) else []
    rules = [AssignedRule(key=k) for k in draw(st.lists(st.sampled_from(PLAN_RULES), unique=True, max_size=8))]
    return PlanContent(measurements=measurements, questionnaires=questionnaires, rules=rules)


def test_no_plan_the_checks_accept_leaves_a_planned_item_unwatched(session, clock):
    sync_defaults(session, clock)

    @settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(content=plans())
    def check(content):
        assume(plan_safety.problems(session, content, "en") == [])
        pairs = _rules_of(content)
        planned = [(m.item, ITEMS[m.item].codes, m.schedule) for m in content.measurements]
        planned += [(q.key, DAILY_CHECKIN.codes, q.schedule) for q in content.questionnaires]
        for key, codes, schedule in planned:
            judged = [r for r, _ in pairs if not isinstance(r.spec, (MissedCheckinSpec, SilenceSpec))
                      and any(matches(p, c) for p in rule_codes(r.spec) for c in codes)]
            assert judged, f"{key} is planned but no rule judges it"
            if schedule is not None:  # nothing sent all day: a finding names it
                results = _evaluate(content, [], now=NOW + timedelta(days=1, hours=12))
                missed = [RULES[k] for k, ev in results.items() if ev.findings
                          and isinstance(RULES[k].spec, MissedCheckinSpec)
                          and any(matches(p, c) for p in RULES[k].spec.codes for c in codes)]
                assert missed, f"{key} is scheduled but its silence raises nothing"

    check()


# ---- every channel: web form, relative, SMS, device API, nurse -----------------------------------

CHANNELS = ("patient_web", "relative_web", "sms", "api", "staff")
SMS_WORDS = {"spo2": "O2", "pulse": "PULS", "temperature": "TEMP", "glucose": "BS", "bp_systolic": "BT"}
_counter = itertools.count(1)


def _item_values(code: str, value: float) -> tuple[str, dict[str, float]]:
    if code == "bp_systolic":
        return "blood_pressure", {"bp_systolic": value, "bp_diastolic": min(60, value - 10)}
    item = next(i for i in ITEMS.values() if i.codes == (code,))
    return item.key, {code: value}


def _text(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _answer_unit_question(web, url, fields, response):
    """A first unusual number (glucose over 25 with no earlier reading) is asked about on the
    web: answer with the number as typed, in the usual unit (the first choice offered)."""
    page = response.get_data(as_text=True)
    if response.status_code != 200 or 'name="unit_for"' not in page:
        return response
    unit_for = re.search(r'name="unit_for" value="([^"]*)"', page).group(1)
    unit = re.search(r'name="unit" value="([^"]*)"', page).group(1)
    return web.submit(url, {**fields, "unit_for": html.unescape(unit_for), "unit": html.unescape(unit)})


def _submit(channel, app, session, clock, world, patient, phone, relative_login, item, values, token):
    if channel in ("patient_web", "relative_web"):
        web = WebClient(app.test_client())
        # Each example signs in from its own address: sign-ins are throttled per address.
        web.client.environ_base["REMOTE_ADDR"] = f"10.17.{next(_counter) % 250}.{next(_counter) % 250}"
        web.login_patient(phone if channel == "patient_web" else relative_login)
        if channel == "relative_web":
            assert web.get("/choose").status_code == 302  # her one patient: chosen at once
        fields = {code: _text(v) for code, v in values.items()}
        response = _answer_unit_question(web, f"/report/{item}", fields, web.submit(f"/report/{item}", fields))
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    elif channel == "sms":
        body = (f"BT {values['bp_systolic']:g}/{values['bp_diastolic']:g}" if item == "blood_pressure"
                else f"{SMS_WORDS[next(iter(values))]} {_text(next(iter(values.values())))}")
        sms_inbox.handle(session, clock, from_number=phone, body=body, message_id=f"SM{next(_counter)}")
    elif channel == "api":
        response = app.test_client().post("/api/observations", headers={"Authorization": f"Bearer {token}"}, json={
            "id": f"obs-{next(_counter)}", "patient": {"local_id": f"L{patient.id}"},
            "measured_at": clock.now().isoformat(), "item": item, "values": values})
        assert response.status_code == 201, response.get_json()
    else:
        web = staff_client(app, "nurse.a@example.no")
        fields = {code: _text(v) for code, v in values.items()}
        url = f"/clinic/patients/{patient.id}/report/{item}"
        response = _answer_unit_question(web, url, fields, web.submit(url, fields))
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def test_a_dangerous_reading_through_any_channel_opens_a_red_alert_with_a_page(app, session, clock, world):
    """Each example enrols a new patient on a shipped template and sends one dangerous reading
    through one channel; the red alert and its page must follow, whatever the template says."""
    from homefollow.models import Organisation
    from homefollow.outcomes_cli import person_secret
    from homefollow.services.hospital_stays import identify_patient

    sync_defaults(session, clock)
    unn = Organisation(name="UNN", kind="hospital", created_at=clock.now())
    session.add(unn)
    session.flush()
    # The hospital takes part in team A through one of its nurses: its devices may report for
    # team A's patients (tests/api/conftest.py).
    make_staff(session, clock, "hospital.nurse@unn.no", "Hanna Sykehus", world.team_a, "nurse").organisation_id = unn.id
    session.commit()
    token = api_tokens.create(session, clock, organisation_id=unn.id, name="hub", source="UNN",
                              scopes=["observations:write"]).token
    with app.app_context():
        secret = person_secret()

    @CHANNEL_SETTINGS
    @given(template=st.sampled_from(sorted(TEMPLATES)), channel=st.sampled_from(CHANNELS),
           reading=dangerous_readings(reportable_only=True))
    def check(template, channel, reading):
        n = next(_counter)
        phone = f"+47920{n:05d}"
        patient = make_patient(session, clock, world.team_a, f"Pasient {n}", phone)
        change_plan(session, clock, patient=patient, content=TEMPLATES[template], author_account_id=world.nurse_a.id,
                    reason="Fra malen")  # checked: a shipped template passes
        relative_login = f"+47930{n:05d}"
        relative = make_account(session, clock, "relative", relative_login, f"Pårørende {n}", phone=relative_login)
        session.add(RelativeAccess(patient_id=patient.id, relative_account_id=relative.id, relation="datter",
                                   can_view=True, can_report=True, created_at=clock.now()))
        session.commit()
        identify_patient(session, clock, patient_id=patient.id, source="UNN", local_id=f"L{patient.id}",
                         national_id=None, secret=secret)
        item, values = _item_values(*reading)
        clock.advance(minutes=1)
        _submit(channel, app, session, clock, world, patient, phone, relative_login, item, values, token)
        session.expire_all()
        red = session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.severity == "red",
                                               Alert.status == "open")).all()
        assert red, f"{channel}: {reading} under {template} opened no red alert"
        pages = session.exec(select(Notification).where(Notification.alert_id.in_([a.id for a in red]))).all()
        assert pages, f"{channel}: {reading} under {template}: the red alert queued no page"

    check()
