"""Hostile input never reaches a 500 (issue 19).

Walks `app.url_map` like tests/test_route_matrix.py: every route that takes a POST gets hostile
values in every field of its form (found by reading the pages a signed-in principal sees), every
API route gets hostile JSON, both built by hypothesis. Nothing answers with a 5xx, and the API's
refusals are problem+json. The named regressions of the issue follow as tests of their own.

The guard under test is homefollow/input_guard.py (forms and query strings) and the API's pydantic
payloads (homefollow/api/payloads.py). The app here answers an unexpected error with its 500 page
instead of raising it (PROPAGATE_UNEXPECTED_ERRORS=False), so a 500 is seen as a status; the
application log then holds the traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
from copy import deepcopy
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask import request
from flask_wtf.csrf import CSRFError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from homefollow import create_app, input_guard
from homefollow.models import Alert, Message, PatientNote, Report, TeamMembership
from homefollow.models.reports import Measurement
from homefollow.web import _csrf_error
from tests.api.conftest import A1_LOCAL
from tests.api.conftest import hospital as make_hospital
from tests.conftest import app_config, observed_by
from tests.factories import make_staff
from tests.test_route_matrix import _b_world, _url
from tests.webclient import CSRF_RE, WebClient, staff_client

FORM_EXAMPLES = 8  # per POST route; ~60 routes
API_EXAMPLES = 25  # per API route
SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Routes that take a POST but are not fuzzed here, each with why. A test fails when one of
# them no longer exists.
NOT_FUZZED = {
    "webhooks.twilio_sms": "Twilio's webhook: signed by Twilio, outside this test (tests of webhooks.py)",
    "webhooks.twilio_status": "Twilio's webhook: signed by Twilio, outside this test (tests of webhooks.py)",
}
# Routes that end the session posting to them: each example gets a newly signed-in client.
SIGNS_OUT = {"patient.logout", "clinician.logout", "clinician.end_session"}
# Sign-in steps, used anonymously.
ANONYMOUS = {"patient.login", "patient.login_code", "patient.login_code_check", "clinician.login",
             "clinician.login_code", "clinician.login_enrol", "clinician.set_password", "set_locale"}
# Fields guessed for a route whose form could not be found on any page (and added to every form).
GENERIC_FIELDS = ("body", "note", "value", "date", "reason", "code", "grant_id", "session_id", "patient_id",
                  "alert_ids", "password", "name")
NOT_FUZZED_FIELDS = {"csrf_token"}

B1_LOGIN = "+4791000003"
NURSE_B = "nurse.b@example.no"

# ---- hostile values ------------------------------------------------------------------------------

CONTROL_CHARS = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(["\x7f", "\x85"])
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # lone surrogates cannot go over HTTP
HOSTILE_TEXT = st.one_of(
    st.sampled_from([
        "\x00", "a\x00b", "\x00" * 10, "\x1b[31m", "\x08\x0c\x0b", "\r\n\r\n",
        "x" * 300_000, "x" * 200_001, "ø" * 4_001,
        "0001-01-01", "9999-12-31", "99999-01-01", "0000-00-00", "2026-02-30", "2026-13-45", "1899-12-31",
        "2201-01-01", "31.12.9999", "01.01.0001", "0001-01-01T00:00", "9999-12-31T23:59", "2026-03-10T25:61",
        "00:00", "24:00", "23:60", "-1:00",
        "1e309", "-1e309", "NaN", "nan", "inf", "-Infinity", "-0", "0", "-1", "2147483648", "-2147483649",
        "9" * 40, "1,5", "1.7976931348623157e309", "0x10", "١٢٣", "５", "1_000",
        "\u202eevil\u202c", "\ufeff", "\u200b", "\uffff", "\U0010ffff", "e\u0301" * 50, "👩‍⚕️" * 20,
        "<script>alert(1)</script>", "' OR 1=1 --", "%s%s%n", "{{7*7}}", "../../etc/passwd", "", "   ",
    ]),
    st.builds(lambda a, c, b: a + c + b, ANY_TEXT, CONTROL_CHARS, ANY_TEXT),
    ANY_TEXT,
)
FILE = object()  # a file upload in the field (built fresh for each request)
# Values the guard lets through (no control character, a plausible year, not too long): what
# the views' own parsing and the database must cope with.
PASSES_THE_GUARD = st.sampled_from([
    "1e309", "-1e309", "NaN", "nan", "inf", "-Infinity", "-0", "0", "-1", "2147483648", "-2147483649",
    "9223372036854775808", "9" * 40, "²", "1,5", "1.5.5", "0x10", "١٢٣", "５", "1_000", "½", " 7 ", "+7",
    "2026-02-30", "2026-13-45", "2026-03-10T25:61", "31.12.9999", "01.01.0001", "10.03.2026", "2200-12-31",
    "1900-01-01", "24:00", "23:60", "-1:00", "99:99", "07:00-08:00", "mon", "alle",
    "\u202eevil\u202c", "\ufeff", "\u200b", "\uffff", "\U0010ffff", "e\u0301" * 50, "👩‍⚕️" * 20,
    "x" * 5_000, "ø" * 2_001, "<script>alert(1)</script>", "' OR 1=1 --", "%s%s%n", "{{7*7}}", "", "   ",
    "+47 ١٢٣٤٥٦٧٨", "+4700000000000000000000", "@", "a@b", "https://evil.example/", "//evil.example",
])
FIELD_VALUE = st.one_of(PASSES_THE_GUARD, PASSES_THE_GUARD, HOSTILE_TEXT, st.just(FILE))


def _body(values: dict) -> dict:
    return {k: (io.BytesIO(b"not text\x00\xff"), "x.txt") if v is FILE else v for k, v in values.items()}


# ---- the app, the world and the principals ------------------------------------------------------

@pytest.fixture
def hostile_app(engine, clock, session):
    """The test app, answering an unexpected error with a 500 page (instead of raising it) and
    without the API's per-token limit getting in the way of many calls."""
    return observed_by(create_app(app_config(engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False,
                                             API_RATE_LIMIT="100000 per minute",
                                             API_ADDRESS_RATE_LIMIT="100000 per minute")), session)


