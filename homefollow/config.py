"""Settings from environment variables. The defaults give a zero-set-up SQLite database.

Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_DIR / "instance"

# Used only when HOMEFOLLOW_DEMO=1. Production refuses to start with it.
DEMO_SECRET_KEY = "homefollow-demo-secret-key-do-not-use-in-production"
# The address links in SMS and e-mail point to when PUBLIC_BASE_URL is unset: only for the demo
# and tests. Production refuses to start without PUBLIC_BASE_URL (an invitation SMS pointing at
# 127.0.0.1 reaches nobody).
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"

# API calls a minute per token (API_RATE_LIMIT_PER_MINUTE). One device hub for 1,000 patients sends
# about 4,000 readings in a 30-minute morning peak, 133 a minute; 600 leaves 4.5 times that (see
# docs/api.md, "Rate limits"). Failed authentications are also limited per address.
API_RATE_LIMIT_PER_MINUTE = 600
API_ADDRESS_RATE_LIMIT_PER_MINUTE = 600


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _positive(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value}")
    return value


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def from_environment() -> dict:
    demo = _bool("HOMEFOLLOW_DEMO")
    return {
        "DEMO": demo,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or (DEMO_SECRET_KEY if demo else None),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'homefollow.sqlite'}",
        # None when unset: the app factory uses the default for the demo and tests, and refuses
        # to start in production.
        "PUBLIC_BASE_URL": (os.environ.get("PUBLIC_BASE_URL") or "").strip().rstrip("/") or None,
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", default=not demo),
        "FORCE_HTTPS": _bool("FORCE_HTTPS", default=False),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "API_RATE_LIMIT": f"{_positive('API_RATE_LIMIT_PER_MINUTE', API_RATE_LIMIT_PER_MINUTE)} per minute",
        "API_ADDRESS_RATE_LIMIT": f"{API_ADDRESS_RATE_LIMIT_PER_MINUTE} per minute",
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID"),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN"),
        "TWILIO_FROM_NUMBER": os.environ.get("TWILIO_FROM_NUMBER"),
        "TWILIO_API_BASE_URL": os.environ.get("TWILIO_API_BASE_URL"),
        "TWILIO_WEBHOOK_SECRET": os.environ.get("TWILIO_WEBHOOK_SECRET"),
        "SMTP_HOST": os.environ.get("SMTP_HOST"),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD"),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS"),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "HomeFollow <no-reply@homefollow.invalid>"),
        "SCHEDULER_TICK_SECONDS": _int("SCHEDULER_TICK_SECONDS", 15),
        "SCHEDULER_STOP_GRACE_SECONDS": _int("SCHEDULER_STOP_GRACE_SECONDS", 8),
        # Per-message timeout towards Twilio and SMTP, and messages in flight per channel.
        "SEND_TIMEOUT_SECONDS": _float("SEND_TIMEOUT_SECONDS", 5.0),
        "SEND_CONCURRENCY": _int("SEND_CONCURRENCY", 4),
        "STAFF_SESSION_MINUTES": _int("STAFF_SESSION_MINUTES", 30),
        "PATIENT_SESSION_DAYS": _int("PATIENT_SESSION_DAYS", 90),
    }
