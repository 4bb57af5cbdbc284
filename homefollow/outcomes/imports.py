"""Import of service-use history from a hospital's data warehouse: CSV or FHIR R4 Encounter bundles.

Parsing is pure and checks every row; `store` writes in one transaction. All or nothing by
default: if any row is rejected nothing is written, and the report says which rows and why.
`accept_valid=True` writes the valid rows and still reports the rejected ones. Re-importing is
idempotent: an event is keyed by (source, sender's id); the same event again is "unchanged",
changed fields (a discharge date that arrived later) are "updated".

National id numbers are never stored: they become a keyed HMAC (the person key), so the same
person matches across sources without the number being readable from the database.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from collections.abc import Callable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlmodel import Session, select

from .. import values
from ..clock import Clock
from ..models import ServiceKind, ServicePerson, ServiceUse

LOCAL_ZONE = ZoneInfo("Europe/Oslo")

REQUIRED_COLUMNS = ("source_id", "kind", "start")
OPTIONAL_COLUMNS = ("patient_id", "national_id", "name", "birth_date", "end", "acute", "diagnoses", "source")

KIND_NAMES = {
    "admission": ServiceKind.ADMISSION, "innleggelse": ServiceKind.ADMISSION,
    "emergency": ServiceKind.EMERGENCY, "legevakt": ServiceKind.EMERGENCY, "akuttmottak": ServiceKind.EMERGENCY,
    "short_stay": ServiceKind.SHORT_STAY, "korttidsopphold": ServiceKind.SHORT_STAY,
}
YES = {"1", "yes", "ja", "j", "y", "true", "akutt"}
NO = {"0", "no", "nei", "n", "false", "elektiv", "planlagt"}

# FHIR R4 Encounter.class (v3 ActCode) -> (kind, acute unless the priority says elective).
FHIR_CLASSES = {
    "IMP": (ServiceKind.ADMISSION, True), "ACUTE": (ServiceKind.ADMISSION, True),
    "NONAC": (ServiceKind.ADMISSION, False), "EMER": (ServiceKind.EMERGENCY, True),
    "SS": (ServiceKind.SHORT_STAY, False),
}
NATIONAL_ID_SYSTEMS = {"urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.2"}  # fødselsnr, D-nr

class ImportFileError(ValueError):
    """The file as a whole cannot be read (wrong columns, not a bundle): nothing is imported."""


def parse_date(text: str) -> date:
    """dd.mm.yyyy (Norwegian) or yyyy-mm-dd, optionally with a time, which is ignored
    (homefollow.values.parse_date). ValueError with the reason in English, for the import report."""
    try:
        return values.parse_date(text, time_allowed=True, years=(1, 9999))  # callers judge the year
    except values.BadValue as exc:
        if exc.reason == "no_such_day":
            raise ValueError(f"'{exc.text}' is not a date in the calendar") from None
        if exc.reason == "year_out_of_range":
            raise ValueError(f"'{exc.text}' is not between the years {values.MIN_YEAR} and {values.MAX_YEAR}") from None
        raise ValueError(f"'{exc.text}' is not a date (dd.mm.yyyy or yyyy-mm-dd)") from None


def valid_national_id(number: str) -> bool:
    """Eleven digits with both mod-11 control digits right (fødselsnummer and D-number)."""
    if not re.fullmatch(r"\d{11}", number):
        return False
    d = [int(c) for c in number]
    # The weights cover the first 9 and 10 digits only; the check digits follow.
    k1 = 11 - sum(w * x for w, x in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), d, strict=False)) % 11
    k2 = 11 - sum(w * x for w, x in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), d, strict=False)) % 11
    k1, k2 = (0 if k == 11 else k for k in (k1, k2))
    return k1 == d[9] and k2 == d[10]


def person_key(*, source: str, local_id: str | None, national_id: str | None, secret: bytes) -> str:
    if national_id:
        return "nid:" + hmac.new(secret, national_id.encode(), hashlib.sha256).hexdigest()
    return f"local:{source}:{local_id}"


@dataclass(frozen=True)
class ParsedEvent:
    row: int  # CSV line number, or 1-based entry number in a bundle
    person_key: str
    name: str
    birth_date: date | None
    kind: str
    start: date
    end: date | None
    acute: bool
    diagnoses: tuple[str, ...]
    source: str
    source_id: str


@dataclass(frozen=True)
class Rejection:
    row: int | None  # None: the whole file
    reason: str

    def __str__(self) -> str:
        return self.reason if self.row is None else f"row {self.row}: {self.reason}"


@dataclass
class Parsed:
    rows: int = 0
    events: list[ParsedEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _check_event(parsed: Parsed, seen: dict[tuple[str, str], tuple[int, ParsedEvent]], event: ParsedEvent) -> None:
    if event.end is not None and event.end < event.start:
        parsed.rejected.append(Rejection(event.row, f"end {event.end.isoformat()} is before start {event.start.isoformat()}"))
        return
    key = (event.source, event.source_id)
    if key in seen:
        parsed.rejected.append(Rejection(event.row, f"duplicate of row {seen[key][0]} (source id {event.source_id})"))
        return
    seen[key] = (event.row, event)
    parsed.events.append(event)


def _refused(message: str) -> PydanticCustomError:
    return PydanticCustomError("import_row", "{reason}", {"reason": message})  # the text is never a template


def _required(what: str):
    def check(value: Any) -> str:
        if not value:
            raise _refused(f"no {what}")
        return value
    return BeforeValidator(check)


def _kind(value: Any) -> ServiceKind:
    kind = KIND_NAMES.get(str(value).lower())
    if kind is None:
        raise _refused(f"unknown kind '{value}' (admission, emergency, short_stay)")
    return kind


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise _refused(str(exc)) from None


def _acute(value: Any) -> bool | None:
    text = str(value).lower()
    if text and text not in YES | NO:
        raise _refused(f"'{value}' is not yes or no")
    return text not in NO if text else None


class CsvRow(BaseModel):
    """One row of a CSV export, as the hospital wrote it (all text, stripped); its rules here."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    source: Annotated[str, _required("source")]
    source_id: Annotated[str, _required("source_id")]
    kind: Annotated[ServiceKind, BeforeValidator(_kind)]
    start: Annotated[date, _required("start date"), BeforeValidator(_date)]
    end: Annotated[date | None, BeforeValidator(_date)] = None
    birth_date: Annotated[date | None, BeforeValidator(_date)] = None
    patient_id: str = ""
    national_id: str = ""
    name: str = ""
    acute: Annotated[bool | None, BeforeValidator(_acute)] = None
    diagnoses: str = ""

    @field_validator("national_id", mode="before")
    @classmethod
    def _national_id(cls, value: Any) -> str:
        number = str(value or "").replace(" ", "")
        if number and not valid_national_id(number):
            raise _refused("national_id is not a valid fødselsnummer or D-number")
        return number

    @model_validator(mode="after")
    def _someone(self):
        if not self.national_id and not self.patient_id:
            raise _refused("no patient_id or national_id")
        return self

    def event(self, row: int, secret: bytes) -> ParsedEvent:
        acute = self.acute if self.acute is not None else self.kind != ServiceKind.SHORT_STAY
        return ParsedEvent(
            row=row, person_key=person_key(source=self.source, local_id=self.patient_id,
                                           national_id=self.national_id, secret=secret),
            name=self.name, birth_date=self.birth_date, kind=self.kind.value, start=self.start, end=self.end,
            acute=acute, diagnoses=tuple(c for c in re.split(r"[\s,|]+", self.diagnoses) if c),
            source=self.source, source_id=self.source_id)


