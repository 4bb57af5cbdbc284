"""API rate limits sized for real senders (issue 19): a limit per token, configurable with
API_RATE_LIMIT_PER_MINUTE, whose default lets one device hub send 1,000 patients' morning peak
(docs/api.md, "Rate limits"); a breach is 429 problem+json with Retry-After."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homefollow import config
from homefollow.services import api_tokens
from tests.api.test_auth_and_payloads import PULSE, problem_of

ROOT = Path(__file__).resolve().parents[2]


def app_with(engine, clock, session, **overrides):
    from homefollow import create_app
    from tests.conftest import app_config, observed_by

    return observed_by(create_app(app_config(engine, clock, **overrides)), session)


def second_token(session, clock, hospital) -> dict:
    new = api_tokens.create(session, clock, organisation_id=hospital.organisation.id, name="Device hub 2",
                            source="UNN", scopes=["observations:write"])
    return {"Authorization": f"Bearer {new.token}"}


def send(client, headers, n: int, prefix: str) -> list[int]:
    return [client.post("/api/observations", json=dict(PULSE, id=f"{prefix}-{i}"), headers=headers).status_code
            for i in range(n)]


def test_the_default_lets_one_hub_send_1000_patients_morning_peak(monkeypatch):
    monkeypatch.delenv("API_RATE_LIMIT_PER_MINUTE", raising=False)
    per_minute = config.API_RATE_LIMIT_PER_MINUTE
    assert config.from_environment()["API_RATE_LIMIT"] == f"{per_minute} per minute"
    peak_per_minute = 1_000 * 4 / 30  # 1,000 patients, 4 readings each, in 30 minutes
    assert per_minute >= 4 * peak_per_minute, "leave headroom for bursts and a hub catching up"
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    stated = re.search(r"default\s+of\s+\*\*([\d,]+)\s+calls\s+a\s+minute\s+per\s+token\*\*", docs)
    assert stated and int(stated[1].replace(",", "")) == per_minute, "docs/api.md states another default"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `API_RATE_LIMIT_PER_MINUTE`"))
    assert f"| `{per_minute}` |" in row


def test_the_limit_is_set_by_the_environment(monkeypatch):
    monkeypatch.setenv("API_RATE_LIMIT_PER_MINUTE", "1500")
    assert config.from_environment()["API_RATE_LIMIT"] == "1500 per minute"
    monkeypatch.setenv("API_RATE_LIMIT_PER_MINUTE", "0")
    with pytest.raises(ValueError, match="API_RATE_LIMIT_PER_MINUTE"):
        config.from_environment()


def test_each_token_has_its_own_count(engine, clock, session, world):
    from tests.api.conftest import hospital as make_hospital

    app = app_with(engine, clock, session, API_RATE_LIMIT="3 per minute")
    hub = make_hospital.__wrapped__(app, session, clock, world)
    other = second_token(session, clock, hub)
    client = app.test_client()  # both from the same address
    assert send(client, hub.headers, 4, "hub") == [201, 201, 201, 429]
    assert send(client, other, 3, "other") == [201, 201, 201], "the second token shared the first one's count"
    assert send(client, other, 1, "other-more") == [429]


def test_429_is_problem_json_with_retry_after(engine, clock, session, world):
    from tests.api.conftest import hospital as make_hospital

    app = app_with(engine, clock, session, API_RATE_LIMIT="2 per minute")
    hub = make_hospital.__wrapped__(app, session, clock, world)
    client = app.test_client()
    send(client, hub.headers, 2, "ok")
    response = client.post("/api/observations", json=dict(PULSE, id="too-many"), headers=hub.headers)
    body = problem_of(response, 429)
    assert body["title"] == "Too many requests" and "token" in body["detail"] and "2 per 1 minute" in body["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    response = client.post("/api/fhir/Observation", json={}, headers=hub.headers)  # every API route shares it
    problem_of(response, 429)
    assert response.headers["Retry-After"].isdigit()


def test_the_address_limit_counts_refused_tokens_only(engine, clock, session, world):
    """One hub at full speed is not stopped by the per-address limit; guessing tokens is."""
    from tests.api.conftest import hospital as make_hospital

    app = app_with(engine, clock, session, API_RATE_LIMIT="100 per minute", API_ADDRESS_RATE_LIMIT="3 per minute")
    hub = make_hospital.__wrapped__(app, session, clock, world)
    client = app.test_client()
    assert send(client, hub.headers, 5, "hub") == [201] * 5
    guesses = [client.post("/api/observations", json=dict(PULSE, id=f"g{i}"),
                           headers={"Authorization": f"Bearer hf_guess-{i}"}).status_code for i in range(4)]
    assert guesses == [401, 401, 401, 429]
    response = client.post("/api/observations", json=dict(PULSE, id="g9"), headers={"Authorization": "Bearer x"})
    body = problem_of(response, 429)
    assert "address" in body["detail"] and response.headers["Retry-After"].isdigit()
