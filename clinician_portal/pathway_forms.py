"""Forms of the enrolment pathway. They only carry the values (with CSRF); the service
(homefollow.services.pathway) checks them and says what is wrong with which field. Field names
are unique across the forms, because several are on one page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from homefollow.models import EndReason

from .patient_forms import FRAILTY_LABELS
from .team_forms import CheckboxesField, _select, choices

STEP_LABELS = {
    "referral": _l("Referral"), "consent": _l("Consent"), "mapping": _l("Mapping conversation"),
    "plan": _l("Plan"), "trial_start": _l("Trial period starts"), "trial_end": _l("Trial period ends"),
    "follow_up": _l("Evaluation"), "ended": _l("Ended"),
}
# What a patient is doing at each step, for "current step".
CURRENT_LABELS = {
    "referral": _l("Referred"), "consent": _l("Waiting for consent"), "mapping": _l("Waiting for the mapping conversation"),
    "plan": _l("Waiting for a plan"), "trial_start": _l("Waiting for the trial period"),
    "trial_end": _l("In the trial period"), "follow_up": _l("In active follow-up"), "ended": _l("Ended"),
}
SCOPE_LABELS = {
    "follow_up": _l("Home follow-up with measurements and check-ins"),
    "share_gp": _l("Sharing information with the GP"),
    "share_municipality": _l("Sharing information with the municipal health services"),
    "share_hospital": _l("Sharing information with the hospital"),
    "relatives": _l("Relatives may be told about the follow-up"),
}
GIVEN_BY_LABELS = {"patient": _l("The patient"), "representative": _l("A representative (next of kin or guardian)")}
END_REASON_LABELS = {
    EndReason.IMPROVED.value: _l("Improved: no longer needs follow-up"),
    EndReason.TOO_ILL.value: _l("Too ill for home follow-up"),
    EndReason.DIED.value: _l("Died"),
    EndReason.MOVED.value: _l("Moved away"),
    EndReason.DECLINED.value: _l("Declined further follow-up"),
}
DATE_HINT = _l("For example 2026-03-02 or 02.03.2026.")


def _date(label):
    return StringField(label)


class ReferralForm(FlaskForm):
    referred_on = _date(_l("Date of referral"))
    referred_by = StringField(_l("Referred by (optional)"))


class ReferCandidateForm(ReferralForm):
    municipality = _select(_l("Municipality"))


class ConsentForm(FlaskForm):
    consent_on = _date(_l("Date of consent"))
    scope = CheckboxesField(_l("Consented to"), choices=choices(SCOPE_LABELS.items()))
    given_by = _select(_l("Consent given by"), [("", _l("(choose)")), *GIVEN_BY_LABELS.items()])
    representative = StringField(_l("The representative's name and relation"))


class WithdrawalForm(FlaskForm):
    withdrawn_on = _date(_l("Date consent was withdrawn"))
    withdrawal_note = TextAreaField(_l("Note (optional)"))


class MappingForm(FlaskForm):
    mapping_on = _date(_l("Date of the conversation"))
    what_matters = TextAreaField(_l("What matters to you?"))
    goals = TextAreaField(_l("Goals (optional)"))
    risks = TextAreaField(_l("Risks (optional)"))
    frailty = _select(_l("Clinical Frailty Scale"), [("", _l("Not assessed")), *((str(k), v) for k, v in FRAILTY_LABELS.items())])


class TrialStartForm(FlaskForm):
    trial_start_on = _date(_l("First day of the trial period"))


class TrialEndForm(FlaskForm):
    trial_end_on = _date(_l("Last day of the trial period"))


class EvaluationForm(FlaskForm):
    evaluation_on = _date(_l("Date of the evaluation"))
    evaluation_note = TextAreaField(_l("What was concluded"))


class EndForm(FlaskForm):
    ended_on = _date(_l("Date follow-up ended"))
    end_reason = _select(_l("Reason"), [("", _l("(choose)")), *END_REASON_LABELS.items()])
    end_note = TextAreaField(_l("Note (optional)"))


class DeadlinesForm(FlaskForm):
    consent_days = StringField(_l("Consent, days after the referral"))
    mapping_days = StringField(_l("Mapping conversation, days after the referral"))
    plan_days = StringField(_l("Plan, days after the referral"))
    trial_start_days = StringField(_l("Trial period starts, days after the plan"))
    trial_min_days = StringField(_l("Shortest trial period, days"))
    trial_max_days = StringField(_l("Longest trial period, days"))
    evaluation_months = StringField(_l("Evaluation, every … months"))