def _fuzz_world(app, session, clock, world) -> dict:
    """tests/test_route_matrix.py's world for team B, with B's nurse also coordinator and team
    admin (so the team's pages are hers), and a colleague whose account the member routes change."""
    values = _b_world(app, session, clock, world)
    for role in ("coordinator", "team_admin"):
        session.add(TeamMembership(team_id=world.team_b.id, account_id=world.nurse_b.id, role=role,
                                   created_at=clock.now()))
    colleague = make_staff(session, clock, "colleague.b@example.no", "Kari Kollega", world.team_b, "nurse")
    session.commit()
    # A section and a pathway step that exist, so their forms are found and posted to.
    values.update(account_id=colleague.id, section="measurements", step="referral")
    return values


def _url_of(rule, values: dict) -> str:
    """tests/test_route_matrix.py's _url, except that a check-in's step is a number."""
    return _url(rule, {**values, "step": 1} if "<int:step>" in rule.rule else values)


def _patient_client(app) -> WebClient:
    client = WebClient(app.test_client())
    client.login_patient(B1_LOGIN)
    return client


def _client_for(app, endpoint: str) -> WebClient:
    if endpoint in ANONYMOUS:
        return WebClient(app.test_client())
    if endpoint.startswith("clinician."):
        return staff_client(app, NURSE_B)
    return _patient_client(app)


