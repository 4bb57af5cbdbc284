"""Every text we send by SMS (and the pages' e-mail), in one table: replies to inbound SMS
(homefollow/notifications/sms_commands.py parses them), pages, reminders, notices.

Pure: no database, no network. The English text is the catalogue msgid; translations are in
homefollow/translations (nb tuned to stay within two SMS segments).

Texts carry no more health detail than the reader needs: pages to staff name the team and a
short code, never the patient or values; patients' reminders say only that something is
due; replies to a patient echo at most what the patient just typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rules import units
from rules.measurements import ITEMS

from ..i18n import N_, t
from .sms_commands import AskUnit, Command, Help, Start, Stop, Unknown

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


def reply_text(subject: Command | AckOutcome | ReportOutcome | MessageOutcome | str, locale: str, **facts: object) -> str:
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
