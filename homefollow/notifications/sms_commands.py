"""Inbound SMS: parse the text into a typed command, and the texts we answer with.

Pure: no database, no network. The webhook decides what a command means for the sender (a
nurse may acknowledge, a patient may report), carries it out, and answers with
`reply_text(outcome, locale)`. Every text we send by SMS is in TEXTS below, in Norwegian
bokmål and English, so the translation catalogue can take them over in one place.

Texts carry no more health detail than the reader needs: pages to staff name the team and a
short code, never the patient or values; patients' reminders say only that something is
due; replies to a patient echo at most what the patient just typed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from rules import units
from rules.measurements import ITEMS, ImplausibleValue, check_item_plausible, parse_decimal

from ..i18n import N_, t

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

# -- outcomes the webhook reports back for a reply -------------------------------------------


@dataclass(frozen=True)
class AckOutcome:
    short_code: str
    status: Literal["acknowledged", "unknown_code", "already_acknowledged", "already_resolved", "not_allowed"]
    ack_timeout_minutes: int | None = None  # for "acknowledged": when it returns to the queue


@dataclass(frozen=True)
class ReportOutcome:
    items: tuple[str, ...]  # item keys stored
    zone: Literal["green", "yellow", "red", "none"]  # none: no rule judges these values
    instruction: str | None = None  # the patient's plan instruction for that zone, if any
    converted: tuple[units.Reading, ...] = ()  # values typed in another unit: echoed with the conversion
    # Yellow or red while the team is closed: whom to call now, in words (services.teams.call_advice).
    advice: str | None = None
    # A single yellow reading that must be confirmed: measure again within this many minutes.
    remeasure_minutes: int | None = None


@dataclass(frozen=True)
class MessageOutcome:
    """A text stored as a message to the team. `advice`: whom to call now, in words
    (services.teams.call_advice); None when the sender's follow-up is not running, so nobody
    reads it."""

    advice: str | None


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


# -- texts -----------------------------------------------------------------------------------

# One table for every SMS text; placeholders in {braces}. Norwegian uses «» (the example
# wording teams asked for); that makes the message UCS-2 (70 characters per segment), so
# those texts are kept under 134 characters with typical facts (two segments).
# Every text sent by SMS, by key. The English text is the catalogue msgid; translations are in
# homefollow/translations (nb tuned to stay within two SMS segments).
TEXTS: dict[str, str] = {
    'stop': N_("You will get no more SMS from HomeFollow. Send START to get SMS again. In an emergency: call 113."),
    'start': N_("SMS from HomeFollow are on again. Send STOP to stop them."),
    # STOP from staff or a team's on-call phone (services.sms_inbox): duty pages go on. Twilio
    # itself blocks a number that sent its own keyword STOP until it sends START, hence the last
    # sentence.
    'stop.duty': N_("This number gets duty pages from HomeFollow (%(team)s), and STOP cannot switch them off: ask "
                    "the team admin to change the rota or the on-call number. Send START to get duty pages again."),
    # To the team's admins (always Norwegian), after such a STOP; %(name)s is the staff member's
    # name, or this for a number that is no one's.
    'admin.on_call_phone': N_("The on-call phone"),
    'admin.duty_stop': N_("HomeFollow: %(name)s (%(phone)s) sent STOP. Duty pages still go to the number, but the "
                          "SMS provider may block them until it sends START. Change the rota or the on-call number "
                          "of %(team)s: %(url)s"),
    'help': N_("Send readings like this: BP 135/85 P 72, WEIGHT 74.2, O2 93, TEMP 37.8, BS 6.4. STOP stops SMS. Out-of-hours clinic: 116117. In an emergency: call 113."),
    'ack.acknowledged': N_("Acknowledged: alert %(code)s. Resolve it in HomeFollow within %(minutes)s min, or it returns to the queue."),
    'ack.unknown_code': N_("No open alert has the code %(code)s. Check the code and reply OK and the code."),
    'ack.already_acknowledged': N_("Alert %(code)s has already been acknowledged by a colleague."),
    'ack.already_resolved': N_("Alert %(code)s has already been resolved."),
    'ack.not_allowed': N_("This number cannot acknowledge alert %(code)s. Sign in to HomeFollow."),
    'report.green': N_("Thank you! We have recorded %(items)s. Carry on as usual."),
    'report.none': N_("Thank you! We have recorded %(items)s. Your plan has no limits for it, so the team is not told. In an emergency: call 113."),
    'report.remeasure': N_("Thank you! We have recorded %(items)s. It is outside your limit: measure again within %(minutes)s minutes and send it. If not, the team is told."),
    'report.yellow': N_("Thank you! We have recorded %(items)s. %(instruction)s"),
    'report.yellow.plan': N_("Thank you! We have recorded %(items)s. Follow your plan. Your team will look at the reading."),
    'report.red': N_("We have recorded %(items)s. %(instruction)s In an emergency: call 113."),
    'report.red.plan': N_("We have recorded %(items)s. Follow your plan now. In an emergency: call 113."),
    'error.empty': N_("The message was empty. Write for example: %(example)s. Reply HELP for more examples."),
    'error.unknown_word': N_("We did not understand \"%(detail)s\". Write for example: %(example)s. Reply HELP for more examples."),
    'error.missing_number': N_("We did not understand \"%(detail)s\". Write for example: %(example)s"),
    'error.missing_keyword': N_("We did not understand \"%(detail)s\". Write what you measured before the number, for example: %(example)s"),
    'error.bp_format': N_("We did not understand \"%(detail)s\". Write blood pressure as two numbers with a slash, for example: %(example)s"),
    'error.duplicate': N_("You sent %(name)s twice. Send one value per reading, for example: %(example)s"),
    'error.implausible.too_low': N_("\"%(detail)s\" is too low to be right. Check the number and send again, for example: %(example)s"),
    'error.implausible.too_high': N_("\"%(detail)s\" is too high to be right. Check the number and send again, for example: %(example)s"),
    'error.implausible.not_a_number': N_("We did not understand the number in \"%(detail)s\". Write for example: %(example)s"),
    'error.implausible.diastolic_not_below_systolic': N_("In \"%(detail)s\" the first number must be the larger one. Write for example: %(example)s"),
    'error.missing_code': N_("We did not understand \"%(detail)s\". To acknowledge an alert, reply OK and the code, e.g. OK K7QX4."),
    'page': N_("HomeFollow: new %(severity)s alert in %(team)s. Code %(code)s. Reply OK %(code)s to acknowledge."),
    'severity.red': N_("RED"),
    'severity.yellow': N_("YELLOW"),
    'remeasure': N_("HomeFollow: Please take a new reading now and send it in. In an emergency: call 113."),
    'reminder': N_("HomeFollow: It is time for your check-in."),
    'new_message': N_("HomeFollow: You have a new message from your care team. Sign in to read it."),
    'invitation': N_("HomeFollow: %(name)s has given you access as a relative. Sign in with your mobile number: %(url)s"),
    'login_code': N_("HomeFollow: Your code is %(code)s. It is valid for 10 minutes. Do not share it."),
    # Sent when the alert opens, before anyone has answered: say that the team was told, not
    # that it is already following up.
    'relative_alert': N_("HomeFollow: A measurement from %(name)s needs follow-up and the care team has been told. Sign in to see more."),
    # The same when the team is closed (services.relatives.relative_alert_text): never "the team
    # follows up" at night. Who has been told instead, then what to do (.call or .call.phone).
    'relative_alert.closed': N_("HomeFollow: A measurement from %(name)s needs follow-up. The care team is closed now, so the team's on-call service has been told."),
    # Closed, and the team has no out-of-hours route: nobody sees it before the team opens.
    'relative_alert.closed.unrouted': N_("HomeFollow: A measurement from %(name)s needs follow-up. The care team is closed now and will not see it until it opens."),
    'relative_alert.call': N_("If it is serious, call 113. If you are unsure, call the emergency clinic (legevakt) on 116117."),
    'relative_alert.call.phone': N_("If it is serious, call 113. If you are unsure, call the out-of-hours phone on %(number)s."),
    'stay.admitted': N_("HomeFollow: A patient followed by %(team)s has been admitted to %(where)s. The patient has a plan with you; the ward can be reached at %(phone)s. Queue code %(code)s."),
    'stay.admitted.no_phone': N_("HomeFollow: A patient followed by %(team)s has been admitted to %(where)s. The patient has a plan with you; contact the ward to hand over. Queue code %(code)s."),
    'unknown_sender': N_("This number is not registered in HomeFollow. Ask your care team for help."),
    # A value typed without a unit that fits another unit better (AskUnit): nothing is stored.
    'unit.ask': N_("Did you mean %(first)s or %(second)s? Send %(first_example)s or %(second_example)s. Nothing has been recorded yet."),
    'unit.ask.one': N_("%(number)s cannot be %(unit)s. Did you mean %(choice)s? Then send %(example)s. Nothing has been recorded yet."),
    # Units in replies, in words that keep an SMS in GSM-7 ("°" would not).
    'unit.kg': N_("kg"),
    'unit.lb': N_("pounds"),
    'unit.°C': N_("degrees Celsius"),
    'unit.°F': N_("degrees Fahrenheit"),
    'unit.mmol/L': N_("mmol/L"),
    'unit.mg/dL': N_("mg/dL"),
    # A free text from a patient or relative, stored as a message to the team; %(advice)s is
    # services.teams.call_advice (open or closed now, whom to call if it is urgent).
    'message.sent': N_("Your message has been sent to the care team. Messages are not for emergencies. %(advice)s In an emergency: call 113."),
    'message.not_followed': N_("HomeFollow is not following you up now, so nobody reads this message. Call your GP or legevakt on 116117. In an emergency: call 113."),
}

EXAMPLES: dict[str, dict[str, str]] = {
    "blood_pressure": {"nb": "BT 135/85", "en": "BP 135/85"},
    "pulse": {"nb": "PULS 72", "en": "PULSE 72"},
    "spo2": {"nb": "O2 93", "en": "O2 93"},
    "weight": {"nb": "VEKT 74,2", "en": "WEIGHT 74.2"},
    "temperature": {"nb": "TEMP 37,8", "en": "TEMP 37.8"},
    "glucose": {"nb": "BS 6,4", "en": "BS 6.4"},
    "any": {"nb": "BT 135/85 P 72", "en": "BP 135/85 P 72"},
}

# GSM 03.38: the basic set and the extension table (two septets each). Anything else makes
# the whole message UCS-2.
_GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXT = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS segments a text needs (GSM-7: 160 / 153 per part; UCS-2: 70 / 67)."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in text):
        units, single, part = len(text) + sum(c in _GSM7_EXT for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def _lang(locale: str) -> str:
    return "nb" if str(locale)[:2] in ("nb", "no", "nn") else "en"


def message_text(key: str, locale: str, **facts: object) -> str:
    """A text of the table by key, translated and filled in. Unknown keys raise KeyError."""
    return t(_lang(locale), TEXTS[key], **facts)


def _typed(reading: units.Reading, lang: str) -> str:
    """'165 pounds': the number as typed, in the unit it was taken in."""
    return f"{units.typed_number(reading.number, lang)} {message_text('unit.' + reading.unit, lang)}"


def _stored(reading: units.Reading, lang: str) -> str:
    """'74.8 kg': the value as stored, in the canonical unit."""
    unit_key = units.canonical_unit(reading.code).key
    return f"{units.value_number(reading, lang)} {message_text('unit.' + unit_key, lang)}"


def _with_conversion(reading: units.Reading, lang: str) -> str:
    """'165 pounds (74.8 kg)'; a reading in the canonical unit: '165 kg'."""
    return f"{_typed(reading, lang)} ({_stored(reading, lang)})" if reading.converted else _typed(reading, lang)


def _ask_unit_text(question: AskUnit, lang: str) -> str:
    keyword = EXAMPLES[question.item][lang].split()[0]

    def example(reading: units.Reading) -> str:
        short = units.unit(question.code, reading.unit).short.upper()
        return f"{keyword} {units.typed_number(question.number, lang)} {short}"

    if len(question.choices) == 1:  # impossible in the canonical unit
        choice = question.choices[0]
        return message_text("unit.ask.one", lang, number=units.typed_number(question.number, lang),
                            unit=message_text("unit." + units.canonical_unit(question.code).key, lang),
                            choice=_with_conversion(choice, lang), example=example(choice))
    first, second = question.choices[:2]
    return message_text("unit.ask", lang, first=_with_conversion(first, lang), second=_with_conversion(second, lang),
                        first_example=example(first), second_example=example(second))


def _items_phrase(items: tuple[str, ...], lang: str, converted: tuple[units.Reading, ...] = ()) -> str:
    """'blodtrykk og puls'; a value typed in another unit with its conversion: 'vekt 74,8 kg (165 pund)'."""
    by_code = {r.code: r for r in converted}
    names = []
    for i in items:
        name = ITEMS[i].name(lang).lower()
        reading = next((by_code[c] for c in ITEMS[i].codes if c in by_code), None)
        if reading is not None:
            name += f" {_stored(reading, lang)} ({_typed(reading, lang)})"
        names.append(name)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + (" og " if lang == "nb" else " and ") + names[-1]


def reply_text(subject: Command | AckOutcome | ReportOutcome | str, locale: str, **facts: object) -> str:
    """The SMS to send back for a parsed command (Stop, Start, Help, Unknown), for the outcome
    of carrying one out (AckOutcome, ReportOutcome), or for a TEXTS key with its facts."""
    lang = _lang(locale)
    if isinstance(subject, str):
        return message_text(subject, lang, **facts)
    if isinstance(subject, (Stop, Start, Help)):
        return message_text(type(subject).__name__.lower(), lang)
    if isinstance(subject, Unknown):
        key = f"error.{subject.error_key}"
        if subject.error_key == "implausible":
            key += f".{subject.reason}"
        name = ITEMS[subject.item].name(lang).lower() if subject.item else ""
        filled = {"detail": subject.detail, "example": EXAMPLES[subject.item or "any"][lang], "name": name, **facts}
        if lang == "en":  # keep English replies in GSM-7: "…" would make them UCS-2
            filled["detail"] = str(filled["detail"]).replace("…", "...")
        return message_text(key, lang, **filled)
    if isinstance(subject, MessageOutcome):
        if subject.advice is None:
            return message_text("message.not_followed", lang)
        return message_text("message.sent", lang, advice=subject.advice)
    if isinstance(subject, AskUnit):
        return _ask_unit_text(subject, lang)
    if isinstance(subject, AckOutcome):
        if subject.status == "acknowledged" and subject.ack_timeout_minutes is None:
            raise ValueError("an acknowledged reply needs ack_timeout_minutes")
        return message_text(f"ack.{subject.status}", lang, code=subject.short_code,
                            minutes=subject.ack_timeout_minutes, **facts)
    if isinstance(subject, ReportOutcome):
        items = _items_phrase(subject.items, lang, subject.converted)
        if subject.zone in ("green", "none"):
            return message_text(f"report.{subject.zone}", lang, items=items)
        if subject.remeasure_minutes is not None:
            return message_text("report.remeasure", lang, items=items, minutes=max(subject.remeasure_minutes, 1))
        instruction = (subject.instruction or "").strip()
        text = message_text(f"report.{subject.zone}", lang, items=items, instruction=instruction)
        advice = f" {subject.advice}" if subject.advice else ""
        # A plan instruction too long for two segments is not cut mid-sentence: point to the plan.
        # Whom to call when the team is closed is never left out.
        if not instruction or sms_segments(text + advice) > 2:
            text = message_text(f"report.{subject.zone}.plan", lang, items=items)
        return text + advice
    raise TypeError(f"no reply for {type(subject).__name__}: pass the outcome (AckOutcome, ReportOutcome) "
                    "after carrying out the command")


def page_text(severity: str, team: str, code: str, locale: str) -> str:
    """The page to staff: team and short code only, never the patient or values."""
    word = message_text(f"severity.{severity}", locale)
    return message_text("page", locale, severity=word, team=team, code=code)


__all__ = [
    "CODE_ALPHABET",
    "EXAMPLES",
    "KEYWORDS",
    "TEXTS",
    "AckOutcome",
    "Acknowledge",
    "AskUnit",
    "Command",
    "FreeText",
    "Help",
    "MessageOutcome",
    "Report",
    "ReportOutcome",
    "Start",
    "Stop",
    "Unknown",
    "free_text",
    "looks_like_code",
    "message_text",
    "page_text",
    "parse_sms",
    "reply_text",
    "sms_segments",
]
