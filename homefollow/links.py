"""Absolute links for messages sent outside a request (e-mail pages, status callbacks).

Set once from the app's PUBLIC_BASE_URL when the app is created, in web and scheduler
processes alike."""

from __future__ import annotations

_base_url = "http://127.0.0.1:5000"


def configure(base_url: str) -> None:
    global _base_url
    _base_url = base_url.rstrip("/")


def public_url(path: str) -> str:
    return _base_url + path