class _Forms(HTMLParser):
    """Post forms of a page: (action, {field name: the value a browser would send})."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None  # of the post form being read
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._fields = None
            if (a.get("method") or "get").lower() == "post":
                self._fields = {}
                self.forms.append((a.get("action") or "", self._fields))
            return
        fields, name = self._fields, a.get("name")
        if fields is None:
            return
        if tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            fields.setdefault(self._select, a.get("value") or "")
        elif tag in ("input", "textarea", "button") and name:
            if a.get("type") in ("checkbox", "radio") and "checked" not in a and name in fields:
                return
            fields[name] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._fields = None


def _fields_by_action(app, values: dict, clients: dict[str, WebClient]) -> dict[str, dict[str, str]]:
    """Every post form on every page the principals can open: its action's path -> its fields,
    with the values a browser would send."""
    found: dict[str, dict[str, str]] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith(("/api", "/hooks")):
            continue
        for who, client in clients.items():
            if who != "anonymous" and not rule.endpoint.startswith(who):
                continue
            url = _url_of(rule, values)
            response = client.client.get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            parser = _Forms()
            parser.feed(response.get_data(as_text=True))
            for action, fields in parser.forms:
                path = urlsplit(action).path or url
                for name, value in fields.items():
                    found.setdefault(path, {}).setdefault(name, value)
    return found


def _csrf(client: WebClient, endpoint: str, values: dict) -> str:
    if endpoint in ANONYMOUS:
        page = "/clinic/login" if endpoint.startswith("clinician.") else "/login"
    else:
        page = f"/clinic/patients/{values['patient_id']}" if endpoint.startswith("clinician.") else "/today"
    html = client.client.get(page).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {page} for {endpoint}"
    return match.group(1) or match.group(2)


def _post_routes(app):
    return sorted((r for r in app.url_map.iter_rules()
                   if "POST" in r.methods and r.endpoint != "static"
                   and not r.rule.startswith(("/api/", "/hooks/"))), key=lambda r: r.rule)


# ---- 1. every form -------------------------------------------------------------------------------

def test_no_form_answers_hostile_input_with_a_5xx(hostile_app, session, clock, world, monkeypatch):
    app = hostile_app
    csrf_refused = []  # a post the CSRF check refused never reached the guard or the view

    def counted(error):
        csrf_refused.append(request.endpoint)
        return _csrf_error(error)

    app.register_error_handler(CSRFError, counted)
    passed_the_guard = []  # endpoints of posts the guard let through to the view
    check_request = input_guard.check_request

    def checked():
        check_request()
        if request.method == "POST":
            passed_the_guard.append(request.endpoint)

    monkeypatch.setattr(input_guard, "check_request", checked)
    values = _fuzz_world(app, session, clock, world)
    clients = {"clinician.": staff_client(app, NURSE_B), "patient.": _patient_client(app),
               "anonymous": WebClient(app.test_client())}
    forms = _fields_by_action(app, values, clients)
    errors, counter = [], iter(range(1, 10**6))
    routes = _post_routes(app)
    assert len(routes) >= 55, [r.endpoint for r in routes]
    for rule in routes:
        if rule.endpoint in NOT_FUZZED:
            continue
        url = _url_of(rule, values)
        defaults = {name: value for name, value in forms.get(url, {}).items() if name not in NOT_FUZZED_FIELDS}
        fields = sorted(set(defaults) | set(GENERIC_FIELDS))
        client = _client_for(app, rule.endpoint)
        token = _csrf(client, rule.endpoint, values)
        statuses = []

        def send(data, rule=rule, url=url, statuses=statuses, defaults=defaults):
            nonlocal client, token
            if rule.endpoint in SIGNS_OUT:
                client = _client_for(app, rule.endpoint)
                token = _csrf(client, rule.endpoint, values)
            n = next(counter)
            # Sign-in forms are throttled per address: each anonymous post comes from its own.
            environ = {"REMOTE_ADDR": f"10.9.{n // 256 % 256}.{n % 256}"} if rule.endpoint in ANONYMOUS else {}
            response = client.client.post(url, data={"csrf_token": token, **_body(data)},
                                           content_type="multipart/form-data", environ_base=environ)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                errors.append((rule.endpoint, response.status_code, {
                    k: (v if v is FILE or len(v) < 80 else f"{v[:20]!r}…({len(v)} chars)")
                    for k, v in data.items() if k not in defaults or v != defaults[k]}))

        send(defaults)  # first the form as the page has it, which the guard lets through

        # Then the form with one to three fields hostile: most hostile values are refused by the
        # guard at once, so the rest of the form must look right for the view itself to see the
        # ones the guard lets through.
        @given(data=st.lists(st.tuples(st.sampled_from(fields), FIELD_VALUE), min_size=1, max_size=3)
               .map(lambda hostile: {**defaults, **dict(hostile)}))
        @settings(max_examples=FORM_EXAMPLES, **SETTINGS)
        def post(data):
            send(data)

        post()
        assert len(statuses) > FORM_EXAMPLES // 2, rule.endpoint
    assert not errors, "\n".join(map(repr, errors))
    # The posts really passed the CSRF check, so the guard and the views saw them.
    assert not csrf_refused, sorted(set(csrf_refused))
    # And every route's view saw values the guard let through (the rest of the form looked right).
    fuzzed = {r.endpoint for r in routes} - set(NOT_FUZZED)
    assert fuzzed <= set(passed_the_guard), sorted(fuzzed - set(passed_the_guard))


def test_every_post_route_is_fuzzed_or_says_why_not(app):
    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")}
    assert set(NOT_FUZZED) <= posts, f"NOT_FUZZED names routes that no longer exist: {set(NOT_FUZZED) - posts}"
    assert posts >= (SIGNS_OUT | ANONYMOUS), (SIGNS_OUT | ANONYMOUS) - posts
    unexplained = {r.endpoint for r in app.url_map.iter_rules()
                   if "POST" in r.methods and r.rule.startswith("/hooks/")} - set(NOT_FUZZED)
    assert not unexplained, f"webhooks are skipped by the fuzzer; add them to NOT_FUZZED with why: {unexplained}"


# ---- 2. every API route --------------------------------------------------------------------------

OBSERVATION = {"id": "fuzz-obs", "patient": {"local_id": A1_LOCAL}, "measured_at": "2026-03-10T08:55:00+01:00",
               "item": "pulse", "values": {"pulse": 72}}
ADMISSION = {"id": "fuzz-adm", "patient": {"local_id": A1_LOCAL}, "admitted_at": "2026-03-10T07:00:00+01:00",
             "hospital": "UNN", "ward": "Med", "ward_phone": "+47 77 62 60 00", "acute": True, "diagnoses": ["J44"]}
DISCHARGE = {"id": "fuzz-dis", "patient": {"local_id": A1_LOCAL}, "discharged_at": "2026-03-10T07:30:00+01:00",
             "admitted_at": "2026-03-10T07:00:00+01:00", "hospital": "UNN"}
FHIR_ENCOUNTER = {"resourceType": "Encounter", "id": "fuzz-enc", "status": "in-progress",
                  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                  "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.2", "value": A1_LOCAL}},
                  "period": {"start": "2026-03-10T07:00:00+01:00"}}
FHIR_OBSERVATION = {"resourceType": "Observation", "id": "fuzz-fobs", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{A1_LOCAL}"},
                    "effectiveDateTime": "2026-03-10T08:55:00+01:00",
                    "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                                      "code": "/min"}}
API_BODIES = {"api.admission": ADMISSION, "api.discharge": DISCHARGE, "api.fhir_encounter": FHIR_ENCOUNTER,
              "api.observation": OBSERVATION, "api.fhir_observation": FHIR_OBSERVATION}

NAN, INF = object(), object()  # bare NaN / Infinity tokens in the JSON text
HOSTILE_INSTANTS = (
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-14:00", "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59.999999-23:59",
    "1899-12-31T23:00:00+00:00", "2201-01-01T00:00:00Z", "2026-03-10T08:55:00", "2026-02-30T08:00:00+01:00",
    "2026-03-10T08:55:00+25:00", "99999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-03-10", "1e309",
    "2026-03-10T08:55:00\x00+01:00",
)
HOSTILE_DATETIMES = st.sampled_from(HOSTILE_INSTANTS)
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.just(NAN), st.just(INF),
    st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([2**63, -(2**63) - 1, 10**300, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
    ANY_TEXT, st.builds(lambda a, c: a + c, ANY_TEXT, CONTROL_CHARS), st.just("x" * 100_000), HOSTILE_DATETIMES,
)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(ANY_TEXT, inner, max_size=3), max_leaves=6)


def _dumps(value) -> str:
    """JSON text, with NAN and INF written as the bare tokens Python's json module reads."""
    text = json.dumps(value, default=lambda v: "@@NAN@@" if v is NAN else "@@INF@@", allow_nan=True)
    return text.replace('"@@NAN@@"', "NaN").replace('"@@INF@@"', "-Infinity")


