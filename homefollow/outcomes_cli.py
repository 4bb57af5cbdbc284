"""`flask --app wsgi outcomes …`: import service-use history, list candidates, print figures."""

from __future__ import annotations

import os
import sys
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from .clock import get_clock
from .transactions import unit_of_work

outcomes_cli = AppGroup("outcomes", help="Service-use history, candidates, before/after figures, FHIR export.")


def _engine():
    return current_app.extensions["homefollow.engine"]


def _today():

    return get_clock().now().astimezone(ZoneInfo("Europe/Oslo")).date()


def person_secret() -> bytes:
    """The HMAC key for national id numbers. Must stay the same across imports, or the same
    person gets a new key: set OUTCOMES_PERSON_KEY (falls back to SECRET_KEY)."""
    return (os.environ.get("OUTCOMES_PERSON_KEY") or current_app.config["SECRET_KEY"]).encode()


def _team(session: Session, team_id: int):
    from .models import Team

    team = session.get(Team, team_id)
    if team is None:
        raise click.ClickException(f"no team {team_id}")
    return team


@outcomes_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--team", "team_id", type=int, required=True, help="The team whose catchment the history is for.")
@click.option("--source", help="Name of the sender (default: the file's source column or identifier system).")
@click.option("--accept-valid", is_flag=True, help="Write the valid rows even if some are rejected.")
def import_history(path: str, team_id: int, source: str | None, accept_valid: bool) -> None:
    """Import a CSV file or a FHIR R4 Encounter bundle. All or nothing unless --accept-valid."""
    from .outcomes import imports

    try:
        parsed = imports.parse_file(path, source=source, secret=person_secret())
    except imports.ImportFileError as exc:
        raise click.ClickException(f"{path}: {exc}; nothing written.") from None
    click.echo(f"{path}: {parsed.rows} rows read, {len(parsed.rejected)} rejected while reading.")

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            click.echo(f"  stored {done}/{total}")

    with unit_of_work(_engine()) as session:
        _team(session, team_id)
        report = imports.store(session, get_clock(), team_id=team_id, parsed=parsed, accept_valid=accept_valid,
                               progress=progress)
    for rejection in report.rejected:
        click.echo(f"  rejected {rejection}")
    click.echo(report.summary())
    if report.rejected and not report.written:
        click.echo("Fix the rows above, or run again with --accept-valid to write the valid rows.")
        sys.exit(1)


@outcomes_cli.command("candidates")
@click.option("--team", "team_id", type=int, required=True)
@click.option("--min", "min_admissions", type=click.IntRange(1, 100), default=6, show_default=True,
              help="Admissions in the last 12 months.")
@click.option("--sort", type=click.Choice(["lace", "admissions", "bed_days", "emergency", "last_admission", "name"]),
              default="lace", show_default=True)
def candidates(team_id: int, min_admissions: int, sort: str) -> None:
    """People of a team's catchment with many admissions, not enrolled, with their LACE index."""
    from .outcomes.candidates import team_candidates

    with unit_of_work(_engine()) as session:
        _team(session, team_id)
        found = team_candidates(session, team_id, _today(), min_admissions=min_admissions, sort=sort)
    click.echo(f"{'person':>6}  {'name':<28} {'adm':>4} {'acute':>5} {'beds':>5} {'ED':>3} {'last':<10}  LACE (L+A+C+E)")
    for c in found:
        score = c.lace
        click.echo(f"{c.person_id:>6}  {c.name[:28]:<28} {c.admissions:>4} {c.acute_admissions:>5} {c.bed_days:>5} "
                   f"{c.emergency_visits:>3} {c.last_admission.isoformat():<10}  {score.total:>2} ({score.l}+{score.a}+{score.c}+{score.e})")
    click.echo(f"{len(found)} candidates with at least {min_admissions} admissions in the last 12 months.")


