"""A number typed with a space between its digits ("7 2") is refused with a question, never
joined silently (issue 20: "7 2" was stored as a weight of 72,0 kg). The check sits in the one
number parser every channel uses (rules.measurements.parse_decimal): web and SMS."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homefollow.models import Measurement
from homefollow.notifications.sms_commands import Report as SmsReport, Unknown, parse_sms
from rules import units
from rules.measurements import SplitNumber, parse_decimal
from tests.test_units import A1, hook_app, signed_in, sms  # noqa: F401 - fixtures and helpers


def stored(session) -> list[tuple[str, float]]:
    session.expire_all()
    return [(m.code, m.value) for m in session.exec(select(Measurement).order_by(Measurement.id))]


@pytest.mark.parametrize(("text", "value"), [("72,5", 72.5), ("72.5", 72.5), (" 72 ", 72.0), ("70\u00a0,4", 70.4),
                                             ("70 ,4", 70.4), ("-3", -3.0)])
def test_ordinary_numbers_still_parse(text, value):
    assert parse_decimal(text) == value


@pytest.mark.parametrize("text", ["7 2", "7\u00a02", "72 5", "1 234", "7\t2", "7 2,5"])
def test_digits_separated_by_a_space_are_refused(text):
    with pytest.raises(SplitNumber):
        parse_decimal(text)
    with pytest.raises(ValueError):  # every caller that refuses a bad number refuses this too
        units.parse_entry("weight", text)


def test_a_weight_typed_7_space_2_on_the_web_is_asked_about_and_not_stored(app, session, world):
    patient = signed_in(app, A1)
    response = patient.submit("/report/weight", {"weight": "7 2"})
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    assert "Sjekk dette" in page
    assert "Du skrev «7 2» med mellomrom inne i tallet. Mente du 72 eller 7,2? Skriv tallet på nytt uten mellomrom." in page
    assert 'aria-invalid="true"' in page
    assert stored(session) == []


def test_a_pulse_typed_with_a_space_gets_an_example_not_a_decimal(app, session, world):
    patient = signed_in(app, A1)
    response = patient.submit("/report/pulse", {"pulse": "7 2"})
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    assert "Du skrev «7 2» med mellomrom inne i tallet. Hva mente du?" in page and "7,2" not in page
    assert stored(session) == []


def test_the_english_message_asks_too(app, session, world):
    patient = signed_in(app, A1)
    patient.submit("/today", {"locale": "en"}, action="/locale")
    page = " ".join(patient.submit("/report/weight", {"weight": "7 2"}).get_data(as_text=True).split())
    assert "with a space inside the number. Did you mean 72 or 7.2?" in page


def test_72_5_with_comma_or_point_is_still_stored_on_the_web(app, session, world):
    patient = signed_in(app, A1)
    assert patient.submit("/report/weight", {"weight": "72,5"}).status_code == 302
    assert stored(session) == [("weight", 72.5)]


def test_by_sms_7_space_2_is_not_a_weight():
    assert isinstance(parse_sms("VEKT 7 2"), Unknown)
    assert parse_sms("VEKT 72,5") == SmsReport({"weight": {"weight": 72.5}}, {})


def test_by_sms_a_weight_7_space_2_stores_nothing_and_replies(hook_app, session, world):  # noqa: F811
    """The SMS parser reads numbers token by token: "7" is refused as too low (never joined to
    72), and "VEKT 80 2" has a number without a keyword. Either way nothing is stored and the
    reply quotes what was not understood."""
    reply = sms(hook_app, A1, "VEKT 7 2", sid="SM72")
    assert "«VEKT 7» er for lavt til å stemme" in reply
    reply = sms(hook_app, A1, "VEKT 80 2", sid="SM802")
    assert "Vi forstod ikke «2»" in reply
    assert stored(session) == []