def _row_reason(error: ValidationError) -> str:
    """Every problem of a row, each after the column it is about: 'start: '31.02.2025' is not…'."""
    return "; ".join(f"{e['loc'][0]}: {e['msg']}" if e["loc"] else e["msg"] for e in error.errors())


def _delimiter(first_line: str) -> str:
    """';' (Norwegian Excel) or ',', as csv.Sniffer reads the header; ';' when it cannot tell."""
    try:
        return csv.Sniffer().sniff(first_line, delimiters=";,").delimiter
    except csv.Error:
        return ";"


def _check_columns(columns: list[str], source: str | None) -> None:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if unknown:
        problems.append("unknown columns: " + ", ".join(unknown))
    if "patient_id" not in columns and "national_id" not in columns:
        problems.append("a patient_id or a national_id column is needed")
    if len(set(columns)) != len(columns):
        problems.append("a column appears twice")
    if problems:
        raise ImportFileError("wrong columns (" + "; ".join(problems) + "); expected "
                              + ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))
    if source is None and "source" not in columns:
        raise ImportFileError("no source: give --source NAME or a source column")


def _csv_row(parsed: Parsed, seen: dict, raw: dict, row: int, columns: list[str], source: str | None,
             secret: bytes) -> None:
    if None in raw or any(v is None for v in raw.values()):
        parsed.rejected.append(Rejection(row, f"expected {len(columns)} fields"))
        return
    try:
        typed = CsvRow.model_validate(raw | ({"source": source} if source else {}))
    except ValidationError as exc:
        parsed.rejected.append(Rejection(row, _row_reason(exc)))
        return
    _check_event(parsed, seen, typed.event(row, secret))


