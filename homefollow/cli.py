"""Command-line interface: `flask --app wsgi <group> <command>`."""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session, select

db_cli = AppGroup("db", help="Database schema (Alembic).")
demo_cli = AppGroup("demo", help="Demo data.")
scheduler_cli = AppGroup("scheduler", help="The scheduler process.")
accounts_cli = AppGroup("accounts", help="Accounts.")


def _engine():
    return current_app.extensions["homefollow.engine"]


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from .migrate import current_revision, upgrade

    upgrade(_engine(), revision)
    with _engine().connect() as conn:
        click.echo(f"Database schema at {current_revision(conn)}.")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from .migrate import downgrade

    downgrade(_engine(), revision)
    click.echo(f"Database schema downgraded to {revision}.")


@db_cli.command("current")
def db_current() -> None:
    from .migrate import current_revision, head_revision

    with _engine().connect() as conn:
        click.echo(f"current: {current_revision(conn)}  head: {head_revision()}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate/--empty", default=True)
def db_revision(message: str, autogenerate: bool) -> None:
    """Write a new migration (for developers)."""
    from alembic import command

    from .migrate import alembic_config

    command.revision(alembic_config(_engine()), message=message, autogenerate=autogenerate)


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo teams, patients and history (once; safe to rerun)."""
    if not current_app.config["DEMO"]:
        raise click.ClickException("Demo data is only loaded with HOMEFOLLOW_DEMO=1.")
    from .demo import load_demo

    load_demo(_engine(), echo=click.echo)


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Tick forever, sweeping due work (outbox, missed check-ins, escalations)."""
    from .scheduler import run_forever

    run_forever(current_app._get_current_object())


@accounts_cli.command("create-staff")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--team", "team_name", required=True, help="Team name; created if it does not exist.")
@click.option("--role", type=click.Choice(["nurse", "coordinator", "physician", "gp", "team_admin"]), multiple=True,
              default=["team_admin"])
def create_staff(email: str, name: str, team_name: str, role: tuple[str, ...]) -> None:
    """Create a staff account (the first admin of a new installation)."""
    from . import get_clock
    from .models import Account, Team, TeamMembership
    from .services.accounts import hash_password, normalise_login

    password = os.environ.get("HOMEFOLLOW_NEW_PASSWORD") or getpass.getpass("Password (at least 12 characters): ")
    if len(password) < 12:
        raise click.ClickException("The password must be at least 12 characters.")
    now = get_clock().now()
    with Session(_engine()) as session:
        if session.exec(select(Account).where(Account.login == normalise_login(email))).first():
            raise click.ClickException(f"An account for {email} exists already.")
        team = session.exec(select(Team).where(Team.name == team_name)).first()
        if team is None:
            team = Team(name=team_name, created_at=now)
            session.add(team)
            session.flush()
        account = Account(kind="staff", login=normalise_login(email), email=email, name=name,
                          password_hash=hash_password(password), created_at=now)
        session.add(account)
        session.flush()
        for r in role:
            session.add(TeamMembership(team_id=team.id, account_id=account.id, role=r, created_at=now))
        session.commit()
    click.echo(f"Created staff account {email} in team {team_name!r} with roles {', '.join(role)}.")


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve(host: str, port: int) -> None:
    """Web server and scheduler together, for `make run`. Ctrl-C stops both."""
    from werkzeug.serving import run_simple

    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"])
    try:
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
    finally:
        scheduler.send_signal(signal.SIGINT)
        try:
            scheduler.wait(timeout=10)
        except subprocess.TimeoutExpired:
            scheduler.kill()


def register_cli(app: Flask) -> None:
    for group in (db_cli, demo_cli, scheduler_cli, accounts_cli):
        app.cli.add_command(group)
    app.cli.add_command(serve)
