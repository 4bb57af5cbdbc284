"""Inbound SMS commands and the texts we answer with."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homefollow.notifications.sms_commands import (
    Acknowledge,
    FreeText,
    Help,
    Report,
    Start,
    Stop,
    Unknown,
    looks_like_code,
    parse_sms,
)
from homefollow.notifications.texts import (
    EXAMPLES,
    TEXTS,
    AckOutcome,
    ReportOutcome,
    message_text,
    page_text,
    reply_text,
    sms_segments,
)
from rules.measurements import CATALOGUE, ITEMS
from tests.conftest import examples

# -- acknowledge ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("OK K7Q2", "K7Q2"),
        ("ok k7q2", "K7Q2"),
        ("K7Q2", "K7Q2"),
        ("kvitter K7Q2", "K7Q2"),
        ("Kvittert k7qx4", "K7QX4"),
        ("Kvittér K7QX4", "K7QX4"),
        ("OK, K7QX4.", "K7QX4"),
        ("OK:K7QX4", "K7QX4"),
        ("  ok   k7qx4 ringer pasienten nå", "K7QX4"),
        ("ACDEF", "ACDEF"),  # a real code of letters only
        ("34679", "34679"),  # and of digits only
        ("k7qx4.", "K7QX4"),
        ("OK\u00a0K7QX4", "K7QX4"),  # non-breaking space from a phone keyboard
    ],
)
def test_acknowledge(text, code):
    assert parse_sms(text) == Acknowledge(code)


@pytest.mark.parametrize("text", ["OK", "ok takk", "Kvitter"])
def test_acknowledge_without_a_code(text):
    assert parse_sms(text) == Unknown("missing_code", detail=text)


@pytest.mark.parametrize("word", ["takk", "Hei", "TAKK", "ja", "nei", "VEKT", "TEMP", "7946"])
def test_common_words_are_not_codes(word):
    assert not isinstance(parse_sms(word), Acknowledge)


def test_looks_like_code():
    assert looks_like_code("K7QX4") and looks_like_code("k7q2") and looks_like_code("ACDEF")
    assert not looks_like_code("TAKK") and not looks_like_code("HALLO") and not looks_like_code("K7")


# -- stop, start, help ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("STOPP", Stop()), ("stop", Stop()), ("Stopp.", Stop()), ("Stopp takk", Stop()), ("STOPALL", Stop()),
        ("START", Start()), ("start!", Start()),
        ("HJELP", Help()), ("hjelp", Help()), ("?", Help()), (" ? ", Help()), ("help", Help()),
    ],
)
def test_keywords(text, command):
    assert parse_sms(text) == command


# -- reports ----------------------------------------------------------------------------------

BP = {"bp_systolic": 135.0, "bp_diastolic": 85.0}


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("BT 135/85 P 72", {"blood_pressure": BP, "pulse": {"pulse": 72.0}}),
        ("bt 135/85 p 72", {"blood_pressure": BP, "pulse": {"pulse": 72.0}}),
        ("BT135/85P72", {"blood_pressure": BP, "pulse": {"pulse": 72.0}}),
        ("BT 135 / 85, puls 72", {"blood_pressure": BP, "pulse": {"pulse": 72.0}}),
        ("Blodtrykk: 135/85 mmHg", {"blood_pressure": BP}),
        ("BLODTRYKK 135/85", {"blood_pressure": BP}),
        ("PULS 72", {"pulse": {"pulse": 72.0}}),
        ("Puls 72 slag/min", {"pulse": {"pulse": 72.0}}),
        ("VEKT 74,2", {"weight": {"weight": 74.2}}),
        ("vekt 74,2 kg", {"weight": {"weight": 74.2}}),
        ("V 74.2", {"weight": {"weight": 74.2}}),
        ("Vekt=74", {"weight": {"weight": 74.0}}),
        ("O2 93", {"spo2": {"spo2": 93.0}}),
        ("o2 93%", {"spo2": {"spo2": 93.0}}),
        ("SPO2 93", {"spo2": {"spo2": 93.0}}),
        ("SpO₂: 93 %", {"spo2": {"spo2": 93.0}}),
        ("METNING 93", {"spo2": {"spo2": 93.0}}),
        ("Oksygenmetning 93 prosent", {"spo2": {"spo2": 93.0}}),
        ("TEMP 37,8", {"temperature": {"temperature": 37.8}}),
        ("temp 37,8°C", {"temperature": {"temperature": 37.8}}),
        ("Temperatur 37.8 ℃", {"temperature": {"temperature": 37.8}}),
        ("BS 6,4", {"glucose": {"glucose": 6.4}}),
        ("BLODSUKKER 6,4", {"glucose": {"glucose": 6.4}}),
        ("blodsukker 6,4 mmol/l", {"glucose": {"glucose": 6.4}}),
        ("Weight 74.2 pulse 72", {"weight": {"weight": 74.2}, "pulse": {"pulse": 72.0}}),
        ("VEKT 74,2\nBT 135/85\nP 72\nO2 93\nTEMP 37,8\nBS 6,4", {
            "weight": {"weight": 74.2}, "blood_pressure": BP, "pulse": {"pulse": 72.0}, "spo2": {"spo2": 93.0},
            "temperature": {"temperature": 37.8}, "glucose": {"glucose": 6.4}}),
        ("VEKT 74,2; P 72.", {"weight": {"weight": 74.2}, "pulse": {"pulse": 72.0}}),
    ],
)
def test_report(text, values):
    command = parse_sms(text)
    assert isinstance(command, Report) and command.values == values  # with_unit: tests/test_units.py
    assert command.items == tuple(values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Unknown("empty")),
        ("   ", Unknown("empty")),
        ("VEKT sytti", Unknown("missing_number", detail="VEKT sytti", item="weight")),
        ("VEKT", Unknown("missing_number", detail="VEKT", item="weight")),
        ("Puls ", Unknown("missing_number", detail="Puls", item="pulse")),
        ("BT 135", Unknown("bp_format", detail="BT 135", item="blood_pressure")),
        ("P 135/85", Unknown("missing_number", detail="P 135/85", item="pulse")),
        ("135/85", Unknown("missing_keyword", detail="135/85")),
        ("74,2", Unknown("missing_keyword", detail="74,2")),
        ("VEKT 74, 2", Unknown("missing_keyword", detail="2")),
        ("blåbær 5", Unknown("unknown_word", detail="blåbær")),
        ("VEKT 74 VEKT 75", Unknown("duplicate", detail="VEKT 75", item="weight")),
        ("VEKT 740", Unknown("implausible", detail="VEKT 740", item="weight", code="weight", reason="too_high",
                             value=740.0)),
        ("O2 101", Unknown("implausible", detail="O2 101", item="spo2", code="spo2", reason="too_high",
                           value=101.0)),
        ("TEMP 3,78", Unknown("implausible", detail="TEMP 3,78", item="temperature", code="temperature",
                              reason="too_low", value=3.78)),
        ("BT 80/120", Unknown("implausible", detail="BT 80/120", item="blood_pressure", code="bp_diastolic",
                              reason="diastolic_not_below_systolic", value=120.0)),
        ("BT 120/120", Unknown("implausible", detail="BT 120/120", item="blood_pressure", code="bp_diastolic",
                               reason="diastolic_not_below_systolic", value=120.0)),
        ("BT 135/85 P 900", Unknown("implausible", detail="P 900", item="pulse", code="pulse", reason="too_high",
                                    value=900.0)),
        ("!!", Unknown("unknown_word", detail="!!")),
    ],
)
def test_errors(text, expected):
    assert parse_sms(text) == expected


def test_one_bad_part_stores_nothing():
    assert isinstance(parse_sms("VEKT 74,2 P 900"), Unknown)


def test_long_fragments_are_shortened():
    command = parse_sms("Blodsukkermålingenminidag 5")
    assert command.error_key == "unknown_word" and len(command.detail) <= 24 and command.detail.endswith("…")


def example_for(item: str, values: dict[str, float], keyword: str, decimal: str, space: str) -> str:
    def number(code: str) -> str:
        text = f"{values[code]:.{CATALOGUE[code].decimals}f}"
        return text.replace(".", decimal)
    if item == "blood_pressure":
        return f"{keyword}{space}{number('bp_systolic')}/{number('bp_diastolic')}"
    return f"{keyword}{space}{number(ITEMS[item].codes[0])}"


KEYWORDS_BY_ITEM = {
    "blood_pressure": ["BT", "bt", "Blodtrykk", "BP"],
    "pulse": ["P", "puls", "PULS"],
    "weight": ["VEKT", "vekt", "V"],
    "spo2": ["O2", "SPO2", "metning"],
    "temperature": ["TEMP", "Temperatur"],
    "glucose": ["BS", "blodsukker"],
}


@st.composite
def readings(draw):
    item = draw(st.sampled_from(list(KEYWORDS_BY_ITEM)))
    values = {}
    for code in ITEMS[item].codes:
        m = CATALOGUE[code]
        scale = 10 ** m.decimals
        values[code] = draw(st.integers(int(m.plausible_min * scale), int(m.plausible_max * scale))) / scale
    if item == "blood_pressure":
        assume_ok = values["bp_diastolic"] < values["bp_systolic"]
        if not assume_ok:
            values["bp_diastolic"], values["bp_systolic"] = 60.0, 120.0
    text = example_for(item, values, draw(st.sampled_from(KEYWORDS_BY_ITEM[item])), draw(st.sampled_from([",", "."])),
                       draw(st.sampled_from([" ", "  ", ": ", "="])))
    return item, values, text


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(readings(), min_size=1, max_size=6, unique_by=lambda r: r[0]), st.sampled_from([" ", ", ", "\n", "; "]))
def test_any_plausible_report_parses_back(parts, joiner):
    command = parse_sms(joiner.join(text for _, _, text in parts))
    assert command == Report({item: values for item, values, _ in parts})


@settings(max_examples=examples(500), deadline=None)
@given(st.text(max_size=60))
def test_parse_never_raises_and_replies_fit_two_segments(text):
    command = parse_sms(text)
    assert isinstance(command, (Acknowledge, Report, Stop, Start, Help, FreeText, Unknown))
    if not isinstance(command, (Acknowledge, Report, FreeText)):
        for locale in ("nb", "en"):
            assert sms_segments(reply_text(command, locale)) <= 2


# -- reply texts ------------------------------------------------------------------------------


def test_reply_for_a_word_that_is_not_a_number():
    assert reply_text(parse_sms("VEKT sytti"), "nb") == "Vi forstod ikke «VEKT sytti». Skriv for eksempel: VEKT 74,2"
    assert reply_text(parse_sms("VEKT sytti"), "en") == (
        'We did not understand "VEKT sytti". Write for example: WEIGHT 74.2')


def test_implausible_reply_names_the_problem_and_an_example():
    assert reply_text(parse_sms("VEKT 740"), "nb") == (
        "«VEKT 740» er for høyt til å stemme. Sjekk tallet og send på nytt, for eksempel: VEKT 74,2")
    assert reply_text(parse_sms("BT 80/120"), "en") == (
        'In "BT 80/120" the first number must be the larger one. Write for example: BP 135/85')


def test_english_replies_stay_gsm7():
    command = parse_sms("Blodsukkermålingenminidag 5")
    text = reply_text(command, "en")
    assert "…" not in text and "..." in text


def test_stop_start_help_replies_always_name_the_emergency_number_where_it_matters():
    assert "113" in reply_text(Stop(), "nb") and "113" in reply_text(Help(), "en")
    assert reply_text(Start(), "nb").startswith("SMS fra HomeFollow er slått på igjen")


def test_ack_replies():
    assert reply_text(AckOutcome("K7QX4", "acknowledged", 30), "nb") == (
        "Kvittert: varsel K7QX4. Avslutt det i HomeFollow innen 30 min, ellers går det tilbake i køen.")
    assert reply_text(AckOutcome("K7QX4", "unknown_code"), "en") == (
        "No open alert has the code K7QX4. Check the code and reply OK and the code.")
    with pytest.raises(ValueError):
        reply_text(AckOutcome("K7QX4", "acknowledged"), "nb")


def test_report_replies_name_items_not_values():
    green = reply_text(ReportOutcome(("blood_pressure", "pulse"), "green"), "nb")
    assert green == "Takk! Vi har registrert blodtrykk og puls. Fortsett som vanlig."
    assert "135" not in green
    red = reply_text(ReportOutcome(("spo2",), "red", "Ta 2 drag av nødmedisinen og ring legevakt 116117."), "nb")
    assert red == ("Vi har registrert oksygenmetning. Ta 2 drag av nødmedisinen og ring legevakt 116117. "
                   "Ved akutt fare: ring 113.")


def test_a_plan_instruction_too_long_for_two_segments_points_to_the_plan():
    long = "Følg punkt 3 i egenbehandlingsplanen: " + "ta medisinen og hvil, " * 15
    text = reply_text(ReportOutcome(("weight",), "yellow", long), "nb")
    assert text == "Takk! Vi har registrert vekt. Følg planen din. Teamet ditt ser på målingen."
    assert reply_text(ReportOutcome(("weight",), "red"), "en").endswith(
        "Follow your plan now. In an emergency: call 113.")


def test_pages_carry_no_patient_detail():
    text = page_text("red", "Hjemmeoppfølging Tromsø", "K7QX4", "nb")
    assert text == "HomeFollow: nytt RØDT varsel i Hjemmeoppfølging Tromsø. Kode K7QX4. Svar OK K7QX4 for å kvittere."
    assert sms_segments(text) == 1
    assert message_text("reminder", "nb") == "HomeFollow: Det er tid for din registrering."


def test_commands_that_need_an_outcome_are_refused():
    with pytest.raises(TypeError, match="AckOutcome"):
        reply_text(Acknowledge("K7QX4"), "nb")


def test_locales():
    assert reply_text(Help(), "nb_NO") == reply_text(Help(), "nb") == reply_text(Help(), "nn")
    assert reply_text(Help(), "en_GB") == TEXTS["help"]


def test_every_text_exists_in_both_languages_and_fits_two_segments():
    facts = {"code": "K7QX4", "minutes": 240, "team": "Hjemmeoppfølging Nord-Troms", "severity": "GULT",
             "items": "blodtrykk, puls og oksygenmetning", "instruction": "Ring teamet i dag.",
             "detail": "x" * 23 + "…", "example": "BT 135/85 P 72", "name": "oksygenmetning",
             "url": "https://hjemmeoppfolging.tromso.kommune.no/login/code",
                 "where": "UNN Tromsø, Medisinsk sengepost 5", "phone": "+47 77 62 60 00", "hospital": "UNN Tromsø",
             "first": "165,5 kg", "second": "165,5 pounds (75,1 kg)", "first_example": "WEIGHT 165,5 KG",
             "second_example": "WEIGHT 165,5 LB", "number": "101,3", "unit": "degrees Celsius",
             "choice": "101,3 degrees Fahrenheit (38,5 degrees Celsius)",
             "advice": "Teamet er stengt nå og åpner igjen mandag kl. 08:00. Haster det, ring teamets vakttelefon "
                       "77 62 60 00."}
    for key in TEXTS:
        for lang in ("nb", "en"):
            text = message_text(key, lang, **facts)
            assert text, (key, lang)
            assert sms_segments(text) <= 2, (key, lang)
    assert message_text("stop", "nb") != message_text("stop", "en")  # the catalogue translates


def test_examples_parse():
    for item, texts in EXAMPLES.items():
        for text in texts.values():
            command = parse_sms(text)
            assert isinstance(command, Report), text
            if item != "any":
                assert command.items == (item,)


def test_sms_segments():
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("æøå ÆØÅ") == 1  # Norwegian letters are in GSM-7
    assert sms_segments("«" + "a" * 69) == 1 and sms_segments("«" + "a" * 70) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extension: two septets each
