"""The database helpers that build dialect-specific SQL (homefollow.db), on both databases."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from homefollow.db import among_ids
from homefollow.models import Patient

pytestmark = pytest.mark.both_backends


def test_among_ids_finds_exactly_the_rows_of_the_ids_given(session, world):
    everyone = sorted(session.exec(select(Patient.id)).all())
    assert len(everyone) >= 3, "the standard world has several patients"

    def found(ids):
        return sorted(session.exec(select(Patient.id).where(among_ids(session, col(Patient.id), ids))).all())

    assert found(everyone[:2]) == everyone[:2]
    assert found([everyone[-1], 2**31 - 1]) == [everyone[-1]]  # an id with no row finds nothing
    assert found([]) == []
    assert found(iter(everyone)) == everyone  # any iterable of ids, read once
    # A team-sized list is one parameter on PostgreSQL, within SQLite's limit as IN (…).
    assert found(list(range(1, 1001)) + everyone) == everyone
