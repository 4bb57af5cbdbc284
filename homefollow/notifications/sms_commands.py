"""Inbound SMS: parse the text into a typed command.

Pure: no database, no network. The webhook decides what a command means for the sender (a
nurse may acknowledge, a patient may report), carries it out, and answers with
`texts.reply_text(outcome, locale)`; every text we send by SMS is in homefollow/notifications/texts.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from rules import units
from rules.measurements import ITEMS, ImplausibleValue, check_item_plausible, parse_decimal


# -- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledge:
    short_code: str  # upper case, as typed; the webhook looks it up


@dataclass(frozen=True)
class Report:
    # item key (rules.measurements.ITEMS) → {measurement code: value}, in message order, in the
    # canonical units (a value typed in pounds, °F or mg/dL is converted)
    values: dict[str, dict[str, float]] = field(hash=False)
    # Values typed with a unit after them ("VEKT 165 LB", "TEMP 37,8 C"), by measurement code,
    # for measurements that have other units than the canonical one (rules.units): what was
    # typed and how it was taken. A value not in here was typed without a unit, and the
    # webhook checks it against the patient's usual value before storing it.
    with_unit: dict[str, units.Reading] = field(default_factory=dict, hash=False)

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(self.values)


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class FreeText:
    """Words for the care team, not a command or a reading ("Jeg har vondt i brystet siden i går
    kveld"): the webhook stores it as a message to the team when the sender may write for a
    patient. See free_text() for where the line to a reading is drawn."""

    text: str


@dataclass(frozen=True)
class AskUnit:
    """A value typed without a unit that fits another unit clearly better (rules.units.interpret):
    "TEMP 101" (impossible in °C, 38.3 °C in °F), or "VEKT 165" from a patient around 74 kg.
    Nothing is stored; the reply asks which unit was meant."""

    item: str
    code: str
    number: float  # as typed
    choices: tuple[units.Reading, ...]  # what it can mean, the canonical unit first


ErrorKey = Literal["empty", "unknown_word", "missing_number", "missing_keyword", "bp_format", "implausible",
                   "duplicate", "missing_code"]


@dataclass(frozen=True)
class Unknown:
    error_key: ErrorKey
    detail: str = ""  # the part of the message we did not understand, as typed
    item: str | None = None  # the measurement item concerned, if any
    code: str | None = None  # for "implausible": the measurement code
    reason: str | None = None  # for "implausible": ImplausibleValue.reason
    value: float | None = None


Command = Acknowledge | Report | Stop | Start | Help | FreeText | AskUnit | Unknown

# -- vocabulary ------------------------------------------------------------------------------

STOP_WORDS = frozenset({"STOP", "STOPP", "STOPALL", "UNSUBSCRIBE", "AVMELD"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HJELP", "HELP", "INFO", "?"})
ACK_WORDS = frozenset({"OK", "KVITTER", "KVITTÉR", "KVITTERT", "ACK"})

KEYWORDS: dict[str, str] = {
    **dict.fromkeys(("BT", "BLODTRYKK", "BP", "BLOODPRESSURE"), "blood_pressure"),
    **dict.fromkeys(("P", "PULS", "PULSE", "HR"), "pulse"),
    **dict.fromkeys(("V", "VEKT", "W", "WEIGHT"), "weight"),
    **dict.fromkeys(("O2", "SPO2", "METNING", "OKSYGEN", "OKSYGENMETNING", "SAT", "SATURASJON"), "spo2"),
    **dict.fromkeys(("T", "TEMP", "TEMPERATUR", "TEMPERATURE"), "temperature"),
    **dict.fromkeys(("BS", "BLODSUKKER", "GLUKOSE", "GLUCOSE", "SUKKER"), "glucose"),
}
# Unit words a patient may type after a value; skipped, values are taken in catalogue units.
UNITS: dict[str, frozenset[str]] = {
    "blood_pressure": frozenset({"MMHG"}),
    "pulse": frozenset({"BPM", "SLAG", "MIN", "/"}),
    "spo2": frozenset({"%", "PROSENT"}),
    "weight": frozenset({"KG", "KILO"}),
    "temperature": frozenset({"°", "C", "GRADER"}),
    "glucose": frozenset({"MMOL", "L", "/"}),
}
# Short codes are made from this alphabet (homefollow.services.alerts), 5 characters long.
CODE_ALPHABET = frozenset("ACDEFHJKMNPQRTUVWXY34679")
CODE_LENGTH = 5

_TOKEN = re.compile(
    r"""(?P<bp>\d+(?:[.,]\d+)?\s*/\s*\d+(?:[.,]\d+)?)
      | (?P<num>\d+(?:[.,]\d+)?)
      | (?P<word>(?:SPO|O)2(?!\d)|[^\W\d_]+)
      | (?P<sep>[\s,;:=.!()\-]+)
      | (?P<other>.)""",
    re.X | re.I,
)
_ACK = re.compile(r"^(?P<word>[^\W\d_]+)[\s,.:;!\-]*(?P<code>[a-z0-9]+)?", re.I)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _normalise(text: str) -> str:
    # NFKC turns non-breaking spaces into spaces, "O₂" into "O2" and "℃" into "°C".
    return unicodedata.normalize("NFKC", text or "").strip()


def looks_like_code(token: str) -> bool:
    """A reply token that is an alert code: 5 characters of the code alphabet, or 4–8 letters
    and digits mixing both (a code typed with a slip). "TAKK" and "7946" are not codes."""
    t = token.upper()
    if len(t) == CODE_LENGTH and set(t) <= CODE_ALPHABET:
        return True
    return (4 <= len(t) <= 8 and t.isascii() and t.isalnum() and any(c.isdigit() for c in t)
            and any(c.isalpha() for c in t))


def parse_sms(text: str) -> Command:
    """The command in an inbound SMS. Never raises: anything unclear is Unknown."""
    s = _normalise(text)
    if not s:
        return Unknown("empty")
    words = s.upper().split()
    first = words[0].strip(".!,")
    # "Hjelp" alone asks how to send readings; "Hjelp, jeg får ikke puste" is words for the team.
    if s.strip(" .!") == "?" or (first in HELP_WORDS and len(words) == 1):
        return Help()
    # Opt-out is honoured even with words after it ("Stopp takk").
    if first in STOP_WORDS:
        return Stop()
    if first in START_WORDS:
        return Start()
    ack = _ACK.match(s)
    if ack and ack["word"].upper() in ACK_WORDS:
        code = ack["code"]
        if code and looks_like_code(code):
            return Acknowledge(code.upper())
        return Unknown("missing_code", detail=_short(s))
    bare = s.strip(" .!")
    if len(words) == 1 and bare.upper() not in KEYWORDS and looks_like_code(bare):
        return Acknowledge(bare.upper())
    message = free_text(s)
    if message is not None:
        return message
    command = _parse_report(s)
    # "Puls 72 og jeg er svimmel": a reading with words the parser does not know is words for
    # the team, not a reading to correct.
    if isinstance(command, Unknown) and command.error_key == "unknown_word" and len(_plain_words(s)) >= 2:
        return FreeText(s)
    return command


def _plain_words(s: str) -> list[_Tok]:
    """Words that are neither a measurement keyword nor a unit."""
    unit_words = frozenset().union(*UNITS.values())
    return [tok for tok in _tokens(s) if tok.kind == "word" and tok.upper not in KEYWORDS
            and tok.upper not in unit_words]


def free_text(text: str) -> FreeText | None:
    """The text as words for the team, or None when it tries to be a reading or a command.

    The line: at least two words, and the first word (or number) is not a measurement keyword
    or a number. "Jeg har vondt i brystet", "Vekten min er 74" and "Hei! Har dere tid?" are
    messages; "BT 135/8", "VEKT sytti", "135/85" and "blåbær 5" try to be readings and get the
    precise error reply; a single word ("Takk") is not a message. parse_sms also takes a
    reading followed by two or more other words ("O2 93 og tungpust") as a message."""
    s = _normalise(text)
    toks = [tok for tok in _tokens(s) if tok.kind != "other"]
    words = [tok for tok in toks if tok.kind == "word"]
    if toks and toks[0].kind == "word" and toks[0].upper not in KEYWORDS and len(words) >= 2:
        return FreeText(s)
    return None


def _tokens(s: str) -> list[_Tok]:
    return [_Tok(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(s)
            if m.lastgroup is not None and m.lastgroup != "sep"]


def _short(fragment: str, limit: int = 24) -> str:
    fragment = " ".join(fragment.split())
    return fragment if len(fragment) <= limit else fragment[: limit - 1].rstrip() + "…"


def _unit_after(toks: list[_Tok], i: int, code: str) -> tuple[str | None, int]:
    """The unit typed from token i on ("LB", "mg/dl", "°F", "grader"): its key, or None for no
    unit (or a word that names none, such as "grader"), and the index after it."""
    for k in (3, 2, 1):
        part = toks[i:i + k]
        if len(part) == k and all(t.kind in ("word", "other") for t in part):
            found = units.unit_of_word(code, "".join(t.text for t in part))
            if found is not False:
                return (found.key if isinstance(found, units.Unit) else None), i + k
    return None, i


def _parse_report(s: str) -> Command:
    toks = _tokens(s)
    values: dict[str, dict[str, float]] = {}
    with_unit: dict[str, units.Reading] = {}
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind in ("num", "bp"):
            return Unknown("missing_keyword", detail=_short(tok.text))
        item = KEYWORDS.get(tok.upper) if tok.kind == "word" else None
        if item is None:
            return Unknown("unknown_word", detail=_short(tok.text))
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        fragment = _short(s[tok.start: nxt.end if nxt is not None else tok.end])
        if item in values:
            return Unknown("duplicate", detail=fragment, item=item)
        wanted = "bp" if item == "blood_pressure" else "num"
        if nxt is None or nxt.kind not in ("num", "bp"):
            return Unknown("missing_number", detail=_short(s[tok.start: nxt.end] if nxt else tok.text), item=item)
        if nxt.kind != wanted:
            return Unknown("bp_format" if item == "blood_pressure" else "missing_number", detail=fragment, item=item)
        numbers = [parse_decimal(part) for part in nxt.text.split("/")]
        reading = dict(zip(ITEMS[item].codes, numbers, strict=True))
        i += 2
        code = ITEMS[item].codes[0]
        if len(numbers) == 1 and units.has_other_units(code):
            unit_key, i = _unit_after(toks, i, code)
            fragment = _short(s[tok.start: toks[i - 1].end])
            try:
                meaning = units.interpret(code, units.Entry(numbers[0], unit_key), patient_known=False)
            except ImplausibleValue as exc:
                return Unknown("implausible", detail=fragment, item=item, code=exc.code, reason=exc.reason,
                               value=exc.value)
            if meaning.ask:
                return AskUnit(item, code, numbers[0], meaning.choices)
            reading = {code: meaning.reading.value}
            if unit_key is not None:
                with_unit[code] = meaning.reading
        try:
            check_item_plausible(item, reading)
        except ImplausibleValue as exc:
            return Unknown("implausible", detail=fragment, item=item, code=exc.code, reason=exc.reason,
                           value=exc.value)
        values[item] = reading
        while i < len(toks) and toks[i].upper in UNITS[item]:
            i += 1
    if not values:  # only punctuation, e.g. "!!"
        return Unknown("unknown_word", detail=_short(s))
    return Report(values, with_unit)


__all__ = [
    "CODE_ALPHABET",
    "KEYWORDS",
    "Acknowledge",
    "AskUnit",
    "Command",
    "FreeText",
    "Help",
    "Report",
    "Start",
    "Stop",
    "Unknown",
    "free_text",
    "looks_like_code",
    "parse_sms",
]