@outcomes_cli.command("figures")
@click.option("--team", "team_id", type=int)
@click.option("--municipality", "municipality_id", type=int)
@click.option("--patient", "patient_id", type=int)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the figures as CSV to this file ('-' for standard output instead of the table).")
def figures(team_id: int | None, municipality_id: int | None, patient_id: int | None, csv_path: str | None) -> None:
    """Use of services in the 250 days before and after inclusion."""
    from .outcomes.cohorts import cohort, figure_rows, figures_csv, figures_for

    if team_id is None and municipality_id is None and patient_id is None:
        raise click.UsageError("give --team, --municipality or --patient")
    with unit_of_work(_engine()) as session:
        patients = cohort(session, team_id=team_id, municipality_id=municipality_id, patient_id=patient_id)
        result = figures_for(session, patients, _today())
    if csv_path == "-":
        click.echo(figures_csv(result), nl=False)
        return
    click.echo(f"{result.patients} patients, {result.without_history} without service-use history (left out).")
    click.echo(f"{'measure':<20} {'before':>7} {'n':>4} {'pt-yr':>6} {'/pt-yr':>7}   {'after':>7} {'n':>4} "
               f"{'pt-yr':>6} {'/pt-yr':>7}  {'change %':>8}")
    for row in figure_rows(result):
        before_rate = row["before_per_patient_year"] or (row["before_rate"] and row["before_rate"] + " %")
        after_rate = row["after_per_patient_year"] or (row["after_rate"] and row["after_rate"] + " %")
        click.echo(f"{row['measure']:<20} {row['before_total']:>7} {row['before_patients']:>4} "
                   f"{row['before_patient_years']:>6} {before_rate:>7}   {row['after_total']:>7} "
                   f"{row['after_patients']:>4} {row['after_patient_years']:>6} {after_rate:>7}  {row['change']:>8}")
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as out:
            out.write(figures_csv(result))
        click.echo(f"CSV written to {csv_path}.")


@outcomes_cli.command("link")
@click.argument("person_id", type=int)
@click.argument("patient_id", type=int)
def link(person_id: int, patient_id: int) -> None:
    """Tie a person's service-use history to the patient they were enrolled as."""
    from .outcomes.cohorts import link_person

    with unit_of_work(_engine()) as session:
        try:
            link_person(session, get_clock(), person_id=person_id, patient_id=patient_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Person {person_id} is patient {patient_id}.")


@outcomes_cli.command("palliative")
@click.argument("person_id", type=int)
@click.option("--off", is_flag=True, help="Remove the mark.")
def palliative(person_id: int, off: bool) -> None:
    """Mark a person as in palliative care: never shown as a candidate."""
    from .models import ServicePerson

    with unit_of_work(_engine()) as session:
        person = session.get(ServicePerson, person_id)
        if person is None:
            raise click.ClickException(f"no person {person_id}")
        person.palliative = not off
        person.updated_at = get_clock().now()
        session.add(person)
    click.echo(f"Person {person_id} {'is no longer' if off else 'is'} marked palliative.")


@outcomes_cli.command("fhir-export")
@click.argument("patient_id", type=int)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the Bundle to this file (default: standard output).")
def fhir_export(patient_id: int, out_path: str | None) -> None:
    """One patient's record as a FHIR R4 Bundle (JSON). Audited."""
    from .fhir_export import bundle_json, patient_bundle
    from .models import Patient
    from .services import audit
    from .services.audit import Actor

    clock = get_clock()
    with unit_of_work(_engine()) as session:
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise click.ClickException(f"no patient {patient_id}")
        bundle = patient_bundle(session, clock, patient)
        audit.record(session, clock, actor=Actor.system("cli"), action="export.fhir", patient_id=patient.id,
                     via="cli", resources=len(bundle["entry"]))
    text = bundle_json(bundle)
    if out_path is None:
        click.echo(text)
        return
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(text)
    click.echo(f"Patient {patient_id}: {len(bundle['entry'])} resources written to {out_path}.")
