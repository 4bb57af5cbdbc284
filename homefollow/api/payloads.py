"""What hospital systems send, read into plain events: admissions, discharges, measurements.

Plain JSON is checked by pydantic models (the same shapes as openapi.yaml); FHIR R4 Encounter
and Observation resources by fhir.resources and then mapped. Every problem is reported as
(field, reason), never as an exception the caller did not expect. Parsing is pure: who the
patient is (a keyed hash of the national id, never the number itself) is left as a person key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, overload

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from rules import units
from rules.measurements import ITEMS

from ..input_guard import in_range
from ..outcomes.imports import NATIONAL_ID_SYSTEMS, person_key, valid_national_id

if TYPE_CHECKING:  # at run time fhir.resources is imported when a FHIR payload first comes
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.observation import Observation as FhirObservation


class PayloadError(ValueError):
    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))
        self.problems = problems


SenderId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
# Text without control characters (PostgreSQL cannot store a NUL, and no name needs a tab).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)]
LocalId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=PRINTABLE)]
# A time with an offset in the years input_guard allows: converting it to UTC cannot overflow.
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
Reading = Annotated[float, Field(allow_inf_nan=False)]


class PatientRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    local_id: LocalId | None = None
    national_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")] | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.local_id is None) == (self.national_id is None):
            raise ValueError("give exactly one of local_id and national_id")
        if self.national_id is not None and not valid_national_id(self.national_id):
            raise ValueError("national_id is not a valid fødselsnummer or D-number")
        return self


class AdmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SenderId
    patient: PatientRef
    admitted_at: Instant
    hospital: ShortText | None = None
    ward: ShortText | None = None
    ward_phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ]{3,20}$")] | None = None
    acute: bool = True
    diagnoses: list[Code] = Field(default_factory=list, max_length=20)


class DischargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SenderId
    patient: PatientRef
    discharged_at: Instant
    admitted_at: Instant | None = None
    hospital: ShortText | None = None


class ObservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SenderId
    patient: PatientRef
    measured_at: Instant
    item: Literal["blood_pressure", "pulse", "spo2", "weight", "temperature", "glucose"]
    values: dict[str, Reading] = Field(min_length=1, max_length=2)
    # The UCUM unit of a value, by its code ({"weight": "[lb_av]"}); the canonical unit if not given.
    units: dict[str, Code] | None = Field(
        default=None, max_length=2)

    @model_validator(mode="after")
    def _codes(self):
        expected = set(ITEMS[self.item].codes)
        if set(self.values) != expected:
            raise ValueError(f"{self.item} needs exactly the values {', '.join(sorted(expected))}")
        return self


@dataclass(frozen=True)
class Who:
    """The patient as the sender knows them: the local id, or the national id (kept only long
    enough to be hashed into the person key)."""

    local_id: str | None = None
    national_id: str | None = None

    def key(self, source: str, secret: bytes) -> str:
        return person_key(source=source, local_id=self.local_id, national_id=self.national_id, secret=secret)


@dataclass(frozen=True)
class Admission:
    id: str
    who: Who
    admitted_at: datetime
    hospital: str | None
    ward: str | None = None
    ward_phone: str | None = None
    acute: bool = True
    diagnoses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Discharge:
    id: str
    who: Who
    discharged_at: datetime
    admitted_at: datetime | None
    hospital: str | None
    acute: bool = True
    diagnoses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observation:
    id: str
    who: Who
    measured_at: datetime
    item: str
    values: tuple[tuple[str, float], ...]


Event = Admission | Discharge | Observation


def content_hash(event: Event, person: str) -> str:
    """A hash of what the event says, with the person key in place of who the sender named: the
    same content sent again has the same hash, whatever the JSON's spacing or key order."""
    data = {k: v for k, v in asdict(event).items() if k != "who"}
    data["person"] = person
    data["type"] = type(event).__name__
    text = json.dumps(data, sort_keys=True, default=lambda v: v.isoformat())
    return hashlib.sha256(text.encode()).hexdigest()


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"] if p not in ("function-after",))
        reason = error["msg"].removeprefix("Value error, ")
        out.append(((prefix + field) if field else (prefix.rstrip(".") or "body"), reason))
    return out


def _validated(model, raw: bytes):
    """Strict JSON validation: a number must be a number, not a string that looks like one."""
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise PayloadError(_problems(exc)) from None


def _who(ref: PatientRef) -> Who:
    return Who(local_id=ref.local_id, national_id=ref.national_id)


def plain_admission(raw: bytes) -> Admission:
    a = _validated(AdmissionIn, raw)
    return Admission(a.id, _who(a.patient), a.admitted_at, a.hospital, a.ward, a.ward_phone, a.acute,
                     tuple(a.diagnoses))


