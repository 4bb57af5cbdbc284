"""Importing admission history: malformed files are rejected whole, with the reason per row."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import select

from homefollow.models import ServicePerson, ServiceUse
from homefollow.outcomes.imports import ImportFileError, parse_csv, parse_date, parse_fhir_bundle, store

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

SECRET = b"test-person-key"
HEADER = "source_id;patient_id;name;birth_date;kind;start;end;acute;diagnoses\n"
GOOD = HEADER + (
    "A1;P100;Kari Test;01.02.1940;innleggelse;01.03.2025;05.03.2025;ja;I50.1 J44.1\n"
    "A2;P100;Kari Test;01.02.1940;admission;2025-04-01;2025-04-10;;I50.1\n"
    "E1;P100;Kari Test;;legevakt;10.04.2025;;;\n"
    "K1;P200;Per Test;1938-06-30;korttidsopphold;1.5.2025;20.5.2025;;\n"
)


def _csv(body: str, source: str | None = "UNN") -> object:
    return parse_csv(body, source=source, secret=SECRET)


def test_a_good_file_is_stored_and_reimporting_it_changes_nothing(session, clock, world):
    report = store(session, clock, team_id=world.team_a.id, parsed=_csv(GOOD))
    assert report.written and (report.rows, report.new, report.rejected) == (4, 4, [])
    people = {p.name: p for p in session.exec(select(ServicePerson))}
    assert set(people) == {"Kari Test", "Per Test"}
    assert people["Kari Test"].birth_date == date(1940, 2, 1)
    uses = {u.source_id: u for u in session.exec(select(ServiceUse))}
    assert (uses["A1"].start_date, uses["A1"].end_date, uses["A1"].acute) == (date(2025, 3, 1), date(2025, 3, 5), True)
    assert uses["A1"].diagnoses == ["I50.1", "J44.1"]
    assert (uses["E1"].kind, uses["K1"].kind, uses["K1"].acute) == ("emergency", "short_stay", False)

    again = store(session, clock, team_id=world.team_a.id, parsed=_csv(GOOD))
    assert (again.new, again.updated, again.unchanged, again.written) == (0, 0, 4, True)
    assert len(session.exec(select(ServiceUse)).all()) == 4
    assert len(session.exec(select(ServicePerson)).all()) == 2


def test_a_later_extract_updates_an_event_instead_of_duplicating_it(session, clock, world):
    store(session, clock, team_id=world.team_a.id, parsed=_csv(HEADER + "A9;P1;;;admission;01.03.2025;;;\n"))
    report = store(session, clock, team_id=world.team_a.id,
                   parsed=_csv(HEADER + "A9;P1;;;admission;01.03.2025;04.03.2025;;\n"))
    assert (report.new, report.updated) == (0, 1)
    assert session.exec(select(ServiceUse)).one().end_date == date(2025, 3, 4)


@pytest.mark.parametrize("header, reason", [
    ("source_id;patient_id;kind;begin\n", "missing columns: start"),
    ("source_id;patient_id;kind;start;ward\n", "unknown columns: ward"),
    ("source_id;kind;start\n", "a patient_id or a national_id column is needed"),
])
def test_wrong_columns_reject_the_whole_file(header, reason):
    with pytest.raises(ImportFileError, match="wrong columns") as error:
        _csv(header + "A1;P1;admission;01.03.2025\n")
    assert reason in str(error.value)


def test_bad_rows_are_reported_one_by_one_and_nothing_is_written(session, clock, world):
    body = HEADER + (
        "A1;P1;;;admission;01.03.2025;05.03.2025;;\n"  # line 2: good
        "A2;P1;;;admission;31.02.2025;;;\n"  # line 3: no such day
        "A3;P1;;;admission;2025/03/01;;;\n"  # line 4: not a date format
        "A4;P1;;;admission;10.03.2025;05.03.2025;;\n"  # line 5: ends before it starts
        "A1;P1;;;admission;01.03.2025;05.03.2025;;\n"  # line 6: same sender's id as line 2
        "A6;P1;;;poliklinikk;01.03.2025;;;\n"  # line 7: unknown kind
        "A7;P1;;;admission;01.03.2025;;kanskje;\n"  # line 8: acute must be yes or no
    )
    parsed = _csv(body)
    reasons = {r.row: r.reason for r in parsed.rejected}
    assert "is not a date in the calendar" in reasons[3]
    assert "is not a date (dd.mm.yyyy or yyyy-mm-dd)" in reasons[4]
    assert reasons[5] == "end 2025-03-05 is before start 2025-03-10"
    assert reasons[6] == "duplicate of row 2 (source id A1)"
    assert "unknown kind 'poliklinikk'" in reasons[7]
    assert "acute" in reasons[8]
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    report = store(session, clock, team_id=world.team_a.id, parsed=parsed)
    assert not report.written and len(report.rejected) == 6
    assert "nothing written" in report.summary()
    assert session.exec(select(ServiceUse)).all() == []
    assert session.exec(select(ServicePerson)).all() == []


def test_accept_valid_writes_the_good_rows_only(session, clock, world):
    parsed = _csv(HEADER + "A1;P1;;;admission;01.03.2025;;;\nA2;P1;;;admission;xx;;;\n")
    report = store(session, clock, team_id=world.team_a.id, parsed=parsed, accept_valid=True)
    assert report.written and report.new == 1 and [r.row for r in report.rejected] == [3]
    assert [u.source_id for u in session.exec(select(ServiceUse))] == ["A1"]


def test_national_ids_are_never_stored_in_clear(session, clock, world):
    body = "source_id;national_id;kind;start\nA1;01014012369;admission;01.03.2025\nA2;01014012368;admission;01.03.2025\n"
    parsed = _csv(body)
    assert [r.row for r in parsed.rejected] == [3]  # wrong control digit
    store(session, clock, team_id=world.team_a.id, parsed=parsed, accept_valid=True)
    person = session.exec(select(ServicePerson)).one()
    assert person.person_key.startswith("nid:") and "01014012369" not in person.person_key
    for table in ("service_person", "service_use"):
        dump = " ".join(str(v) for row in session.execute(text(f"SELECT * FROM {table}")) for v in row)
        assert "01014012369" not in dump


def test_a_source_is_required():
    with pytest.raises(ImportFileError, match="no source"):
        _csv(GOOD, source=None)


def test_dates_in_norwegian_and_iso_form():
    assert parse_date("1.3.2025") == parse_date("01.03.2025 14:30") == parse_date("2025-03-01T14:30:00+01:00")
    with pytest.raises(ValueError):
        parse_date("03/01/2025")


def _bundle(*encounters, extra=()):
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Nordmann", "given": ["Ola"]}],
               "birthDate": "1941-05-17",
               "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "15035245623"}]}
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.7110", "code": "J44.1"}]}}
    entries = [{"fullUrl": "urn:uuid:p1", "resource": patient}, {"resource": condition}]
    entries += [{"resource": e} for e in encounters] + list(extra)
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def _encounter(ident, code, start, end=None, **more):
    enc = {"resourceType": "Encounter", "id": ident, "status": "finished",
           "identifier": [{"system": "https://unn.no/dips/encounter", "value": ident}],
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code},
           "subject": {"reference": "urn:uuid:p1"}, "period": {"start": start, **({"end": end} if end else {})}}
    enc.update(more)
    return enc


def test_a_fhir_encounter_bundle_is_imported(session, clock, world):
    bundle = _bundle(
        _encounter("E-1", "IMP", "2025-03-01T22:30:00+01:00", "2025-03-06T10:00:00+01:00",
                   diagnosis=[{"condition": {"reference": "Condition/c1"}}],
                   reasonCode=[{"coding": [{"code": "I50.1"}]}]),
        _encounter("E-2", "EMER", "2025-04-02T23:30:00Z"),  # 01:30 on 3 April in Norway
        _encounter("E-3", "IMP", "2025-05-01", "2025-05-03", priority={"coding": [{"code": "EL"}]}),
    )
    parsed = parse_fhir_bundle(bundle, source=None, secret=SECRET)
    assert parsed.rejected == []
    report = store(session, clock, team_id=world.team_a.id, parsed=parsed)
    assert report.written and report.new == 3
    person = session.exec(select(ServicePerson)).one()
    assert (person.name, person.birth_date) == ("Ola Nordmann", date(1941, 5, 17))
    uses = {u.source_id: u for u in session.exec(select(ServiceUse))}
    assert uses["E-1"].source == "https://unn.no/dips/encounter"
    assert (uses["E-1"].kind, uses["E-1"].start_date, uses["E-1"].end_date) == ("admission", date(2025, 3, 1), date(2025, 3, 6))
    assert sorted(uses["E-1"].diagnoses) == ["I50.1", "J44.1"]
    assert (uses["E-2"].kind, uses["E-2"].start_date) == ("emergency", date(2025, 4, 3))
    assert uses["E-3"].acute is False
    assert store(session, clock, team_id=world.team_a.id,
                 parsed=parse_fhir_bundle(bundle, source=None, secret=SECRET)).unchanged == 3


def test_a_fhir_bundle_with_an_unknown_class_or_bad_structure_is_rejected():
    parsed = parse_fhir_bundle(_bundle(_encounter("E-1", "AMB", "2025-03-01")), source=None, secret=SECRET)
    assert [(r.row, r.reason) for r in parsed.rejected] == [(3, "unknown class 'AMB' (IMP, ACUTE, NONAC, EMER, SS)")]
    parsed = parse_fhir_bundle(_bundle(_encounter("E-1", "IMP", "2025-03-05", "2025-03-01")), source="UNN", secret=SECRET)
    assert parsed.rejected[0].reason == "end 2025-03-01 is before start 2025-03-05"
    with pytest.raises(ImportFileError, match="not a FHIR Bundle"):
        parse_fhir_bundle('{"resourceType": "Patient"}', source="UNN", secret=SECRET)
    with pytest.raises(ImportFileError, match="not a valid FHIR R4 Bundle"):
        parse_fhir_bundle('{"resourceType": "Bundle", "type": "collection", "entry": "x"}', source="UNN", secret=SECRET)
    bad = _encounter("E-1", "IMP", "yesterday")
    parsed = parse_fhir_bundle(_bundle(bad, _encounter("E-2", "IMP", "2025-03-01")), source="UNN", secret=SECRET)
    assert [r.row for r in parsed.rejected] == [3] and "not a valid Encounter: period.start" in parsed.rejected[0].reason
    assert [e.source_id for e in parsed.events] == ["E-2"]
    with pytest.raises(ImportFileError, match="not JSON"):
        parse_fhir_bundle('{"resourceType": ', source="UNN", secret=SECRET)
