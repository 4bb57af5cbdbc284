"""The JSON API for hospital systems, under /api/ (see docs/api.md and openapi.yaml).

Callers authenticate with a bearer token of their organisation (services.api_tokens), never
with a session cookie, so there is no CSRF to guard against here. Errors are problem+json
(RFC 9457) with the field and the reason for each problem; nothing a sender writes gives a 500.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import lru_cache, wraps
from pathlib import Path

import yaml
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from rules.measurements import ImplausibleValue

from .. import transactions
from ..clock import get_clock
from ..config import API_ADDRESS_RATE_LIMIT_PER_MINUTE, API_RATE_LIMIT_PER_MINUTE
from ..db import get_engine, get_session
from ..outcomes_cli import person_secret
from ..services import api_calls, api_tokens
from ..services.hospital_stays import StayError
from . import payloads

bp = Blueprint("api", __name__, url_prefix="/api")

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
JSON_TYPES = ("application/json", "application/fhir+json")
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Request too large", 415: "Unsupported media type",
          422: "Unprocessable content", 429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, errors: list[tuple[str, str]] | None = None,
                 headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors or [], headers or {}


def problem(status: int, detail: str, errors: list[tuple[str, str]] | None = None,
            headers: dict | None = None) -> Response:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = [{"field": f, "reason": r} for f, r in errors]
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiProblem)
def _api_problem(exc: ApiProblem):
    return problem(exc.status, exc.detail, exc.errors, exc.headers)


def http_problem(exc: HTTPException) -> Response:
    """Errors raised outside the views (unknown path, wrong method, too large, rate limit)."""
    status = exc.code or 500
    detail = {404: "There is no such API endpoint.", 405: "This endpoint does not take that method.",
              413: "The request is larger than 1 MiB."}.get(status, TITLES.get(status, ""))
    valid_methods = getattr(exc, "valid_methods", None)  # MethodNotAllowed's
    headers = {"Allow": ", ".join(valid_methods)} if status == 405 and valid_methods else {}
    if status == 429:
        retry_after, what = _rate_limit_breached()
        detail = f"Too many requests: {what}. Wait Retry-After seconds and send again; nothing was stored."
        headers["Retry-After"] = str(retry_after)
    return problem(status, detail, headers=headers)


def _rate_limit_breached() -> tuple[int, str]:
    """Seconds until the breached limit's window ends (1 to 60), and which limit it was."""
    from ..web import limiter

    try:
        breached = limiter.current_limit
        seconds = int(breached.reset_at - time.time()) if breached is not None else 60
        amount = str(breached.limit) if breached is not None else ""
        key = breached.key if breached is not None else ""
    except Exception:  # noqa: BLE001 — the limiter's storage may fail in any way; the storage went away between the hit and here: say a minute
        return 60, "the limit of this token"
    what = (f"this token's limit of {amount}" if "api-token:" in key else
            f"the limit of {amount} failed authentications from this address" if "api-addr:" in key else
            f"the limit of {amount}")
    return min(max(seconds, 1), 60), what


def database_unavailable(retry_after: int) -> Response:
    """The database cannot be reached (homefollow.web catches the error wherever it is raised)."""
    return problem(503, "The database is not reachable just now, so the request may not have been stored. Send it "
                        "again after Retry-After seconds; an event with an id already stored is not stored twice.",
                   headers={"Retry-After": str(retry_after)})


# ---- authentication and limits ---------------------------------------------------------------

def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _per_token() -> str:
    token = _bearer()
    return "api-token:" + hashlib.sha256(token.encode()).hexdigest()[:32] if token else "api-anon:" + (
        get_remote_address() or "")


def _token_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", f"{API_RATE_LIMIT_PER_MINUTE} per minute")


def _address_limit() -> str:
    return current_app.config.get("API_ADDRESS_RATE_LIMIT", f"{API_ADDRESS_RATE_LIMIT_PER_MINUTE} per minute")


def _refused(response: Response) -> bool:
    return response.status_code == 401


