"""What a plan must satisfy before it is put in force: nothing it asks of the patient goes
unwatched, silence is a finding, and its limits agree with each other and with the safety net.

Checked wherever a plan version is saved (plan_changes.change_plan), so the plan editor, plan
templates and every later path refuse the same plans; the editor asks first to tie each problem
to its field. The checks (docs/plans.md, "What a plan must satisfy"):

- every planned measurement and questionnaire is read by a rule that judges it (the safety net
  counts; a missed-check-in rule does not);
- every scheduled measurement and every questionnaire has its own missed-data rule;
- no yellow limit lies in a red zone and no low limit is at or above a high one;
- no limit is looser than the safety net, unless a recorded clinical decision makes the
  safety net itself looser for this patient; SpO2 scale 2 in a NEWS2 rule likewise;
- the safety net's rules are not listed in the plan (they apply to everyone).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from rules.codes import code_info, format_value, matches
from rules.limits import LimitConflict, limit_conflicts, limit_sources
from rules.measurements import ITEMS
from rules.model import MissedCheckinSpec, ScoreBandsSpec

from ..i18n import N_, t
from ..questionnaires import QUESTIONNAIRES
from . import evaluation
from .plans import PlanContent

# The lowest red SpO2 limit of the safety net that allows scale 2 (NEWS2: ≤ 83 % scores 3 on
# scale 2): a NEWS2 rule on scale 2 needs the safety net's SpO2 limit at or below it.
SCALE2_RED_LOW = 84


@dataclass(frozen=True)
class Problem:
    kind: str  # unwatched, no_missed_rule, limits_contradict, looser_than_safety, scale2, safety_rule_in_plan
    message: str  # translated, for the person who edits the plan
    # Where it lies: a measurement item or questionnaire key, or a (rule key, parameter) pair.
    item: str | None = None
    rule: str | None = None
    parameter: str | None = None

    @property
    def key(self) -> tuple:
        """The same problem in two versions of a plan has the same key."""
        return self.kind, self.item, self.rule, self.parameter


class PlanUnsafe(evaluation.PlanRulesInvalid):
    """The plan cannot be put in force. A PlanRulesInvalid, so every path that saves a plan
    shows these problems as it shows a rule's; ``safety_problems`` has them as Problems."""

    def __init__(self, problems: list[Problem]):
        super().__init__([(p.rule or p.item or "", p.parameter or "", p.message) for p in problems])
        self.safety_problems = problems


def ensure_safe(session: Session, content: PlanContent, previous: PlanContent | None = None,
                locale: str = "nb") -> None:
    """Raise PlanUnsafe for the plan's problems — those it brings, not those the plan it
    replaces already had: a plan saved before these checks must stay editable one section at a
    time (the plan page lists what is left to fix)."""
    found = new_problems(session, content, previous, locale)
    if found:
        raise PlanUnsafe(found)


def new_problems(session: Session, content: PlanContent, previous: PlanContent | None, locale: str) -> list[Problem]:
    found = problems(session, content, locale)
    if previous is None or not found:
        return found
    before = {p.key for p in problems(session, previous, locale)}
    return [p for p in found if p.key not in before]


def problems(session: Session, content: PlanContent, locale: str) -> list[Problem]:
    """Every reason the plan cannot be put in force, in the plan's order."""
    assigned = evaluation.assigned_rules(session, content, strict=False)
    plan = [a for a in assigned if not a.safety]
    safety = [a for a in assigned if a.safety]
    out: list[Problem] = []
    for entry in content.rules:
        if entry.key.startswith(evaluation.SAFETY_PREFIX):
            out.append(Problem("safety_rule_in_plan", t(locale, N_(
                "The safety net applies to every patient and is not part of the plan's rules. To change one of "
                "its limits for this patient, record a clinical decision under Safety net.")), rule=entry.key))
    out += _unwatched(content, assigned, locale)
    out += _missing_missed_rules(content, plan, locale)
    conflicts = limit_conflicts(limit_sources((a.definition, a.parameters) for a in plan),
                                limit_sources((a.definition, a.parameters) for a in safety))
    out += [_conflict_problem(c, plan, locale) for c in conflicts]
    out += _scale2(plan, safety, locale)
    return out