def _paths(value, prefix=()):
    """Every key path in a JSON object, so a hostile value can replace any part of it."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _replaced(value, path, new):
    if not path:
        return new
    copy = deepcopy(value)
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


RAW = [
    b"", b"null", b"[]", b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"\"\x00\"", b"{", b"{}" * 1000,
    b"[" * 100_000 + b"]" * 100_000, b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000, b"\xff\xfe\x00{",
    b"\x00" * 100, b"1" * 5_000, ("{\"id\": " + "9" * 5000 + "}").encode(), b"<xml/>", "ø".encode("latin-1"),
    b"{\"id\": \"a\", \"id\": \"b\"}", b"\xef\xbb\xbf{}",
]
RAW_BODIES = st.sampled_from(RAW)
CONTENT_TYPES = st.sampled_from(["application/json", "application/fhir+json", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                 "application/json; charset=latin-1", ""])


@st.composite
def api_calls(draw, base: dict):
    kind = draw(st.sampled_from(["replace", "replace", "replace", "add", "raw", "content-type", "deep"]))
    content_type = "application/json"
    if kind in ("replace", "add"):
        body = base
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            paths = list(_paths(body))
            path = draw(st.sampled_from(paths[1:] if len(paths) > 1 else paths))
            if kind == "add" and isinstance(body, dict):
                path = path[:-1] + (draw(ANY_TEXT),) if path else (draw(ANY_TEXT),)
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    body = _replaced(body, path, draw(JSON_VALUE))
            else:
                body = _replaced(body, path, draw(JSON_VALUE | HOSTILE_DATETIMES))
        data = _dumps(body).encode()
    elif kind == "raw":
        data = draw(RAW_BODIES)
    elif kind == "content-type":
        data, content_type = _dumps(base).encode(), draw(CONTENT_TYPES)
    else:
        depth = draw(st.sampled_from([50, 500, 5_000, 50_000]))
        field = draw(st.sampled_from(sorted(base)))
        data = _dumps(_replaced(base, (field,), "@@DEEP@@")).encode().replace(
            b'"@@DEEP@@"', b"[" * depth + b"]" * depth)
    return data, content_type


def test_no_api_route_answers_hostile_json_with_a_5xx(hostile_app, session, clock, world):
    app = hostile_app
    headers = make_hospital.__wrapped__(app, session, clock, world).headers
    api = app.test_client()
    routes = sorted(r.endpoint for r in app.url_map.iter_rules()
                    if r.rule.startswith("/api/") and "POST" in r.methods)
    assert set(routes) == set(API_BODIES), "a new API route needs a valid body in API_BODIES"
    errors, not_problem = [], []
    for rule in sorted((r for r in app.url_map.iter_rules() if r.endpoint in API_BODIES), key=lambda r: r.rule):
        base = API_BODIES[rule.endpoint]

        def send(data: bytes, content_type: str, rule=rule):
            response = api.post(rule.rule, data=data, headers={**headers, "Content-Type": content_type})
            shown = data[:120] + (b"..." if len(data) > 120 else b"")
            if response.status_code >= 500:
                errors.append((rule.rule, response.status_code, content_type, shown))
            elif response.status_code >= 400 and response.mimetype != "application/problem+json":
                not_problem.append((rule.rule, response.status_code, response.mimetype, shown))

        # Every fixed hostile body once, then what hypothesis makes of the route's valid body.
        for data in RAW:
            send(data, "application/json")
        for field in sorted(base):
            for depth in (1_000, 100_000):
                deep = _dumps(_replaced(base, (field,), "@@DEEP@@")).encode()
                send(deep.replace(b'"@@DEEP@@"', b"[" * depth + b"]" * depth), "application/json")
        for path in list(_paths(base))[1:]:
            at = _at(base, path)
            instant = isinstance(at, str) and at[:4].isdigit() and "T" in at
            for value in (*(HOSTILE_INSTANTS if instant else ()), NAN, 10**400, "a\x00", []):
                send(_dumps(_replaced(base, path, value)).encode(), "application/json")

        @given(call=api_calls(base))
        @settings(max_examples=API_EXAMPLES, **SETTINGS)
        def post(call):
            send(*call)

        post()
    assert not errors, "\n".join(map(repr, errors))
    assert not not_problem, "\n".join(map(repr, not_problem))


# ---- 3. named regressions -----------------------------------------------------------------------

def _count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def _token_and_page(client: WebClient, url: str) -> str:
    html = client.client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, url
    return match.group(1) or match.group(2)


def _file():
    return (io.BytesIO(b"%PDF-1.4 not a note"), "x.txt")


def _refused_not_crashed(response):
    assert response.status_code < 500, response.status_code
    assert response.status_code != 302, "the file was accepted as text"


def test_a_file_as_a_staff_note_is_refused_and_nothing_stored(hostile_app, session, clock, world):
    nurse = staff_client(hostile_app, "nurse.a@example.no")
    patient_id = world.patient_a1.id
    token = _token_and_page(nurse, f"/clinic/patients/{patient_id}")
    before = _count(session, PatientNote)
    response = nurse.client.post(f"/clinic/patients/{patient_id}/notes",
                                 data={"csrf_token": token, "note": _file()}, content_type="multipart/form-data")
    _refused_not_crashed(response)
    assert response.status_code == 400
    assert _count(session, PatientNote) == before


def test_a_file_as_a_patient_message_is_refused_and_nothing_stored(hostile_app, session, clock, world):
    patient = _patient_client(hostile_app)
    token = _token_and_page(patient, "/messages")
    before = _count(session, Message)
    fields = patient.form_fields("/messages")
    body_field = next(name for name in fields if name not in ("csrf_token", "idempotency_key"))
    response = patient.client.post("/messages", data={**fields, "csrf_token": token, body_field: _file()},
                                   content_type="multipart/form-data")
    _refused_not_crashed(response)
    assert response.status_code in (200, 400)  # the form again with a field error
    assert _count(session, Message) == before


def test_a_file_in_the_resolve_form_is_refused_and_the_alert_stays_open(hostile_app, session, clock, world):
    values = _b_world(hostile_app, session, clock, world)
    nurse = staff_client(hostile_app, NURSE_B)
    alert_id = values["alert_id"]
    token = _token_and_page(nurse, f"/clinic/alerts/{alert_id}")
    for field, data in (("note", {"outcome": "handled", "note": _file()}),
                        ("outcome", {"outcome": _file(), "note": "Ringte"})):
        response = nurse.client.post(f"/clinic/alerts/{alert_id}/resolve", data={"csrf_token": token, **data},
                                     content_type="multipart/form-data")
        _refused_not_crashed(response)
        assert response.status_code == 400, field
    session.expire_all()
    assert session.get(Alert, alert_id).resolved_at is None


def test_a_file_in_the_report_form_is_refused_and_nothing_stored(hostile_app, session, clock, world):
    patient = WebClient(hostile_app.test_client())
    patient.login_patient("+4791000001")
    token = _token_and_page(patient, "/report/weight")
    fields = patient.form_fields("/report/weight")
    before = (_count(session, Report), _count(session, Measurement))
    response = patient.client.post("/report/weight", data={**fields, "csrf_token": token, "weight": _file()},
                                   content_type="multipart/form-data")
    _refused_not_crashed(response)
    assert response.status_code in (200, 400)
    assert (_count(session, Report), _count(session, Measurement)) == before
    # The staff's report form for the same patient.
    nurse = staff_client(hostile_app, "nurse.a@example.no")
    url = f"/clinic/patients/{world.patient_a1.id}/report/weight"
    fields = nurse.form_fields(url)
    response = nurse.client.post(url, data={**fields, "weight": _file()}, content_type="multipart/form-data")
    _refused_not_crashed(response)
    assert (_count(session, Report), _count(session, Measurement)) == before


def test_a_nul_in_the_patient_sign_in_is_refused(hostile_app, session, clock, world):
    """PostgreSQL cannot compare a text with a NUL in it: refused before the account is looked up."""
    for login, password in (("+4791000001\x00", "x"), ("\x00", "x"), ("nurse\x00@example.no", "x"),
                            ("+4791000001", "correct\x00")):
        client = WebClient(hostile_app.test_client())
        token = _token_and_page(client, "/login")
        response = client.client.post("/login", data={"csrf_token": token, "login": login, "password": password})
        assert 400 <= response.status_code < 500, (login, response.status_code)
        with client.client.session_transaction() as s:
            assert "_user_id" not in s


def test_a_nul_in_the_staff_sign_in_is_refused(hostile_app, session, clock, world):
    for email, password in (("nurse.a@example.no\x00", "x"), ("\x00", "x"), ("nurse.a\x00@example.no", "x"),
                            ("nurse.a@example.no", "correct\x00")):
        client = WebClient(hostile_app.test_client())
        token = _token_and_page(client, "/clinic/login")
        response = client.client.post("/clinic/login", data={"csrf_token": token, "email": email,
                                                             "password": password})
        assert 400 <= response.status_code < 500, (email, response.status_code)
        assert "/clinic/login/code" not in (response.location or "")


def test_an_observation_in_year_one_is_a_422_and_nothing_stored(hostile_app, session, clock, world):
    headers = make_hospital.__wrapped__(hostile_app, session, clock, world).headers
    before = (_count(session, Report), _count(session, Measurement))
    for measured_at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        response = hostile_app.test_client().post("/api/observations", headers=headers,
                                                  json={**OBSERVATION, "id": f"year-{measured_at[:4]}",
                                                        "measured_at": measured_at})
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        assert any(e.get("field") == "measured_at" for e in response.get_json().get("errors", [])), \
            response.get_json()
    assert (_count(session, Report), _count(session, Measurement)) == before


def test_digits_that_are_not_0_to_9_are_refused_not_crashed(hostile_app, session, clock, world):
    """"²".isdigit() is true and int("²") fails: many views read an id or a number that way
    (found by the fuzzer above: the assignee of an alert, the alerts to acknowledge, a plan's
    base version, the on-call rota's people, a relative's grant to revoke)."""
    values = _fuzz_world(hostile_app, session, clock, world)
    nurse = staff_client(hostile_app, NURSE_B)
    token = _token_and_page(nurse, f"/clinic/alerts/{values['alert_id']}")
    for url, data in ((f"/clinic/alerts/{values['alert_id']}/assign", {"assignee": "²"}),
                      ("/clinic/alerts/acknowledge-selected", {"alert_id": "1,²"}),
                      (f"/clinic/alerts/{values['alert_id']}/assign", {"assignee": "①"})):
        response = nurse.client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 400, (url, data, response.status_code)
    # A note may still say so: only a word made of such digits is refused.
    with hostile_app.test_request_context():
        input_guard.check_text("note", "Sår 2 cm², CO₂ ok")


def test_an_id_too_large_for_the_database_is_not_found(hostile_app, session, clock, world):
    patient = _patient_client(hostile_app)
    token = _token_and_page(patient, "/today")
    for grant_id in ("9" * 40, "2147483648", "²", "١٢٣", "-1", "0"):
        response = patient.client.post("/relatives/revoke", data={"csrf_token": token, "grant_id": grant_id})
        assert 400 <= response.status_code < 500, (grant_id, response.status_code)
        response = patient.client.get("/relatives/revoke", query_string={"grant_id": grant_id})
        assert 400 <= response.status_code < 500, (grant_id, response.status_code)
    assert input_guard.row_id("2147483647") == 2147483647 and input_guard.row_id("2147483648") is None


# ---- found by walking the app as a new user --------------------------------------------------

@pytest.mark.parametrize("until", ["0001-01-01", "9999-12-31"])
def test_a_mistyped_year_in_an_invitation_keeps_what_was_typed(app, session, world, until):
    """The guard's 400 page would lose the name and number typed: the form answers at the field."""
    patient = _patient_client(app)
    response = patient.submit("/relatives/invite", {"name": "Per Hjelper", "phone": "+4793456789",
                                                    "relation": "sønn", "can_view": "y", "valid_until": until})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Datoen må være mellom år 1900 og år 2200" in page
    assert 'value="Per Hjelper"' in page and "93456789" in page  # nothing typed is lost
    session.commit()
    from homefollow.models import Account
    assert session.exec(select(Account).where(Account.login == "+4793456789")).first() is None


def test_a_control_character_is_never_repeated_back_into_a_page(app, world):
    """A field error that repeats what was typed ("you wrote …") leaves control characters out."""
    admin = staff_client(app, "admin.a@example.no")
    url = f"/clinic/teams/{world.team_a.id}/phones"
    fields = admin.form_fields(url)
    response = admin.submit(url, {**fields, "phone": "7762\x000000"})
    assert response.status_code == 400
    body = response.get_data()
    assert b"\x00" not in body and b"77620000" in body