def api_call(scope: str):
    """A view for token holders with `scope`: 401 without a valid token, 403 without the scope,
    a limit on calls per token (API_RATE_LIMIT: each token its own count, so a device hub is not
    slowed by others behind the same address), and a limit on refused authentications per
    address, against guessing tokens."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = _bearer()
            challenge = {"WWW-Authenticate": 'Bearer realm="HomeFollow API"'}
            if token is None:
                raise ApiProblem(401, "Send the token as 'Authorization: Bearer <token>'.", headers=challenge)
            row = api_tokens.authenticate(get_session(), get_clock(), token)
            if row is None:
                raise ApiProblem(401, "The token is unknown, expired or revoked.", headers=challenge)
            if scope not in row.scopes:
                raise ApiProblem(403, f"This token does not have the scope {scope}.")
            g.api_token = row
            # Read now: a rollback in the view expires the row, and reading it again would
            # start a transaction.
            token_id, last_used_at = row.id, row.last_used_at
            try:
                return view(*args, **kwargs)
            finally:
                # After the call's own transaction, never inside it (api_tokens.note_use). A
                # call that left its transaction open (a refused event: teardown rolls it back)
                # leaves the note to the next call.
                if not get_session().in_transaction():
                    api_tokens.note_use(get_engine(), get_clock(), token_id, last_used_at)

        from ..web import limiter

        # Shared: one count per token (and per address) over every API route, not one per route.
        wrapped = limiter.shared_limit(_token_limit, scope="api", key_func=_per_token)(wrapped)
        return limiter.shared_limit(_address_limit, scope="api-refused",
                                    key_func=lambda: "api-addr:" + (get_remote_address() or ""),
                                    deduct_when=_refused)(wrapped)

    return decorate


# ---- the calls ---------------------------------------------------------------------------------

def _json_body() -> tuple[bytes, dict]:
    if request.mimetype not in JSON_TYPES:
        raise ApiProblem(415, "Send JSON with Content-Type application/json or application/fhir+json.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ApiProblem(400, f"The body is not valid JSON: {exc}", [("body", "malformed JSON")]) from None
    if not isinstance(data, dict):
        raise ApiProblem(422, "The body must be a JSON object.", [("body", "not an object")])
    return raw, data


IMPLAUSIBLE = {"too_low": "too low to be a real reading", "too_high": "too high to be a real reading",
               "not_a_number": "not a number",
               "diastolic_not_below_systolic": "the diastolic value must be below the systolic",
               "measured_in_the_future": "the measurement time is in the future"}


def _accept(parse, *, plain: bool):
    raw, data = _json_body()
    try:
        event = parse(raw if plain else data)
    except payloads.PayloadError as exc:
        raise ApiProblem(422, "The request has problems; nothing was stored.", exc.problems) from None
    session, clock = get_session(), get_clock()
    try:
        # A race lost to the scheduler is run again; the event id stores it once.
        answer = transactions.run_in_transaction(session, lambda: api_calls.accept(
            session, clock, token=g.api_token, event=event, secret=person_secret(), ip=request.remote_addr),
            what="API event")
    except api_calls.UnknownPatient:
        raise ApiProblem(404, "No patient followed by a team your organisation takes part in has this identifier.",
                         [("patient" if plain else "subject", "unknown patient")]) from None
    except api_calls.Conflict as exc:
        raise ApiProblem(409, f"{exc}. Use a new id for a new event.", [("id" if plain else "identifier",
                                                                         "already used")]) from None
    except StayError as exc:
        session.rollback()
        raise ApiProblem(422, "The event does not fit what is known; nothing was stored.",
                         [(exc.field, exc.reason)]) from None
    except ImplausibleValue as exc:
        session.rollback()
        field = "measured_at" if exc.reason == "measured_in_the_future" else f"values.{exc.code}"
        raise ApiProblem(422, "The measurement cannot be a real reading; nothing was stored.",
                         [(field, IMPLAUSIBLE.get(exc.reason, exc.reason))]) from None
    response = jsonify(answer.body)
    response.status_code = 200 if answer.replayed else 201
    response.headers["Idempotent-Replayed"] = "true" if answer.replayed else "false"
    return response


@bp.post("/admissions")
@api_call("encounters:write")
def admission():
    return _accept(payloads.plain_admission, plain=True)


@bp.post("/discharges")
@api_call("encounters:write")
def discharge():
    return _accept(payloads.plain_discharge, plain=True)


@bp.post("/fhir/Encounter")
@api_call("encounters:write")
def fhir_encounter():
    return _accept(payloads.fhir_encounter, plain=False)


@bp.post("/observations")
@api_call("observations:write")
def observation():
    return _accept(payloads.plain_observation, plain=True)


@bp.post("/fhir/Observation")
@api_call("observations:write")
def fhir_observation():
    return _accept(payloads.fhir_observation, plain=False)


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
