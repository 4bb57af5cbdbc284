"""All tables, imported here so that SQLModel.metadata is complete for Alembic."""

from .accounts import Account, AccountKind, LoginCode
from .api import ApiEvent, ApiToken
from .alerts import Alert, AlertEvent, AlertStatus, Outcome
from .audit import AuditEvent
from .organisations import Organisation, OrganisationKind, Role, Team, TeamMembership
from .outbox import Channel, Notification, NotificationStatus, Priority, SmsOptOut
from .patients import Patient, PatientStatus, RelativeAccess
from .plans import CarePlan
from .messages import Message
from .notes import PatientNote, PlanTemplate
from .pathway import CarePathway, EndReason
from .reports import Measurement, QuestionnaireDraft, Report, ReportKind, ReportSource
from .rollups import AdherenceDay, AdherenceRollup
from .rules import RuleState, RuleVersion, RuleVersionStatus
from .service_use import ServiceKind, ServicePerson, ServiceUse
from .system import Heartbeat
from .webhooks import ProcessedWebhook
from .sessions import SignInSession

__all__ = [
    "AdherenceDay", "AdherenceRollup", "Account", "AccountKind", "ApiEvent", "ApiToken", "LoginCode", "Message", "QuestionnaireDraft", "ReportKind", "Alert", "AlertEvent", "AlertStatus", "AuditEvent", "CarePlan",
    "Channel", "Heartbeat", "Measurement", "Notification", "NotificationStatus", "Organisation",
    "OrganisationKind", "Outcome", "Patient", "Priority", "PatientStatus", "RelativeAccess", "Report",
    "ReportSource", "Role", "RuleState", "RuleVersion", "RuleVersionStatus", "SmsOptOut", "Team",
    "TeamMembership", "PatientNote", "PlanTemplate", "ServiceKind", "ServicePerson", "ServiceUse",
    "CarePathway", "EndReason", "ProcessedWebhook", "SignInSession",
]
