"""HomeFollow: digital home follow-up for integrated care teams."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask

from .clock import SystemClock
from .config import DEFAULT_PUBLIC_BASE_URL, DEMO_SECRET_KEY, INSTANCE_DIR, from_environment


class UnsafeConfiguration(RuntimeError):
    """Raised at start-up when a production instance would run with demo secrets or data."""


def create_app(config: dict | None = None) -> Flask:
    from .db import App

    app = App(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(from_environment())
    app.config.update(
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session; old hands are slow
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE="nb",
        BABEL_DEFAULT_TIMEZONE="Europe/Oslo",
        MAX_CONTENT_LENGTH=1024 * 1024,
        ARGON2_TIME_COST=None,
        ARGON2_MEMORY_COST=None,
    )
    app.config.update(config or {})
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=app.config["PATIENT_SESSION_DAYS"])
    _check_secret_key(app)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app.extensions["homefollow.clock"] = app.config.get("CLOCK") or SystemClock()
    from . import links

    if not app.config.get("PUBLIC_BASE_URL") and not _is_production(app):
        app.config["PUBLIC_BASE_URL"] = DEFAULT_PUBLIC_BASE_URL  # the demo and tests only
    links.configure(app.config.get("PUBLIC_BASE_URL") or DEFAULT_PUBLIC_BASE_URL)  # production: refused below

    if app.config["ARGON2_TIME_COST"]:
        from .services.accounts import configure_hasher

        configure_hasher(app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_COST"])

    from . import db, web
    from .services import appendonly  # noqa: F401  (registers the append-only guard)

    db.init_app(app)
    web.init_app(app)

    from clinician_portal import bp as clinician_bp
    from patient_portal import bp as patient_bp

    from . import api, health, webhooks
    from .cli import register_cli

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    web.csrf.exempt(webhooks.bp)  # Twilio signs its requests instead
    app.register_blueprint(api.bp)
    web.csrf.exempt(api.bp)  # bearer tokens only, never a cookie: nothing for a forged form to ride on
    app.register_blueprint(patient_bp)
    app.register_blueprint(clinician_bp, url_prefix="/clinic")
    register_cli(app)
    _check_no_demo_accounts(app)
    _check_public_base_url(app)
    return app


def _is_production(app: Flask) -> bool:
    return not app.config["DEMO"] and not app.config.get("TESTING")


def _check_secret_key(app: Flask) -> None:
    key = app.config.get("SECRET_KEY")
    if not key:
        raise UnsafeConfiguration("SECRET_KEY is not set. Set it, or set HOMEFOLLOW_DEMO=1 for a demo.")
    if _is_production(app) and (key == DEMO_SECRET_KEY or len(key) < 32):
        raise UnsafeConfiguration("Refusing to start: SECRET_KEY is the demo key or shorter than 32 characters.")


def _check_public_base_url(app: Flask) -> None:
    """Links in SMS and e-mail (a relative's invitation, a set-password link) must reach the
    service: production does not fall back to http://127.0.0.1:5000."""
    if not _is_production(app):
        return
    url = app.config.get("PUBLIC_BASE_URL") or ""
    if not url:
        raise UnsafeConfiguration("Refusing to start: PUBLIC_BASE_URL is not set. Set it to the address users reach "
                                  "HomeFollow at (e.g. https://homefollow.example.no), or set HOMEFOLLOW_DEMO=1 for a demo.")
    if not url.startswith(("https://", "http://")):
        raise UnsafeConfiguration(f"Refusing to start: PUBLIC_BASE_URL must start with https:// (got {url!r}).")


def _check_no_demo_accounts(app: Flask) -> None:
    if not _is_production(app):
        return
    from sqlalchemy import inspect, select
    from sqlalchemy.exc import OperationalError
    from sqlmodel import col

    from .models import Account

    engine = app.extensions["homefollow.engine"]
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("account"):
                return  # not migrated yet: nothing to check
            demo = conn.execute(select(col(Account.id)).where(col(Account.is_demo).is_(True)).limit(1)).first()
    except OperationalError:  # an unreachable database is reported by /healthz, not here
        return
    if demo is not None:
        raise UnsafeConfiguration("Refusing to start: the database contains demo accounts (HOMEFOLLOW_DEMO is off).")
