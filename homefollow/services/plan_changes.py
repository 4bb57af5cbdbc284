"""Changing a patient's plan: a new version, checked, in force at once."""

from __future__ import annotations

from sqlmodel import Session

from ..clock import Clock
from ..models import CarePlan, Patient
from . import audit, evaluation, plan_safety, plans, reminders


def change_plan(session: Session, clock: Clock, *, patient: Patient, content: plans.PlanContent,
                author_account_id: int | None, reason: str, actor_kind: str = "staff",
                template_id: int | None = None, checked: bool = True) -> CarePlan:
    """Save a new plan version and judge the patient by it from now on.

    Raises evaluation.PlanRulesInvalid (nothing saved) when a rule is unknown or a personal
    parameter is not accepted, and plan_safety.PlanUnsafe (a PlanRulesInvalid) when the plan
    leaves something unwatched, has no missed-data rule for a planned item, or has limits that
    contradict each other or the safety net — every problem the change brings, listed.
    (checked=False is for test fixtures that build deliberately small plans; the safety net
    itself still judges every reading.)"""
    evaluation.assigned_rules(session, content)
    if checked:
        plan_safety.ensure_safe(session, content, plans.current_content(session, patient.id)[0])
    plan = plans.save_new_version(session, clock, patient_id=patient.id, content=content,
                                  author_account_id=author_account_id, reason=reason, template_id=template_id)
    # New limits apply to the next reading, and new check-in timers and reminders start now.
    evaluation.evaluate_patient(session, clock, patient)
    reminders.schedule_next(session, clock, patient)
    audit.record(session, clock, actor_account_id=author_account_id, actor_kind=actor_kind, action="plan.change",
                 patient_id=patient.id, object_type="care_plan", object_id=plan.id, version=plan.version,
                 reason=reason)
    return plan
