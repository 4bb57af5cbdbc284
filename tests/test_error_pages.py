"""Error pages link to the portal the person is in; a relative whose access ended mid-session
is told so (issue 20); production refuses to start without PUBLIC_BASE_URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from homefollow import UnsafeConfiguration, create_app, links
from homefollow.models import AuditEvent, RelativeAccess
from tests.conftest import app_config
from tests.webclient import WebClient, text_of


def test_the_clinics_404_links_to_the_clinic_not_the_patient_portal(app):
    response = app.test_client().get("/clinic/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'href="/clinic/"' in page and 'href="/today"' not in page


def test_the_patient_portals_404_links_to_the_patient_portal(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404 and 'href="/today"' in response.get_data(as_text=True)


def _end(session, world, **change):
    grant = session.exec(select(RelativeAccess).where(RelativeAccess.relative_account_id == world.relative.id)).one()
    for name, value in change.items():
        setattr(grant, name, value)
    session.add(grant)
    session.commit()
    return grant


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_relative_whose_access_ends_mid_session_is_told_so_not_404(app, session, clock, world, how):
    daughter = WebClient(app.test_client())
    daughter.login_patient("+4791000011")
    assert daughter.get("/today", follow_redirects=True).status_code == 200
    if how == "revoked":
        grant = _end(session, world, revoked_at=clock.now())
    else:
        grant = _end(session, world, valid_until=clock.now() + timedelta(minutes=5))
        clock.advance(minutes=10)
    for url in ("/today", "/history", "/report/weight"):
        response = daughter.get(url)
        text = text_of(response)
        assert response.status_code == 403, url
        assert "Tilgangen din er avsluttet" in text
        assert "snakk med Astrid" in text and "113" in text  # whom to contact; first name only
        assert "Astrid A1" not in text_of(response) and " A1" not in text_of(response)  # nothing beyond the first name
        assert 'action="/logout"' in response.get_data(as_text=True)  # a sign-out
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.relative.id)).all()
    assert denied and all(e.detail.get("grant_ended") == grant.id and e.detail.get("ended") == how for e in denied)
    assert all(e.patient_id == world.patient_a1.id for e in denied)


def test_a_relative_probing_a_patient_they_never_helped_still_gets_404(app, world):
    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    token = relative.csrf_token("/today")
    response = relative.client.post("/choose", data={"csrf_token": token, "patient_id": world.patient_b1.id})
    assert response.status_code == 404 and "Tilgangen din er avsluttet" not in text_of(response)


# ---- PUBLIC_BASE_URL ----------------------------------------------------------------------------

def test_production_refuses_to_start_without_public_base_url(engine, clock, monkeypatch):
    monkeypatch.setattr(links, "_base_url", links._base_url)  # put back after the test
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("HOMEFOLLOW_DEMO", raising=False)
    with pytest.raises(UnsafeConfiguration, match="PUBLIC_BASE_URL is not set"):
        create_app(app_config(engine, clock, TESTING=False, DEMO=False))


def test_production_starts_with_public_base_url_and_the_demo_without(engine, clock, monkeypatch):
    monkeypatch.setattr(links, "_base_url", links._base_url)
    monkeypatch.delenv("HOMEFOLLOW_DEMO", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://homefollow.example.no/")
    app = create_app(app_config(engine, clock, TESTING=False, DEMO=False))
    assert app.config["PUBLIC_BASE_URL"] == "https://homefollow.example.no"
    monkeypatch.delenv("PUBLIC_BASE_URL")
    demo = create_app(app_config(engine, clock, TESTING=False, DEMO=True))
    assert demo.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    with pytest.raises(UnsafeConfiguration, match="must start with https://"):
        create_app(app_config(engine, clock, TESTING=False, DEMO=False, PUBLIC_BASE_URL="homefollow.example.no"))