def _planned(content: PlanContent):
    """(item or questionnaire key, its name's msgid or words, its codes, scheduled)."""
    for m in content.measurements:
        yield m.item, ITEMS[m.item], ITEMS[m.item].codes, m.schedule is not None
    for q in content.questionnaires:
        yield q.key, QUESTIONNAIRES[q.key], QUESTIONNAIRES[q.key].codes, True


def _name(thing, locale: str) -> str:
    return thing.name(locale) if hasattr(thing, "name") else t(locale, thing.title)


def _unwatched(content: PlanContent, assigned, locale: str) -> list[Problem]:
    out = []
    for key, thing, codes, _scheduled in _planned(content):
        if not evaluation.watches(assigned, set(codes)):
            out.append(Problem("unwatched", t(locale, N_(
                "%(name)s: the plan asks the patient for it, but no rule judges it, so a worrying value would "
                "reach nobody. Add a rule for it under Rules and personal parameters, or take it out of the plan."),
                name=_name(thing, locale)), item=key))
    return out


def _covers(rule, codes) -> bool:
    """A missed-check-in rule about this item alone: each code it waits for is one of the item's."""
    spec = rule.definition.spec
    return isinstance(spec, MissedCheckinSpec) and all(any(matches(p, c) for c in codes) for p in spec.codes)


def _missing_missed_rules(content: PlanContent, plan, locale: str) -> list[Problem]:
    out = []
    for key, thing, codes, scheduled in _planned(content):
        if scheduled and not any(_covers(a, codes) for a in plan):
            out.append(Problem("no_missed_rule", t(locale, N_(
                "%(name)s is planned at set times, but no rule notices when it does not come. Add its "
                "missed-measurement rule (such as «%(example)s») under Rules and personal parameters."),
                name=_name(thing, locale), example=_missed_rule_for(key)), item=key))
    return out


def _missed_rule_for(key: str) -> str:
    if key == "daily_checkin":
        return "missed.questionnaire"
    if key == "cat":
        return "missed.cat_weekly"
    return f"missed.{key}"


_LIMIT_WORDS = {"red_low": N_("red below"), "red_high": N_("red above"), "yellow_low": N_("yellow below"),
                "yellow_high": N_("yellow above")}


def _limit(source, locale: str) -> str:
    return f"{t(locale, _LIMIT_WORDS[source.name])} {format_value(source.code, source.value, locale)}"


def _conflict_problem(conflict: LimitConflict, plan, locale: str) -> Problem:
    limit, against = conflict.limit, conflict.against
    name = code_info(limit.code).name(locale)
    if conflict.kind == "order":
        message = t(locale, N_("%(name)s: the limit «%(limit)s» contradicts «%(other)s» in the plan: a yellow zone "
                               "cannot lie inside a red zone, and a low limit must be below a high one."),
                    name=name, limit=_limit(limit, locale), other=_limit(against, locale))
        kind = "limits_contradict"
    else:
        message = t(locale, N_("%(name)s: the limit «%(limit)s» is looser than the safety net («%(other)s»), which "
                               "no plan may silence. Use a stricter limit, or record a clinical decision that "
                               "changes the safety net for this patient, with who decided it and why."),
                    name=name, limit=_limit(limit, locale), other=_limit(against, locale))
        kind = "looser_than_safety"
    return Problem(kind, message, rule=limit.rule_key, parameter=_parameter_of(limit, plan))


def _parameter_of(limit, plan) -> str:
    """The plan parameter behind a limit: the limit's own name, or the baseline of a change rule."""
    rule = next((a for a in plan if a.definition.key == limit.rule_key), None)
    if rule is not None and limit.name not in rule.parameters:
        return "baseline_value"
    return limit.name


def _scale2(plan, safety, locale: str) -> list[Problem]:
    spo2_red = [a.parameters.get("red_low") for a in safety if a.definition.key == "safety.spo2_red"]
    allowed = bool(spo2_red) and spo2_red[0] is not None and spo2_red[0] <= SCALE2_RED_LOW
    out = []
    for a in plan:
        if isinstance(a.definition.spec, ScoreBandsSpec) and a.parameters.get("variant") == "scale2" and not allowed:
            out.append(Problem("scale2", t(locale, N_(
                "«%(rule)s» scores oxygen saturation on scale 2, which is only for patients with confirmed "
                "hypercapnic respiratory failure. Record that decision under Safety net (oxygen saturation red "
                "below 84 %%) first, or use scale 1."), rule=a.definition.title.get(locale)),
                rule=a.definition.key, parameter="variant"))
    return out