def parse_csv(text: str, *, source: str | None, secret: bytes) -> Parsed:
    """Parse a CSV export. Separator ';' or ','; header row required (see docs/outcomes.md)."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError("the file is empty")
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text.splitlines()[0]))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    _check_columns(columns, source)
    reader.fieldnames = columns
    parsed = Parsed()
    seen: dict = {}
    for raw in reader:
        parsed.rows += 1
        _csv_row(parsed, seen, raw, reader.line_num, columns, source, secret)
    if parsed.rows == 0:
        raise ImportFileError("the file has a header but no rows")
    return parsed


def _local_date(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_ZONE).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return parse_date(str(value)[:10])


def _first_error(exc) -> str:
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]


def _bundle_data(text: str) -> dict:
    """The bundle as JSON, its own structure checked; each Encounter is checked on its own, so
    one bad Encounter is a rejected row, not an unreadable file."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise ImportFileError("not a FHIR Bundle")
    entries = data.get("entry")
    skeleton = dict(data, entry=[{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                                 for e in entries]) if isinstance(entries, list) else data
    try:
        Bundle.model_validate(skeleton)
    except ValidationError as exc:
        raise ImportFileError("not a valid FHIR R4 Bundle: " + _first_error(exc)) from None
    return data


def _bundle_index(data: dict) -> tuple[dict[str, dict], list[tuple[int, dict]]]:
    """The Patients and Conditions by reference, and the Encounters with their entry numbers."""
    resources: dict[str, dict] = {}
    encounters: list[tuple[int, dict]] = []
    for number, entry in enumerate(data.get("entry") or [], start=1):
        resource = entry.get("resource") or {}
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        if kind == "Encounter":
            encounters.append((number, resource))
        elif kind in ("Patient", "Condition"):
            for ref in (entry.get("fullUrl"), f"{kind}/{resource.get('id')}"):
                if ref:
                    resources[ref] = resource
    if not encounters:
        raise ImportFileError("the bundle has no Encounter")
    return resources, encounters


def _subject(encounter, resources: dict[str, dict]) -> tuple[dict | None, str | None, str | None]:
    """(the Patient resource if in the bundle, national id, local id) of the Encounter's subject."""
    subject = encounter.subject
    patient = resources.get(subject.reference) if subject and subject.reference else None
    if patient is not None:
        national = [i.get("value") for i in patient.get("identifier") or [] if i.get("system") in NATIONAL_ID_SYSTEMS]
        return patient, (national[-1] if national else None), patient.get("id")
    if subject and subject.identifier:
        ident = subject.identifier
        return (None, ident.value, None) if ident.system in NATIONAL_ID_SYSTEMS else (None, None, ident.value)
    return None, None, None


def _diagnoses(encounter, resources: dict[str, dict]) -> tuple[str, ...]:
    codes: list[str] = []
    for concept in encounter.reasonCode or []:
        codes += [c.code for c in concept.coding or [] if c.code]
    for diagnosis in encounter.diagnosis or []:
        condition = resources.get(diagnosis.condition.reference or "") if diagnosis.condition else None
        codes += [c["code"] for c in ((condition or {}).get("code") or {}).get("coding") or [] if c.get("code")]
    return tuple(dict.fromkeys(codes))


def _name_and_birth(patient: dict | None) -> tuple[str, date | None]:
    if patient is None:
        return "", None
    names = patient.get("name") or []
    name = ""
    if names:
        n = names[0]
        name = n.get("text") or " ".join((n.get("given") or []) + [n.get("family") or ""]).strip()
    return name, parse_date(patient["birthDate"]) if patient.get("birthDate") else None


def _encounter_problems(source_id, row_source, mapped, code, start, national_id, local_id) -> list[str]:
    errors = []
    if not source_id:
        errors.append("no identifier or id")
    if not row_source:
        errors.append("no source: give --source NAME or an identifier system")
    if mapped is None:
        errors.append(f"unknown class '{code}' (IMP, ACUTE, NONAC, EMER, SS)")
    if start is None:
        errors.append("no period.start")
    if national_id and not valid_national_id(national_id):
        errors.append("the patient's national id is not a valid fødselsnummer or D-number")
    if not national_id and not local_id:
        errors.append("no subject (a Patient in the bundle or an identifier)")
    return errors


def _period(encounter) -> tuple[date | None, date | None]:
    if encounter.period is None:
        return None, None
    return _local_date(encounter.period.start), _local_date(encounter.period.end)


def _encounter_event(number: int, raw: dict, resources: dict[str, dict], source: str | None,
                     secret: bytes) -> ParsedEvent | Rejection:
    from fhir.resources.R4B.encounter import Encounter

    try:
        encounter = Encounter.model_validate(raw)
    except ValidationError as exc:
        return Rejection(number, "not a valid Encounter: " + _first_error(exc))
    identifier = encounter.identifier[0] if encounter.identifier else None
    source_id = (identifier.value if identifier else None) or encounter.id
    row_source = source or (identifier.system if identifier else None)
    code = encounter.class_fhir.code if encounter.class_fhir else None
    mapped = FHIR_CLASSES.get(code or "")
    start, end = _period(encounter)
    patient, national_id, local_id = _subject(encounter, resources)
    errors = _encounter_problems(source_id, row_source, mapped, code, start, national_id, local_id)
    if errors:
        return Rejection(number, "; ".join(errors))
    assert source_id and row_source and mapped is not None and start is not None, "_encounter_problems names each"
    kind, acute = mapped
    if encounter.priority and any(c.code == "EL" for c in encounter.priority.coding or []):
        acute = False
    name, birth = _name_and_birth(patient)
    return ParsedEvent(
        row=number, person_key=person_key(source=row_source, local_id=local_id, national_id=national_id, secret=secret),
        name=name, birth_date=birth, kind=kind.value, start=start, end=end, acute=acute,
        diagnoses=_diagnoses(encounter, resources), source=row_source, source_id=source_id)


def parse_fhir_bundle(text: str, *, source: str | None, secret: bytes) -> Parsed:
    """Parse a FHIR R4 Bundle of Encounters (with the Patients and Conditions they refer to)."""
    resources, encounters = _bundle_index(_bundle_data(text))
    parsed = Parsed()
    seen: dict = {}
    for number, raw in encounters:
        parsed.rows += 1
        result = _encounter_event(number, raw, resources, source, secret)
        if isinstance(result, Rejection):
            parsed.rejected.append(result)
        else:
            _check_event(parsed, seen, result)
    return parsed


def parse_file(path: str | Path, *, source: str | None, secret: bytes) -> Parsed:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text (export it as UTF-8)") from None
    if text.lstrip().startswith("{"):
        return parse_fhir_bundle(text, source=source, secret=secret)
    return parse_csv(text, source=source, secret=secret)


@dataclass
class ImportReport:
    rows: int
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    written: bool = False

    def summary(self) -> str:
        outcome = "written" if self.written else "nothing written"
        return (f"{self.rows} rows: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{len(self.rejected)} rejected; {outcome}.")


def store(session: Session, clock: Clock, *, team_id: int, parsed: Parsed, accept_valid: bool = False,
          progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Write the parsed events for a team in one transaction (commits or rolls back)."""
    report = ImportReport(rows=parsed.rows, rejected=list(parsed.rejected))
    if report.rejected and not accept_valid:
        return report
    now = clock.now()
    people: dict[str, ServicePerson] = {}
    for done, event in enumerate(parsed.events, start=1):
        person = people.get(event.person_key) or session.exec(select(ServicePerson).where(
            ServicePerson.team_id == team_id, ServicePerson.person_key == event.person_key)).first()
        if person is None:
            person = ServicePerson(team_id=team_id, person_key=event.person_key, created_at=now, updated_at=now)
            session.add(person)
        if event.name and person.name != event.name:
            person.name, person.updated_at = event.name, now
        if event.birth_date and person.birth_date != event.birth_date:
            person.birth_date, person.updated_at = event.birth_date, now
        session.flush()
        people[event.person_key] = person
        existing = session.exec(select(ServiceUse).where(ServiceUse.source == event.source,
                                                         ServiceUse.source_id == event.source_id)).first()
        fields: dict[str, Any] = {"kind": event.kind, "start_date": event.start, "end_date": event.end, "acute": event.acute,
                  "diagnoses": list(event.diagnoses)}
        if existing is None:
            session.add(ServiceUse(person_id=person.id, source=event.source, source_id=event.source_id,
                                   created_at=now, updated_at=now, **fields))
            report.new += 1
        elif existing.person_id != person.id:
            report.rejected.append(Rejection(event.row, f"source id {event.source_id} was imported for another person"))
        elif any(getattr(existing, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(existing, k, v)
            existing.updated_at = now
            report.updated += 1
        else:
            report.unchanged += 1
        if progress:
            progress(done, len(parsed.events))
    if report.rejected and not accept_valid:
        session.rollback()
        report.new = report.updated = report.unchanged = 0
        return report
    session.flush()  # the command's transaction commits it
    report.written = True
    return report