def plain_discharge(raw: bytes) -> Discharge:
    d = _validated(DischargeIn, raw)
    if d.admitted_at is not None and d.discharged_at < d.admitted_at:
        raise PayloadError([("discharged_at", "the discharge is before the admission")])
    return Discharge(d.id, _who(d.patient), d.discharged_at, d.admitted_at, d.hospital)


def plain_observation(raw: bytes) -> Observation:
    """Values are converted to the canonical units here (rules.units), so the rest of the
    system only ever sees kg, °C and mmol/L."""
    o = _validated(ObservationIn, raw)
    given = o.units or {}
    codes = ITEMS[o.item].codes
    problems = [(f"units.{code}", f"{o.item} has no value {code}") for code in given if code not in codes]
    values = []
    for code in codes:
        try:
            values.append((code, _canonical(code, o.values[code], given.get(code), f"units.{code}")))
        except PayloadError as exc:
            problems += exc.problems
    if problems:
        raise PayloadError(problems)
    return Observation(o.id, _who(o.patient), o.measured_at, o.item, tuple(values))


def _canonical(code: str, value: float, ucum: str | None, field: str) -> float:
    """A value sent in this UCUM unit (None: the canonical one), in the canonical unit."""
    unit = units.by_ucum(code, ucum) if ucum is not None else units.canonical_unit(code)
    if unit is None:
        accepted = " or ".join(u.ucum[0] for u in units.units_of(code))
        raise PayloadError([(field, f"unit '{ucum}' is not accepted for {code}; use {accepted} (UCUM)")])
    return unit.to_canonical(value)


# ---- FHIR R4 ---------------------------------------------------------------------------------

ADMISSION_CLASSES = {"IMP": True, "ACUTE": True, "NONAC": False}  # v3 ActCode -> acute
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# LOINC code -> (item, measurement code). The units each accepts, and how they convert, are in
# rules.units (by UCUM code): glucose in mmol/L or mg/dL under any of its four codes (2339-0
# and 41653-7 are mass concentrations, 15074-8 and 14743-9 molar; the unit sent decides).
OBSERVATION_CODES = {
    "8867-4": ("pulse", "pulse"),
    "59408-5": ("spo2", "spo2"),
    "2708-6": ("spo2", "spo2"),
    "29463-7": ("weight", "weight"),
    "8310-5": ("temperature", "temperature"),
    "15074-8": ("glucose", "glucose"),
    "14743-9": ("glucose", "glucose"),
    "2339-0": ("glucose", "glucose"),
    "41653-7": ("glucose", "glucose"),
}
BP_PANEL = "85354-9"
BP_COMPONENTS = {"8480-6": "bp_systolic", "8462-4": "bp_diastolic"}
SUPPORTED_LOINC = sorted([*OBSERVATION_CODES, BP_PANEL])


def _resource(data, kind: str):
    if not isinstance(data, dict) or data.get("resourceType") != kind:
        raise PayloadError([("resourceType", f"must be {kind}")])
    model: type[Encounter] | type[FhirObservation]  # imported when first needed
    if kind == "Encounter":
        from fhir.resources.R4B.encounter import Encounter as model
    else:
        from fhir.resources.R4B.observation import Observation as model
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadError(_problems(exc)) from None
    except (ValueError, TypeError) as exc:  # fhir.resources' own checks outside pydantic's
        raise PayloadError([("body", f"not a valid FHIR R4 {kind}: {exc}")]) from None


_SENDER_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")
_PRINTABLE = re.compile(PRINTABLE)


@overload
def _text(value: str, field: str, limit: int) -> str: ...
@overload
def _text(value: str | None, field: str, limit: int) -> str | None: ...


def _text(value: str | None, field: str, limit: int) -> str | None:
    """A text taken from a resource, checked like the plain JSON's texts."""
    if value is None:
        return None
    if not _PRINTABLE.match(value) or len(value) > limit:
        raise PayloadError([(field, f"1 to {limit} characters without control characters")])
    return value


def _sender_id(resource) -> str:
    identifier = (resource.identifier or [None])[0]
    value = (identifier.value if identifier else None) or resource.id
    if not value:
        raise PayloadError([("identifier", "an identifier (or id) is needed: it makes a repeated call harmless")])
    if not _SENDER_ID.match(value):
        raise PayloadError([("identifier", "1 to 64 of the characters A-Z a-z 0-9 . _ : / -")])
    return value


