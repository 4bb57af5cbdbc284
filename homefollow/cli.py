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
from sqlmodel import Session, select, col

from .transactions import unit_of_work
from .clock import get_clock

db_cli = AppGroup("db", help="Database schema (Alembic).")
demo_cli = AppGroup("demo", help="Demo data.")
scheduler_cli = AppGroup("scheduler", help="The scheduler process.")
accounts_cli = AppGroup("accounts", help="Accounts.")
rules_cli = AppGroup("rules", help="Rule versions: sync, test, add, activate, backtest, calibrate.")
templates_cli = AppGroup("templates", help="Plan templates shared by every team.")
teams_cli = AppGroup("teams", help="Care teams: can each be reached about red alerts out of hours?")


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
    if revision == "head":
        _sync_rules()
        assert templates_sync.callback is not None
        templates_sync.callback()


def _sync_rules() -> None:
    from .services.rulebook import sync_defaults

    with unit_of_work(_engine()) as session:
        report = sync_defaults(session, get_clock())
    for line in report.refused:
        click.echo(f"  refused: {line}", err=True)
    click.echo(report.summary())


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


@demo_cli.command("code")
@click.argument("email")
def demo_code(email: str) -> None:
    """Print the current authenticator code of a demo staff account (demo accounts only)."""
    from .models import Account
    from .services.accounts import normalise_login
    from .services.staff_auth import STEP_SECONDS, code_at, has_second_factor

    with Session(_engine()) as session:
        account = session.exec(select(Account).where(Account.login == normalise_login(email))).first()
        if account is None or not account.is_demo or not account.is_staff:
            raise click.ClickException(f"{email} is not a demo staff account. Real accounts use their own phone.")
        if not has_second_factor(account):
            raise click.ClickException(f"{email} has no second factor yet: sign in to set it up.")
        now = get_clock().now()
        left = STEP_SECONDS - int(now.timestamp()) % STEP_SECONDS
        assert account.totp_secret is not None  # has_second_factor
        click.echo(code_at(account.totp_secret, now))
        click.echo(f"(valid for about {left + STEP_SECONDS} more seconds)", err=True)


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Tick forever, sweeping due work (outbox, missed check-ins, escalations)."""
    from .scheduler import run_forever

    run_forever(current_app._get_current_object())  # type: ignore[attr-defined]  # the app behind the proxy


@accounts_cli.command("create-staff")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--team", "team_name", required=True, help="Team name; created if it does not exist.")
@click.option("--role", type=click.Choice(["nurse", "coordinator", "physician", "gp", "team_admin"]), multiple=True,
              default=["team_admin"])
@click.option("--on-call-phone", default=None,
              help="A new team's on-call phone, answered around the clock (without it the team cannot take on "
                   "patients until an admin sets one).")
def create_staff(email: str, name: str, team_name: str, role: tuple[str, ...], on_call_phone: str | None) -> None:
    """Create a staff account (the first admin of a new installation)."""
    from .models import Account, Team, TeamMembership
    from .services.accounts import hash_password, normalise_login, normalise_phone

    if on_call_phone is not None:
        on_call_phone = normalise_phone(on_call_phone)
        if on_call_phone is None:
            raise click.ClickException("The on-call phone is not a valid Norwegian number (e.g. 900 00 000).")
    password = os.environ.get("HOMEFOLLOW_NEW_PASSWORD") or getpass.getpass("Password (at least 12 characters): ")
    if len(password) < 12:
        raise click.ClickException("The password must be at least 12 characters.")
    now = get_clock().now()
    with unit_of_work(_engine()) as session:
        if session.exec(select(Account).where(Account.login == normalise_login(email))).first():
            raise click.ClickException(f"An account for {email} exists already.")
        team = session.exec(select(Team).where(Team.name == team_name)).first()
        if team is None:
            team = Team(name=team_name, on_call_phone=on_call_phone, created_at=now)
            session.add(team)
            session.flush()
        elif on_call_phone is not None:
            raise click.ClickException(f"Team {team_name!r} exists already: its admins set its phones in the "
                                       "clinician portal (Teams).")
        account = Account(kind="staff", login=normalise_login(email), email=email, name=name,
                          password_hash=hash_password(password), created_at=now)
        session.add(account)
        session.flush()
        for r in role:
            session.add(TeamMembership(team_id=team.id, account_id=account.id, role=r, created_at=now))
        route = _route_warning(session, team)
    click.echo(f"Created staff account {email} in team {team_name!r} with roles {', '.join(role)}.")
    if route:
        click.echo(route, err=True)


def _route_warning(session: Session, team) -> str | None:
    """The warning for a team that nobody would be paged for about a red alert outside opening
    hours (services.teams.out_of_hours_route_problems), or None."""
    from .services.teams import out_of_hours_route_problems

    problems = out_of_hours_route_problems(session, team)
    if not problems:
        return None
    lines = [f"Warning: team {team.name!r} (id {team.id}) has no reachable out-of-hours route: it cannot refer "
             "patients or start their follow-up until it has one."]
    lines += [f"  {problem}" for problem in problems]
    lines.append(f"  A team admin fixes it under Teams in the clinician portal: /clinic/teams/{team.id}/phones")
    return "\n".join(lines)


@teams_cli.command("check")
def teams_check() -> None:
    """List the teams nobody would be paged for about a red alert outside opening hours (no
    on-call phone and no policy of their own, or every such number replied STOP). Exits with 1
    when there is any."""
    from sqlalchemy import func

    from .models import Team
    from .services.teams import teams_without_route

    with Session(_engine()) as session:
        found = teams_without_route(session)
        total = session.exec(select(func.count()).select_from(Team)).one()
        for team, problems in found:
            click.echo(f"{team.name} (id {team.id}): no reachable out-of-hours route; "
                       f"fix it at /clinic/teams/{team.id}/phones")
            for problem in problems:
                click.echo(f"  {problem}")
    if found:
        click.echo(f"{_count(len(found), 'team')} of {total} without a reachable out-of-hours route.", err=True)
        raise SystemExit(1)
    click.echo(f"Every team ({total}) has a reachable out-of-hours route.")


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve(host: str, port: int) -> None:
    """Web server and scheduler together, for `make run`. Ctrl-C or SIGTERM stops both."""
    from werkzeug.serving import run_simple

    def stop(_signum, _frame):
        raise KeyboardInterrupt  # as Ctrl-C: the server returns, and the scheduler is stopped below

    # The scheduler runs in its own session, so Ctrl-C in the terminal reaches this process only,
    # which then stops the scheduler with one SIGTERM (a second signal would make it abandon a
    # send in progress instead of letting it finish).
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
                                 start_new_session=True)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        run_simple(host, port, current_app._get_current_object(),  # type: ignore[attr-defined]  # the app behind the proxy
               threaded=True, use_reloader=False)
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # while waiting for the scheduler to finish its send
        scheduler.terminate()
        try:
            scheduler.wait(timeout=15)  # it gives a send in progress 8 s
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()


@rules_cli.command("sync")
def rules_sync() -> None:
    """Bring the shipped rule sets (rules/defaults) into the rule book."""
    _sync_rules()


@rules_cli.command("test")
@click.argument("names", nargs=-1)
def rules_test(names: tuple[str, ...]) -> None:
    """Run the example readings of rule sets (default: all shipped sets) or YAML files."""
    from rules.cli import main

    code = main(["test", *names])
    if code:
        raise SystemExit(code)


@rules_cli.command("list")
def rules_list() -> None:
    """Every rule in the rule book with its versions."""
    from .models import RuleVersion

    with Session(_engine()) as session:
        rows = session.exec(select(RuleVersion).order_by(col(RuleVersion.key), col(RuleVersion.version))).all()
    for row in rows:
        click.echo(f"{row.key:28} v{row.version:<3} {row.status:8} {row.origin:8} {row.definition['title']['en']}")
    click.echo(f"{len(rows)} rule versions.")


@rules_cli.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--activate/--draft", default=False, help="Make the new versions active (only if their examples pass).")
def rules_add(path: str, activate: bool) -> None:
    """Store the rules of a YAML file (one rule or a rule set) as new versions."""
    from rules import RuleFormatError, load_rules

    from .services import rulebook

    try:
        rules = load_rules(path)
    except RuleFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    with unit_of_work(_engine()) as session:
        for rule in rules:
            try:
                version = rulebook.add_version(session, get_clock(), rule)
                if activate:
                    rulebook.activate(session, get_clock(), version)
            except rulebook.RuleBookError as exc:
                raise click.ClickException("\n  ".join([str(exc), *exc.problems])) from exc
            click.echo(f"{rule.key} v{rule.version}: {version.status}")


@rules_cli.command("activate")
@click.argument("key")
@click.argument("version", type=int)
def rules_activate(key: str, version: int) -> None:
    """Make a stored version the active one. Refused while any of its examples fails."""
    from .services import rulebook

    with unit_of_work(_engine()) as session:
        found = rulebook.find_version(session, key, version)
        if found is None:
            raise click.ClickException(f"no version {version} of {key}")
        try:
            rulebook.activate(session, get_clock(), found)
        except rulebook.RuleBookError as exc:
            raise click.ClickException("\n  ".join([str(exc), *exc.problems])) from exc
    click.echo(f"{key} v{version} is now active.")


@rules_cli.command("backtest")
@click.option("--rule", "key", required=True, help="Rule key, e.g. hf.weight_gain_3d")
@click.option("--version", type=int, help="Rule version (default: the active one)")
@click.option("--patient", "patient_id", type=int, help="One patient (default: every patient whose plan uses the rule)")
@click.option("--template", "template_id", type=int,
              help="Every followed patient whose plan was started from this plan template (its id)")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Try another parameter value")
def rules_backtest(key: str, version: int | None, patient_id: int | None, template_id: int | None, days: int,
                   overrides: tuple[str, ...]) -> None:
    """What a rule version would have raised over the last N days."""
    import json

    from rules import ParameterError, resolve_parameters

    from .models import Patient, PlanTemplate
    from .services import rule_tools

    if patient_id is not None and template_id is not None:
        raise click.UsageError("give --patient or --template, not both")

    params = {}
    for item in overrides:
        name, _sep, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    clock = get_clock()
    with Session(_engine()) as session:
        try:
            # Checked first: an unknown rule or a bad --set value is an error before any output.
            definition = rule_tools.rule_definition(session, key, version)
            resolve_parameters(definition, params)
            if patient_id is not None:
                patient = session.get(Patient, patient_id)
                if patient is None:
                    raise click.ClickException(f"no patient {patient_id}")
                results = [rule_tools.backtest_patient(session, clock, patient, key, version=version,
                                                       parameters=params or None, days=days)]
            else:
                if template_id is not None:
                    template = session.get(PlanTemplate, template_id)
                    if template is None:
                        raise click.ClickException(f"no plan template {template_id}")
                    patients = rule_tools.patients_on_template(session, template_id)
                    cohort = f"on the template {template.name!r}"
                else:
                    patients = rule_tools.patients_using(session, key)
                    cohort = "whose plan uses the rule"
                click.echo(f"Backtesting {key} over {days} days for {_count(len(patients), 'patient')} {cohort} …")

                def progress(done: int, total: int) -> None:
                    if done % 50 == 0:
                        click.echo(f"  {done}/{total}")

                results = rule_tools.backtest_cohort(session, clock, key, version=version, days=days,
                                                     patients=patients, parameters=params or None, progress=progress)
        except (rule_tools.RuleNotFound, ParameterError) as exc:
            raise click.ClickException(str(exc)) from exc
    total = 0
    for r in results:
        shown = ", ".join(f"{name}={value}" for name, value in r.parameters.items()) if r.parameters else "defaults"
        click.echo(f"{r.patient.name} (patient {r.patient.id}), parameters {shown}: {_count(len(r.alerts), 'alert')}")
        for a in r.alerts:
            ended = a.ended_at.isoformat(timespec="minutes") if a.ended_at else "still firing"
            click.echo(f"  {a.started_at.isoformat(timespec='minutes')} → {ended}: {a.first.explanation.en}")
        total += len(r.alerts)
    if not results:
        click.echo("No patient to backtest: name one with --patient, or a plan template with --template "
                   "(`flask --app wsgi templates list` shows their ids).")
    click.echo(f"{key} v{definition.version} over {days} days: {_count(total, 'alert')} "
               f"for {_count(len(results), 'patient')}.")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@rules_cli.command("calibrate")
@click.option("--patient", "patient_id", type=int, required=True)
@click.option("--code", required=True, help="Measurement code, e.g. spo2")
def rules_calibrate(patient_id: int, code: str) -> None:
    """Propose personal zone limits from the patient's trial period (nothing is changed)."""
    from rules import NotEnoughReadings

    from .models import Patient
    from .services import rule_tools

    with Session(_engine()) as session:
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise click.ClickException(f"no patient {patient_id}")
        try:
            proposal = rule_tools.propose_personal_limits(session, get_clock(), patient, code)
        except (NotEnoughReadings, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(proposal.explanation.en)
    click.echo(f"Proposed limits for {code}: {proposal.limits.model_dump(exclude_none=True)}")


@templates_cli.command("list")
def templates_list() -> None:
    """Plan templates with their ids (for `rules backtest --template`)."""
    from sqlmodel import select

    from .models import PlanTemplate, Team

    with Session(_engine()) as session:
        rows = session.exec(select(PlanTemplate).order_by(col(PlanTemplate.team_id), col(PlanTemplate.id))).all()
        teams = {t.id: t.name for t in session.exec(select(Team)).all()}
        for t in rows:
            owner = teams.get(t.team_id, "shared") if t.team_id is not None else "shared"  # no team: shared by all
            click.echo(f"{t.id:>4}  {t.key:24} {t.name:32} {owner}{'' if t.is_active else '  (inactive)'}")
    click.echo(f"{_count(len(rows), 'plan template')}.")


@templates_cli.command("sync")
def templates_sync() -> None:
    """Bring the shipped plan templates (homefollow/plan_templates/*.yaml) into the shared ones."""
    from .services.plan_templates import TemplateInvalid, sync_defaults

    with unit_of_work(_engine()) as session:
        try:
            report = sync_defaults(session, get_clock())
        except TemplateInvalid as exc:
            raise click.ClickException("\n  ".join(["A shipped plan template is not valid:", *exc.problems])) from exc
    click.echo(report.summary())


def register_cli(app: Flask) -> None:
    for group in (db_cli, demo_cli, scheduler_cli, accounts_cli, rules_cli, templates_cli, teams_cli):
        app.cli.add_command(group)
    app.cli.add_command(serve)
    from .api_cli import api_cli
    from .outcomes_cli import outcomes_cli

    app.cli.add_command(outcomes_cli)
    app.cli.add_command(api_cli)
