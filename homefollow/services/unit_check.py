"""Units at entry, where the database is needed: the patient's reference value that a number
typed without a unit is checked against (rules.units.interpret, which is pure), the record of
what unit a value was typed in, and the team's queue item for an SMS reading whose unit we had
to ask about.

The reference is the median of the patient's own readings of that measurement in the last 30
days; without any, for weight, the dry weight in the plan (`hf.weight_above_dry`'s
`baseline_value`); otherwise there is none, and a number possible in the stored unit is taken
in the stored unit (see rules/units.py).
"""

from __future__ import annotations

import statistics
from datetime import timedelta

from sqlmodel import Session, select

from rules import units
from rules.text import Text, both, moment
from rules.zones import Zone, classify

from ..clock import Clock
from ..i18n import t
from ..models import Alert, AlertEvent, Measurement, Patient, Report
from ..notifications import sms_commands
from . import alert_log, alerts, audit, plans, rule_tools
from .audit import Actor

REFERENCE_WINDOW = timedelta(days=30)
DRY_WEIGHT_RULE = "hf.weight_above_dry"
QUEUE_KEY = "sms.unit_unclear"  # one open queue item per patient (alerts.add_to_queue)


def reference_value(session: Session, clock: Clock, patient_id: int, code: str) -> float | None:
    """The value this patient's readings of `code` are usually near, or None."""
    recent = session.exec(select(Measurement.value).where(
        Measurement.patient_id == patient_id, Measurement.code == code,
        Measurement.measured_at >= clock.now() - REFERENCE_WINDOW)).all()
    if recent:
        return float(statistics.median(recent))
    if code == "weight":
        content, _version = plans.current_content(session, patient_id)
        for rule in content.rules:
            dry = rule.parameters.get("baseline_value") if rule.key == DRY_WEIGHT_RULE else None
            if isinstance(dry, (int, float)) and dry > 0:
                return float(dry)
    return None


def interpret(session: Session, clock: Clock, patient_id: int, code: str,
              entry: units.Entry) -> units.Interpretation:
    """What a value typed by or for this patient means (rules.units.interpret). The reference is
    looked up only when it can matter: no unit typed, and the measurement has other units."""
    reference = None
    if entry.unit is None and units.has_other_units(code):
        reference = reference_value(session, clock, patient_id, code)
    return units.interpret(code, entry, reference)


def record_units(session: Session, clock: Clock, report: Report, readings: list[units.Reading], *,
                 asked: bool, actor: Actor, channel: str) -> None:
    """Keep, in the audit log, the unit a value was typed in when it was converted or the
    patient was asked which unit was meant. `channel`: where it was typed (portal, staff, sms)."""
    if not asked and not any(r.converted for r in readings):
        return
    audit.record(session, clock, actor=actor, action="report.units", patient_id=report.patient_id,
                 object_type="report", object_id=report.id, channel=channel,
                 asked=asked, typed={r.code: {"number": r.number, "unit": r.unit, "value": r.value} for r in readings})


def sms_question(session: Session, clock: Clock, patient_id: int,
                 command: sms_commands.Report) -> sms_commands.AskUnit | None:
    """The first value of an SMS report, typed without a unit, that must be asked about for
    this patient (rules.units.interpret with the patient's reference), or None."""
    for item, values in command.values.items():
        for code, value in values.items():
            if code not in command.with_unit and units.has_other_units(code):
                meaning = interpret(session, clock, patient_id, code, units.Entry(value))
                if meaning.ask:
                    return sms_commands.AskUnit(item, code, value, meaning.choices)
    return None


def ask_by_sms(session: Session, clock: Clock, patient: Patient, question: sms_commands.AskUnit, *, body: str,
               message_id: str, actor: Actor) -> Alert:
    """An SMS reading not stored because its unit is asked about: an item in the team's queue,
    quoting what was sent, so nothing is lost if the patient never answers. When any meaning of
    the number is red by the patient's safety net (glucose 36: 36 mmol/L or 2.0 mmol/L, both
    dangerous) the item is red and paged like any red alert; otherwise it is yellow and waits
    in the queue. The same SMS delivered again by Twilio changes nothing."""
    earlier = alerts.open_alert_for(session, patient.id, QUEUE_KEY)
    if earlier is not None and message_id and any(
            data.get("sms") == message_id for data in session.exec(
                select(AlertEvent.data).where(AlertEvent.alert_id == earlier.id))):
        return earlier
    quoted = " ".join("".join(c for c in body if c.isprintable() or c.isspace()).split())[:160]
    short = quoted if len(quoted) <= 40 else quoted[:39].rstrip() + "…"
    when = clock.now()
    limits = rule_tools.safety_limits_of(session, patient).get(question.code)
    dangerous = limits is not None and any(
        (found := classify(question.code, r.value, limits)) is not None and found.zone == Zone.RED
        for r in question.choices)

    def meanings(loc: str) -> str:
        canonical = units.canonical_unit(question.code).key
        return ", ".join(f"{units.typed_number(r.number, loc)} {r.unit}"
                         + (f" = {units.value_number(r, loc)} {canonical}" if r.converted else "")
                         for r in question.choices)

    title = both(lambda loc: t(loc, "Reading by SMS not recorded: unit unclear"))
    value_text = Text(nb=f"«{short}»", en=f'"{short}"')
    threshold_text = both(lambda loc: t(loc, "Not recorded"))

    def explanation(loc: str) -> str:
        text = t(loc, "The patient sent \"%(sms)s\" by SMS on %(when)s. It was not recorded: the unit was unclear "
                      "(%(meanings)s). The patient was asked to send it again with the unit. Check that a new "
                      "reading arrived, or call the patient.",
                 sms=quoted, when=moment(when, patient.time_zone, loc), meanings=meanings(loc))
        if dangerous:
            text += " " + t(loc, "Either meaning may be dangerous: call the patient now.")
        return text

    if dangerous:
        item = alerts.raise_finding(session, clock, patient, alerts.RaisedFinding(
            alert_key=QUEUE_KEY, rule_key=QUEUE_KEY, rule_version=1, rule_version_id=None, title=title,
            severity=Zone.RED, value_text=value_text, threshold_text=threshold_text,
            explanation=both(explanation)))
        session.flush()
        alert_log.add_event(session, clock, item, "unit_asked", code=question.code, typed=question.number,
                            sms=message_id)
    else:
        item = alerts.add_to_queue(session, clock, patient, key=QUEUE_KEY, title=title, value_text=value_text,
                                   threshold_text=threshold_text, explanation=both(explanation),
                                   code=question.code, typed=question.number, sms=message_id)
        session.flush()
    audit.record(session, clock, actor=actor, action="sms.unit_asked", patient_id=patient.id, object_type="alert",
                 object_id=item.id, code=question.code, typed=question.number)
    return item