def _subject(resource) -> Who:
    subject = resource.subject
    if subject is not None and subject.identifier is not None and subject.identifier.value:
        ident = subject.identifier
        if ident.system in NATIONAL_ID_SYSTEMS:
            if not valid_national_id(ident.value):
                raise PayloadError([("subject.identifier.value", "not a valid fødselsnummer or D-number")])
            return Who(national_id=ident.value)
        return Who(local_id=_text(ident.value, "subject.identifier.value", 64))
    reference = subject.reference if subject is not None else None
    if reference and reference.startswith("Patient/") and len(reference) > len("Patient/"):
        return Who(local_id=_text(reference[len("Patient/"):], "subject.reference", 64))
    raise PayloadError([("subject", "a subject identifier (national id or the hospital's patient id) is needed")])


def _aware(value, field: str) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            return in_range(value)
        except (ValueError, OverflowError) as exc:
            raise PayloadError([(field, str(exc))]) from None
    raise PayloadError([(field, "a date and time with a time zone offset is needed")])


def fhir_encounter(data) -> Admission | Discharge:
    """in-progress (or arrived) → an admission; finished → a discharge of the same stay."""
    encounter = _resource(data, "Encounter")
    sender_id = _sender_id(encounter)
    who = _subject(encounter)
    code = encounter.class_fhir.code if encounter.class_fhir else None
    if code not in ADMISSION_CLASSES:
        raise PayloadError([("class.code", f"'{code}' is not an admission; use IMP, ACUTE or NONAC")])
    acute = ADMISSION_CLASSES[code]
    if encounter.priority and any(c.code == "EL" for c in encounter.priority.coding or []):
        acute = False
    period = encounter.period
    if period is None or period.start is None:
        raise PayloadError([("period.start", "the admission time is needed")])
    start = _aware(period.start, "period.start")
    hospital = _text(encounter.serviceProvider.display if encounter.serviceProvider else None,
                     "serviceProvider.display", 100)
    diagnoses = tuple(dict.fromkeys(_text(c.code, "reasonCode.coding.code", 20) for concept in encounter.reasonCode or []
                                    for c in concept.coding or [] if c.code))[:20]
    if encounter.status in ("in-progress", "arrived"):
        ward = next((loc.location.display for loc in encounter.location or [] if loc.location.display), None)
        return Admission(sender_id, who, start, hospital, _text(ward, "location.location.display", 100), None, acute,
                         diagnoses)
    if encounter.status == "finished":
        if period.end is None:
            raise PayloadError([("period.end", "a finished encounter needs the discharge time")])
        end = _aware(period.end, "period.end")
        if end < start:
            raise PayloadError([("period.end", "the discharge is before the admission")])
        return Discharge(sender_id, who, end, start, hospital, acute, diagnoses)
    raise PayloadError([("status", f"'{encounter.status}' is not supported; use in-progress or finished")])


def _quantity(q, code: str, field: str) -> float:
    if q is None or q.value is None:
        raise PayloadError([(field, "a valueQuantity with a value is needed")])
    return _canonical(code, float(q.value), q.code or q.unit or "", field + ".code")


def _loinc_codes(concept) -> list[str]:
    return [c.code for c in (concept.coding if concept else None) or [] if c.system == LOINC and c.code]


def fhir_observation(data) -> Observation:
    observation = _resource(data, "Observation")
    sender_id = _sender_id(observation)
    who = _subject(observation)
    if observation.status not in ("final", "amended", "corrected"):
        raise PayloadError([("status", f"'{observation.status}' is not a result; use final, amended or corrected")])
    measured_at = observation.effectiveDateTime or observation.effectiveInstant
    if measured_at is None:
        raise PayloadError([("effectiveDateTime", "the time of the measurement is needed")])
    measured_at = _aware(measured_at, "effectiveDateTime")
    codes = _loinc_codes(observation.code)
    if BP_PANEL in codes:
        values = {}
        for component in observation.component or []:
            for code in _loinc_codes(component.code):
                if code in BP_COMPONENTS:
                    values[BP_COMPONENTS[code]] = _quantity(component.valueQuantity, BP_COMPONENTS[code],
                                                            f"component[{code}].valueQuantity")
        missing = [f"{loinc} ({name})" for loinc, name in BP_COMPONENTS.items() if name not in values]
        if missing:
            raise PayloadError([("component", "the blood pressure panel needs " + " and ".join(missing))])
        return Observation(sender_id, who, measured_at, "blood_pressure",
                           (("bp_systolic", values["bp_systolic"]), ("bp_diastolic", values["bp_diastolic"])))
    known = [c for c in codes if c in OBSERVATION_CODES]
    if not known:
        raise PayloadError([("code.coding", f"no supported LOINC code (got {', '.join(codes) or 'none'}); supported: "
                                            + ", ".join(SUPPORTED_LOINC))])
    item, code = OBSERVATION_CODES[known[0]]
    return Observation(sender_id, who, measured_at, item, ((code, _quantity(observation.valueQuantity, code,
                                                                            "valueQuantity")),))
