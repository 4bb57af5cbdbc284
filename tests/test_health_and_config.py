"""/healthz, start-up safety checks and the schema managed by Alembic."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from homefollow import UnsafeConfiguration, create_app
from homefollow.config import DEMO_SECRET_KEY
from homefollow.db import make_engine
from homefollow.models import Account
from homefollow.scheduler import beat
from tests.conftest import app_config
from tests.webclient import WebClient

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def test_healthz_reports_database_schema_and_scheduler_heartbeat(app, engine, clock):
    body = app.test_client().get("/healthz").get_json()
    assert body["database"] == {"reachable": True}
    assert body["schema"]["at_head"] is True and body["schema"]["current"] == body["schema"]["head"]
    assert body["scheduler"] == {"heartbeat_age_seconds": None, "stale": True}
    assert body["status"] == "degraded"

    beat(engine, clock, "scheduler@test:1", clock.now())
    clock.advance(seconds=42)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["scheduler"] == {"heartbeat_age_seconds": 42.0, "stale": False} and body["status"] == "ok"
    clock.advance(minutes=5)
    assert app.test_client().get("/healthz").get_json()["scheduler"]["stale"] is True


def test_healthz_answers_for_a_signed_in_user_too(app, world):
    """The request's own session may hold SQLite's write lock (loading the user); the health
    check must not wait for it."""
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["database"] == {"reachable": True}


def test_healthz_answers_503_when_the_database_is_unreachable(clock, tmp_path):
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    app = create_app(app_config(engine, clock))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["reachable"] is False


def test_production_refuses_the_demo_secret_key(monkeypatch):
    monkeypatch.delenv("HOMEFOLLOW_DEMO", raising=False)
    monkeypatch.setenv("SECRET_KEY", DEMO_SECRET_KEY)
    with pytest.raises(UnsafeConfiguration, match="demo key"):
        create_app()


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("HOMEFOLLOW_DEMO", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY is not set"):
        create_app()


def test_production_refuses_a_database_with_demo_accounts(engine, session, clock, monkeypatch):
    session.add(Account(kind="staff", login="demo@example.no", name="Demo", is_demo=True, created_at=clock.now()))
    session.commit()
    monkeypatch.delenv("HOMEFOLLOW_DEMO", raising=False)
    config = app_config(engine, clock, TESTING=False, DEMO=False)
    with pytest.raises(UnsafeConfiguration, match="demo accounts"):
        create_app(config)
    create_app(app_config(engine, clock, TESTING=False, DEMO=True))  # the demo itself starts


def test_models_and_migrations_do_not_drift_apart(engine):
    """Fails when a model changes without a migration (run `flask db revision -m ...`)."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_migrations_downgrade_and_upgrade_cleanly(tmp_path):
    from homefollow.migrate import current_revision, downgrade, head_revision, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'cycle.sqlite'}")
    upgrade(engine)
    downgrade(engine, "base")
    with engine.connect() as conn:
        assert current_revision(conn) is None
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
