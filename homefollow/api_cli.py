"""`flask --app wsgi api …`: tokens for hospital systems, and telling who a patient is to them."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from .clock import get_clock

api_cli = AppGroup("api", help="The JSON API for hospital systems: tokens and patient identifiers.")
token_cli = AppGroup("token", help="Access tokens (one organisation each, scoped, shown once).")
api_cli.add_command(token_cli)


def _engine():
    return current_app.extensions["homefollow.engine"]


@token_cli.command("create")
@click.option("--organisation", "organisation_id", type=int, required=True, help="The organisation's id.")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="encounters:write and/or observations:write (repeat the option for both).")
@click.option("--name", default="", help="What the token is for, e.g. 'DIPS Arena'.")
@click.option("--source", help="The name the sender's patient ids are known by (as in `outcomes import --source`); "
                               "default: the organisation's name.")
@click.option("--days", type=int, default=365, show_default=True, help="Days until it expires (at most 730).")
def token_create(organisation_id: int, scopes: tuple[str, ...], name: str, source: str | None, days: int) -> None:
    """Make a token and print it once: it is stored only as a hash."""
    from .services import api_tokens

    from .transactions import unit_of_work

    try:
        with unit_of_work(_engine()) as session:
            new = api_tokens.create(session, get_clock(), organisation_id=organisation_id, name=name,
                                    scopes=list(scopes), source=source, days=days)
    except api_tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from None
    row = new.row  # printed only once it is stored
    click.echo(new.token)
    click.echo(f"Token {row.id} for organisation {organisation_id} ({', '.join(row.scopes)}; source {row.source!r}), "
               f"expires {row.expires_at:%Y-%m-%d}. Keep it now: it cannot be shown again.", err=True)


@token_cli.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    from .services import api_tokens

    from .transactions import unit_of_work

    try:
        with unit_of_work(_engine()) as session:
            api_tokens.revoke(session, get_clock(), token_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Token {token_id} is revoked.")


@token_cli.command("list")
@click.option("--organisation", "organisation_id", type=int)
def token_list(organisation_id: int | None) -> None:
    """Tokens with their organisation, scopes, state and last use (never the token itself)."""
    from .services import api_tokens

    now = get_clock().now()
    with Session(_engine()) as session:
        rows = api_tokens.tokens(session, organisation_id)
    for r in rows:
        used = f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never"
        click.echo(f"{r.id:>4}  org {r.organisation_id:<4} {r.prefix}…  {api_tokens.status(r, now):<8} "
                   f"expires {r.expires_at:%Y-%m-%d}  used {used:<16} {','.join(r.scopes)}  {r.name}")
    click.echo(f"{len(rows)} tokens.")


@api_cli.command("organisations")
def organisations() -> None:
    """The organisations, with their ids (for `api token create --organisation`)."""
    from .services.team_members import organisations as all_organisations

    with Session(_engine()) as session:
        rows = all_organisations(session)
    for o in rows:
        click.echo(f"{o.id:>4}  {o.kind:<13} {o.name}")
    click.echo(f"{len(rows)} organisations.")


@api_cli.command("identify")
@click.argument("patient_id", type=int)
@click.option("--source", help="The sender's name (a token's source) for --local-id.")
@click.option("--local-id", help="The patient's id in the sender's system.")
@click.option("--national-id", is_flag=True, help="Ask for the national id number (not echoed, never stored).")
def identify(patient_id: int, source: str | None, local_id: str | None, national_id: bool) -> None:
    """Tell HomeFollow how hospital systems know an enrolled patient."""
    from .outcomes.imports import valid_national_id
    from .outcomes_cli import person_secret
    from .services.hospital_stays import identify_patient
    from .transactions import unit_of_work

    if national_id == bool(local_id):
        raise click.UsageError("give --local-id (with --source) or --national-id")
    if local_id and not source:
        raise click.UsageError("--local-id needs --source")
    number = None
    if national_id:
        number = click.prompt("National id number", hide_input=True).replace(" ", "")
        if not valid_national_id(number):
            raise click.ClickException("not a valid fødselsnummer or D-number")
    with unit_of_work(_engine()) as session:
        try:
            identify_patient(session, get_clock(), patient_id=patient_id, source=source, local_id=local_id,
                             national_id=number, secret=person_secret())
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Patient {patient_id} can now be addressed by {'national id' if number else f'{source} id {local_id}'}.")
