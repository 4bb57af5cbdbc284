"""Demo data: a cross-level team in Tromsø, five patients with different plans, a relative,
four weeks of plausible history with a few deviations, and some open alerts.

History is written through the same reporting service that the portals use, with a clock
set to each reading's time, so zones, alerts and the outbox are exactly what a real
four weeks would have produced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, UTC
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, update
from sqlmodel import Session, select, col

from rules.measurements import ITEMS
from rules.schedule import Schedule, local_date_of, slots_on

from .clock import FixedClock, SystemClock
from .models import (Account, AccountKind, Alert, AlertStatus, Notification, NotificationStatus, Organisation,
                     Outcome, Patient, RelativeAccess, ReportSource, Role, ServicePerson, Team, TeamMembership)
from .models import Message, PatientNote, PlanTemplate, ReportKind
from .questionnaires import QUESTIONNAIRES
from .services import alerts, checklist, messages, reporting
from .services.accounts import hash_password
from .services.evaluation import sweep_due_rules
from .services.plan_changes import change_plan
from .services.plans import (AssignedRule, Contact, PlanContent, PlanMeasurement, PlanQuestionnaire, PlanTask,
                             SafetyDecision, ZoneActions)
from .services.plan_templates import sync_defaults as sync_plan_templates
from .services.audit import Actor
from .services.rulebook import sync_defaults
from .transactions import unit_of_work

DEMO_PASSWORD = "demo1234"
DEMO_CODE_COMMAND = "HOMEFOLLOW_DEMO=1 .venv/bin/flask --app wsgi demo code <e-mail>"
HISTORY_DAYS = 28
TZ = "Europe/Oslo"

OPENING_HOURS = {d: ["08:00", "15:30"] for d in ("mon", "tue", "wed", "thu", "fri")}


@dataclass
class DemoPatient:
    name: str
    login: str | None
    birth: date
    diagnoses: list[str]
    plan: PlanContent
    baseline: dict[str, float]  # typical value per measurement code
    noise: dict[str, float]
    # (days ago, item, slot index) -> values that replace the generated ones; for a
    # questionnaire the answers, for a task {"done": 0}
    deviations: dict[tuple[int, str, int], dict[str, float]]
    skip_probability: float = 0.08
    usual_answers: dict[str, dict[str, int]] | None = None  # questionnaire -> the patient's usual answers
    template: str | None = None  # the shipped plan template the team started the plan from, then adapted
    # Readings outside the plan's schedule: (days ago, local time, item, values) — what the
    # patient measured on their own, such as a SpO2 the plan does not ask for.
    extra: tuple[tuple[int, str, str, dict[str, float]], ...] = ()


def _daily(*hours: str) -> Schedule:
    return Schedule(times=tuple(time.fromisoformat(h) for h in hours))


def _actions(green: str, yellow: str, red: str) -> ZoneActions:
    return ZoneActions(green=green, yellow=yellow, red=red)


RED_CALL = "Ring 113 hvis du er svært tung i pusten, har brystsmerter eller blir forvirret. Ellers: ring teamet nå, eller legevakt på 116 117 når teamet er stengt."


def _rule(key: str, **parameters) -> AssignedRule:
    return AssignedRule(key=key, parameters=parameters)


COPD_INSTRUCTIONS = {
    "copd.yellow": "Verre enn vanlig: start beredskapskuren (prednisolon og antibiotika) slik planen sier, og ring teamet i dag.",
    "copd.red": RED_CALL,
}
HF_INSTRUCTIONS = {
    "hf.yellow": "Du har gått opp i vekt eller har mer hevelse eller tung pust. Ta én ekstra furosemid 40 mg i dag, slik planen sier, og ring teamet i dag.",
    "hf.red": RED_CALL,
}
GENERAL_INSTRUCTIONS = {
    "general.yellow": "Flere målinger er utenfor det vanlige for deg. Hvil, drikk godt og ring teamet i dag.",
    "general.red": RED_CALL,
}


def _scale2(diagnosis: str, days_ago: int, now: datetime) -> SafetyDecision:
    """SpO2 on NEWS2 scale 2 (red below 84 %): a recorded decision for confirmed hypercapnic
    respiratory failure, by the team's physician."""
    return SafetyDecision(rule="safety.spo2_red", parameters={"red_low": 84}, reason=diagnosis,
                          decided_by="Ingrid Berg, lege", decided_on=(now - timedelta(days=days_ago)).date())


def _patients(now: datetime) -> list[DemoPatient]:
    trial_start = (now - timedelta(days=HISTORY_DAYS)).isoformat()
    trial_end = (now - timedelta(days=14)).isoformat()
    return [
        DemoPatient(
            name="Astrid Johansen", login="+4791000001", birth=date(1942, 3, 14), template="heart_failure",
            diagnoses=["Hjertesvikt (I50.0)", "Atrieflimmer (I48)"],
            plan=PlanContent(
                what_matters="Å bo hjemme, og å gå tur med hunden Luna hver dag.",
                goals=["Gå tur med Luna 20 minutter hver dag", "Unngå innleggelse i vinter"],
                measurements=[
                    PlanMeasurement(item="weight", schedule=_daily("08:00"),
                                    patient_actions=_actions(
                                        "Fortsett som før. Ta medisinene dine som vanlig.",
                                        "Du har gått opp i vekt. Ta én ekstra furosemid 40 mg i dag, slik planen sier, og ring teamet i dag.",
                                        "Du har gått mye opp i vekt. " + RED_CALL),
                                    team_actions=_actions("", "Ring pasienten samme dag; vurder diuretika etter planen.",
                                                          "Ring pasienten nå; vurder hjemmebesøk eller lege.")),
                    PlanMeasurement(item="blood_pressure", schedule=_daily("08:00"),
                                    patient_actions=_actions("Fint. Fortsett som før.",
                                                             "Sett deg ned og hvil i 15 minutter, og mål på nytt. Er det fortsatt gult, ring teamet.",
                                                             RED_CALL)),
                    PlanMeasurement(item="pulse", schedule=_daily("08:00"),
                                    patient_actions=_actions("Fint.", "Hvil og mål igjen om en time. Ring teamet hvis den fortsatt er gul.", RED_CALL)),
                ],
                rules=[
                    _rule("hf.weight_above_dry", baseline_value=68.0),  # dry weight set at discharge
                    _rule("hf.weight_red", baseline_value=68.0),
                    _rule("hf.weight_gain_3d"),
                    _rule("hf.weight_gain_7d"),
                    _rule("hf.weight_missed"),  # follows the weighing time in the plan
                    _rule("general.bp_red", red_high=180),
                    _rule("general.bp_yellow", yellow_low=95, yellow_high=160, n=1, m=1),
                    _rule("missed.blood_pressure"),
                    _rule("general.pulse_red", red_high=120),
                    _rule("general.pulse_yellow", yellow_low=50, yellow_high=100),
                    _rule("missed.pulse"),
                    _rule("hf.swelling"),
                    _rule("hf.breathless_rest"),
                    _rule("missed.questionnaire"),
                ],
                questionnaires=[PlanQuestionnaire(key="daily_checkin", schedule=_daily("09:00"))],
                tasks=[PlanTask(key="morning_medicine", text="Ta morgenmedisinen", schedule=_daily("08:00")),
                       PlanTask(key="walk", text="Gå tur med Luna i 20 minutter", schedule=_daily("13:00"))],
                instructions=HF_INSTRUCTIONS,
                contacts=[Contact(name="Marit Johansen", role="datter", phone="+4791000011"),
                          Contact(name="Dr. Lars Eide", role="fastlege", phone="+4777600000")],
                next_review=date.today() + timedelta(days=45),
            ),
            baseline={"weight": 68.4, "bp_systolic": 128, "bp_diastolic": 76, "pulse": 72},
            noise={"weight": 0.3, "bp_systolic": 7, "bp_diastolic": 5, "pulse": 5},
            deviations={(14, "blood_pressure", 0): {"bp_systolic": 166, "bp_diastolic": 92},
                        (3, "weight", 0): {"weight": 69.1}, (2, "weight", 0): {"weight": 69.8},
                        (1, "weight", 0): {"weight": 70.6},
                        (1, "daily_checkin", 0): {"general": 1, "swelling": 1},
                        (6, "walk", 0): {"done": 0}, (5, "walk", 0): {"done": 0}},
            # Short of breath in the evening, she tried her daughter's oximeter: her plan has no
            # SpO2, the safety net still makes 85 % red and pages the team.
            extra=((1, "20:40", "spo2", {"spo2": 85}),),
        ),
        DemoPatient(
            name="Ola Pedersen", login="+4791000002", birth=date(1948, 11, 2), template="copd",
            diagnoses=["KOLS, GOLD 3 (J44.9)"],
            plan=PlanContent(
                what_matters="Å klare meg selv hjemme og være med på kortspill på eldresenteret på torsdager.",
                goals=["Kortspill hver torsdag", "Kjenne igjen en forverring tidlig"],
                measurements=[
                    PlanMeasurement(item="spo2", schedule=_daily("08:00", "18:00"),
                                    patient_actions=_actions(
                                        "Vanlige plager. Ta de faste medisinene dine.",
                                        COPD_INSTRUCTIONS["copd.yellow"], RED_CALL)),
                    PlanMeasurement(item="pulse", schedule=_daily("08:00"),
                                    patient_actions=_actions("Fint.", "Hvil og mål igjen om en time.", RED_CALL)),
                    PlanMeasurement(item="temperature", schedule=None,
                                    patient_actions=_actions("Fint.", "Du har feber. Ring teamet i dag.", RED_CALL)),
                ],
                rules=[
                    _rule("copd.spo2_red", red_low=88),  # scale 2 by the recorded decision below
                    _rule("copd.spo2_low", yellow_low=92),  # confirmed by 2 of the last 3 readings
                    # 3 points below his own median in the first two weeks (the trial period)
                    _rule("copd.spo2_drop", baseline_start=trial_start, baseline_end=trial_end),
                    _rule("missed.spo2"),
                    _rule("general.pulse_red", red_high=125),
                    _rule("general.pulse_yellow", yellow_high=105),
                    _rule("missed.pulse"),
                    _rule("general.temperature_red"),
                    _rule("general.temperature_yellow", yellow_low=35.5, yellow_high=38.0, n=1, m=1),
                    _rule("copd.cat", at_least=18),  # his usual CAT is 14
                    _rule("missed.cat_weekly"),
                    _rule("copd.symptoms_yellow"),
                    _rule("copd.symptoms_red"),
                    _rule("copd.rescue_repeated"),
                    _rule("missed.questionnaire"),
                ],
                safety_decisions=[_scale2("Kronisk hyperkapnisk respirasjonssvikt: pCO2 7,1 kPa i arteriell "
                                          "blodgass ved utskrivning. Målområde 88–92 %.", 40, now)],
                questionnaires=[PlanQuestionnaire(key="daily_checkin", schedule=_daily("10:00")),
                                PlanQuestionnaire(key="cat", schedule=Schedule(times=(time(10, 0),), weekdays=(0,)),
                                                  grace_minutes=24 * 60)],
                tasks=[PlanTask(key="inhaler", text="Ta inhalasjonsmedisinen (Spiolto)", schedule=_daily("08:00")),
                       PlanTask(key="rescue_medicine", text="Jeg har tatt anfallsmedisin (Ventoline)")],
                instructions=COPD_INSTRUCTIONS,
                contacts=[Contact(name="Dr. Lars Eide", role="fastlege", phone="+4777600000")],
                next_review=date.today() + timedelta(days=20),
            ),
            baseline={"spo2": 95, "pulse": 84, "temperature": 36.9},
            noise={"spo2": 0.7, "pulse": 6, "temperature": 0.3},
            deviations={(12, "spo2", 0): {"spo2": 91}, (12, "spo2", 1): {"spo2": 90},
                        (1, "spo2", 0): {"spo2": 92}, (1, "spo2", 1): {"spo2": 87},
                        (12, "daily_checkin", 0): {"cough": 1}},
            usual_answers={"cat": {"item1": 2, "item2": 2, "item3": 1, "item4": 3, "item5": 2, "item6": 1,
                                   "item7": 1, "item8": 2}},
        ),
        DemoPatient(
            name="Johan Karlsen", login="+4791000003", birth=date(1934, 6, 21), template="frail_elderly",
            diagnoses=["Skrøpelighet, CFS 6", "Hypertensjon (I10)", "Tidligere hjerneslag (I69)"],
            plan=PlanContent(
                what_matters="At kona Berit og jeg kan bo sammen hjemme så lenge som mulig.",
                goals=["Unngå fall", "Spise godt og holde vekten"],
                measurements=[
                    PlanMeasurement(item="blood_pressure", schedule=_daily("09:00"),
                                    patient_actions=_actions("Fint.", "Hvil og mål igjen om en time.", RED_CALL)),
                    PlanMeasurement(item="temperature", schedule=_daily("09:00"),
                                    patient_actions=_actions("Fint.", "Drikk godt og ring teamet i dag.", RED_CALL)),
                ],
                rules=[
                    _rule("general.bp_red", red_high=190),
                    _rule("general.bp_yellow", yellow_low=100, yellow_high=170),
                    _rule("missed.blood_pressure"),
                    _rule("general.temperature_red"),
                    _rule("general.temperature_yellow", yellow_low=35.5, yellow_high=38.0, n=1, m=1),
                    _rule("missed.temperature"),
                    _rule("general.news2_medium"),  # a partial home score: no SpO2 or pulse here
                    _rule("general.news2_high"),
                ],
                instructions=GENERAL_INSTRUCTIONS,
                next_review=date.today() + timedelta(days=10),
            ),
            baseline={"bp_systolic": 142, "bp_diastolic": 80, "temperature": 36.7},
            noise={"bp_systolic": 9, "bp_diastolic": 6, "temperature": 0.25},
            deviations={(2, "temperature", 0): {"temperature": 38.4}},
            skip_probability=0.12,
        ),
        DemoPatient(
            name="Ingrid Solberg", login="+4791000004", birth=date(1957, 1, 30), template="diabetes",
            diagnoses=["Diabetes type 2 (E11)", "Nyresvikt stadium 3 (N18.3)"],
            plan=PlanContent(
                what_matters="Å være en aktiv bestemor for barnebarna.",
                goals=["Ingen følinger", "Gå på ski med barnebarna i påsken"],
                measurements=[
                    PlanMeasurement(item="glucose", schedule=_daily("08:00", "20:00"),
                                    patient_actions=_actions(
                                        "Fint. Fortsett som før.",
                                        "Blodsukkeret er utenfor målområdet. Følg planen for høyt/lavt blodsukker og mål igjen om to timer.",
                                        "Er blodsukkeret lavt: spis eller drikk noe søtt nå. " + RED_CALL)),
                ],
                rules=[_rule("diabetes.glucose_red"), _rule("diabetes.glucose_yellow"), _rule("missed.glucose")],
                next_review=date.today() + timedelta(days=60),
            ),
            baseline={"glucose": 7.2, "weight": 81.0},
            noise={"glucose": 1.0, "weight": 0.4},
            deviations={(20, "glucose", 1): {"glucose": 3.0}, (1, "glucose", 1): {"glucose": 11.2}},
        ),
        DemoPatient(
            name="Per Olsen", login="+4791000005", birth=date(1945, 9, 8), template="copd",
            diagnoses=["KOLS (J44.9)", "Hjertesvikt (I50.9)"],
            plan=PlanContent(
                what_matters="Å komme meg på hytta i sommer.",
                goals=["Være på hytta i juli"],
                measurements=[
                    PlanMeasurement(item="spo2", schedule=_daily("08:30"),
                                    patient_actions=_actions("Vanlige plager.", "Start beredskapskuren og ring teamet i dag.", RED_CALL)),
                    PlanMeasurement(item="weight", schedule=_daily("08:30"),
                                    patient_actions=_actions("Fint.", "Ta en ekstra vanndrivende tablett og ring teamet i dag.", RED_CALL)),
                ],
                rules=[
                    _rule("copd.spo2_red", red_low=85),
                    _rule("copd.spo2_low", yellow_low=88),  # target band 88–92 %
                    _rule("missed.spo2"),
                    _rule("hf.weight_above_dry", baseline_value=82.0),
                    _rule("hf.weight_gain_3d"),
                    _rule("hf.weight_missed"),
                ],
                safety_decisions=[_scale2("KOLS med kronisk hyperkapni (pCO2 6,9 kPa, stabil). Målområde 88–92 % "
                                          "etter vurdering hos lungelege.", 60, now)],
                instructions={**COPD_INSTRUCTIONS, **HF_INSTRUCTIONS},
                next_review=date.today() + timedelta(days=30),
            ),
            baseline={"spo2": 91, "weight": 82.0},
            noise={"spo2": 0.8, "weight": 0.3},
            deviations={},
            skip_probability=0.1,
        ),
    ]


def load_demo(engine: Engine, echo: Callable[[str], None] = print, now: datetime | None = None) -> None:
    """Create the demo data unless it is there already, in one transaction."""
    real_now = now or SystemClock().now()
    with unit_of_work(engine) as session:
        if session.exec(select(Account.id).where(col(Account.is_demo).is_(True)).limit(1)).first() is not None:
            echo("Demo data is already loaded; nothing to do.")
            ensure_demo_second_factor(session, real_now)
            _print_accounts(echo)
            return
        clock = FixedClock(real_now - timedelta(days=HISTORY_DAYS + 1))
        echo("Creating organisations, teams and accounts …")
        echo(sync_defaults(session, clock).summary())
        echo(sync_plan_templates(session, clock).summary())
        people = _create_people(session, clock)
        demo_patients = _patients(real_now)
        histories = []
        for spec in demo_patients:
            patient = _create_patient(session, clock, spec, people["psht"], people["tromso"], people["nurse"])
            relative = None
            if spec.name == "Astrid Johansen":
                relative = people["daughter"]
                _add_relative(session, clock, patient, relative)
            histories.append((patient, spec, relative))
        histories.append((*_other_team_patient(session, clock, people), None))
        events = sorted((e for p, spec, rel in histories for e in _history(p, spec, real_now, rel)),
                        key=lambda e: e.at)
        echo(f"Writing {len(events)} reports for {len(histories)} patients over {HISTORY_DAYS} days …")
        resolved = _replay(session, clock, events, real_now, people["nurse"], echo)
        _mark_old_pages_delivered(session, real_now)
        _add_messages(session, real_now, people["nurse"], [p for p, _spec, _rel in histories])
        _add_notes(session, real_now, people["nurse"], [p for p, _spec, _rel in histories])
        from .outcomes.demo import add_demo_history

        echo(add_demo_history(session, people["psht"], [p for p, _spec, _rel in histories], real_now))
        echo(_add_pathways(session, real_now, people, {p.name: p for p, _spec, _rel in histories}))
        open_count = len(session.exec(select(Alert.id).where(Alert.status != AlertStatus.RESOLVED.value)).all())
        echo(f"Loaded demo data: 2 teams, {len(histories)} patients, {len(events)} reports, "
             f"{resolved} resolved and {open_count} open alerts.")
    _print_accounts(echo)


def _print_accounts(echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"Demo accounts (password for all: {DEMO_PASSWORD})")
    echo("  Patient portal  http://127.0.0.1:5000/login")
    echo("    Astrid Johansen (heart failure)  91000001")
    echo("    Ola Pedersen (COPD)              91000002")
    echo("    Johan Karlsen (frail elderly)    91000003")
    echo("    Ingrid Solberg (diabetes)        91000004")
    echo("    Per Olsen (COPD + heart failure) 91000005")
    echo("    Marit Johansen, Astrid's daughter (relative)  91000011")
    echo("  Clinician portal  http://127.0.0.1:5000/clinic/login")
    echo("    Staff also type a code from an authenticator app after the password. For the demo,")
    echo(f"    get the current code with: {DEMO_CODE_COMMAND}")
    echo("    kari.nilsen@demo.homefollow.no   nurse, PSHT Tromsø")
    echo("    ole.hansen@demo.homefollow.no    coordinator and team admin, PSHT Tromsø")
    echo("    ingrid.berg@demo.homefollow.no   physician, PSHT Tromsø")
    echo("    siri.moe@demo.homefollow.no      nurse, Hjemmeoppfølging Balsfjord (another team)")


def demo_totp_secret(email: str) -> str:
    """A fixed second-factor secret per demo staff account, so `flask demo code` can print the
    code. Demo accounts are refused outside demo mode, so a known secret never guards real data."""
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(f"homefollow-demo-totp:{email}".encode()).digest()[:20]).decode()


def ensure_demo_second_factor(session: Session, now: datetime) -> int:
    """Give demo staff loaded before staff had a second factor their fixed secret."""
    changed = 0
    for account in session.exec(select(Account).where(col(Account.is_demo).is_(True),
                                                      Account.kind == AccountKind.STAFF.value,
                                                      col(Account.totp_enabled_at).is_(None))):
        account.totp_secret, account.totp_enabled_at = demo_totp_secret(account.login), now
        session.add(account)
        changed += 1
    return changed


def _create_people(session: Session, clock: FixedClock) -> dict:
    now = clock.now()
    unn = Organisation(name="Universitetssykehuset Nord-Norge (UNN)", kind="hospital", created_at=now)
    tromso = Organisation(name="Tromsø kommune", kind="municipality", created_at=now)
    balsfjord = Organisation(name="Balsfjord kommune", kind="municipality", created_at=now)
    legesenter = Organisation(name="Sentrum legesenter", kind="gp_office", created_at=now)
    session.add_all([unn, tromso, balsfjord, legesenter])
    psht = Team(name="PSHT Tromsø", phone="+4777620000", on_call_phone="+4790000000",
                email="psht@demo.homefollow.no", opening_hours=OPENING_HOURS, created_at=now)
    other_team = Team(name="Hjemmeoppfølging Balsfjord", phone="+4777720000", on_call_phone="+4790000001",
                      opening_hours=OPENING_HOURS, created_at=now)
    session.add_all([psht, other_team])
    session.flush()
    password = hash_password(DEMO_PASSWORD)

    def staff(email, name, org, team, roles, phone):
        account = Account(kind=AccountKind.STAFF.value, login=email, email=email, name=name, organisation_id=org.id,
                          password_hash=password, is_demo=True, created_at=now, phone=phone,
                          totp_secret=demo_totp_secret(email), totp_enabled_at=now)
        session.add(account)
        session.flush()
        for role in roles:
            session.add(TeamMembership(team_id=team.id, account_id=account.id, role=role.value, created_at=now))
        return account

    people = {
        "psht": psht, "other_team": other_team, "tromso": tromso, "balsfjord": balsfjord,
        "nurse": staff("kari.nilsen@demo.homefollow.no", "Kari Nilsen", tromso, psht, [Role.NURSE], "+4790010001"),
        "coordinator": staff("ole.hansen@demo.homefollow.no", "Ole Hansen", unn, psht, [Role.COORDINATOR, Role.TEAM_ADMIN],
                             "+4790010002"),
        "physician": staff("ingrid.berg@demo.homefollow.no", "Ingrid Berg", unn, psht, [Role.PHYSICIAN], "+4790010003"),
        "gp": staff("lars.eide@demo.homefollow.no", "Lars Eide", legesenter, psht, [Role.GP], None),
        "other_nurse": staff("siri.moe@demo.homefollow.no", "Siri Moe", balsfjord, other_team, [Role.NURSE, Role.TEAM_ADMIN],
                             "+4790010004"),
    }
    # Kari has the day shift on weekdays; outside it the team's on-call phone takes red alerts.
    psht.on_call_schedule = {"time_zone": TZ, "rotations": [
        {"role": "nurse", "people": [people["nurse"].id], "start_date": (now.date() - timedelta(days=7)).isoformat(),
         "shift_start": "08:00", "shift_end": "16:00", "weekdays": [0, 1, 2, 3, 4]}]}
    session.add(psht)
    daughter = Account(kind=AccountKind.RELATIVE.value, login="+4791000011", phone="+4791000011", name="Marit Johansen",
                       password_hash=password, is_demo=True, created_at=now)
    session.add(daughter)
    session.flush()
    people["daughter"] = daughter
    return people


def _create_patient(session: Session, clock: FixedClock, spec: DemoPatient, team: Team, municipality: Organisation,
                    author: Account) -> Patient:
    now = clock.now()
    account = None
    if spec.login:
        account = Account(kind=AccountKind.PATIENT.value, login=spec.login, phone=spec.login, name=spec.name,
                          password_hash=hash_password(DEMO_PASSWORD), is_demo=True, created_at=now)
        session.add(account)
        session.flush()
    patient = Patient(account_id=account.id if account else None, team_id=team.id, municipality_id=municipality.id,
                      name=spec.name, birth_date=spec.birth, phone=spec.login, time_zone=TZ,
                      gp_name="Dr. Lars Eide, Sentrum legesenter", gp_phone="+4777600000",
                      diagnoses=spec.diagnoses, frailty_score=DEMO_FRAILTY.get(spec.name), is_demo=True,
                      created_at=now, monitoring_since=now)
    session.add(patient)
    session.flush()
    template = session.exec(select(PlanTemplate).where(col(PlanTemplate.team_id).is_(None),
                                                       PlanTemplate.key == spec.template)).first() \
        if spec.template else None
    change_plan(session, clock, patient=patient, content=spec.plan, author_account_id=author.id,
                reason="Plan laget i kartleggingssamtalen", template_id=template.id if template else None)
    return patient


def _add_relative(session: Session, clock: FixedClock, patient: Patient, relative: Account) -> None:
    session.add(RelativeAccess(patient_id=patient.id, relative_account_id=relative.id, relation="datter",
                               can_view=True, can_report=True, receives_alerts=True, created_at=clock.now()))


def _other_team_patient(session: Session, clock: FixedClock, people: dict) -> tuple[Patient, DemoPatient]:
    spec = DemoPatient(
        name="Eva Lund", login="+4791000006", birth=date(1940, 2, 2), diagnoses=["Hypertensjon (I10)"],
        plan=PlanContent(what_matters="Å kunne strikke til oldebarna.", measurements=[
            PlanMeasurement(item="blood_pressure", schedule=_daily("10:00"),
                            patient_actions=_actions("Fint.", "Hvil og mål igjen.", RED_CALL))],
            rules=[_rule("general.bp_red", red_high=180), _rule("general.bp_yellow", yellow_high=165, n=1, m=1),
                   _rule("missed.blood_pressure")]),
        baseline={"bp_systolic": 150, "bp_diastolic": 84}, noise={"bp_systolic": 8, "bp_diastolic": 5},
        deviations={(1, "blood_pressure", 0): {"bp_systolic": 184, "bp_diastolic": 96}},
    )
    patient = _create_patient(session, clock, spec, people["other_team"], people["balsfjord"], people["other_nurse"])
    return patient, spec


@dataclass(frozen=True)
class _Event:
    at: datetime
    patient: Patient
    kind: ReportKind
    item: str  # measurement item, questionnaire or task key
    values: dict[str, float]  # measured values; questionnaire answers; {"done": 1 or 0}
    idempotency_key: str
    reporter: Account | None  # a relative; None when the patient reported


def _history(patient: Patient, spec: DemoPatient, real_now: datetime, relative: Account | None) -> list[_Event]:
    rng = random.Random(patient.name)
    today = local_date_of(real_now, TZ)
    events = []
    for days_ago in range(HISTORY_DAYS, -1, -1):
        day = today - timedelta(days=days_ago)
        for kind, key, schedule, _grace in checklist.scheduled(spec.plan):
            for slot_index, due in enumerate(slots_on(schedule, day, TZ)):
                at = due + timedelta(minutes=rng.randint(-20, 50))
                if at >= real_now - timedelta(minutes=5):
                    continue
                deviation = spec.deviations.get((days_ago, key, slot_index))
                if deviation is None and rng.random() < spec.skip_probability:
                    continue  # a missed report, as real patients have
                reporter = relative if (relative is not None and day.weekday() >= 5) else None
                if kind == ReportKind.MEASUREMENT:
                    values = deviation or _plausible_values(rng, key, spec)
                elif kind == ReportKind.QUESTIONNAIRE:
                    questions = QUESTIONNAIRES[key].questions_for(relative=reporter is not None)
                    usual = (spec.usual_answers or {}).get(key, {})
                    values = {q.key: usual.get(q.key, 0) for q in questions} | (deviation or {})
                else:
                    values = deviation or {"done": 0 if rng.random() < 0.05 else 1}
                events.append(_Event(at, patient, kind, key, values,
                                     f"demo-{patient.id}-{day.isoformat()}-{key}-{slot_index}", reporter))
    for days_ago, local_time, item, values in spec.extra:
        day = today - timedelta(days=days_ago)
        at = datetime.combine(day, time.fromisoformat(local_time), tzinfo=ZoneInfo(TZ))
        if at < real_now - timedelta(minutes=5):
            events.append(_Event(at, patient, ReportKind.MEASUREMENT, item, values,
                                 f"demo-{patient.id}-{day.isoformat()}-extra-{item}", None))
    events.sort(key=lambda e: e.at)
    return events


def _replay(session: Session, clock: FixedClock, events: list[_Event], real_now: datetime, nurse: Account,
            echo: Callable[[str], None]) -> int:
    """Write the reports in time order, with the nurse handling alerts as she would have:
    acknowledged after 25 minutes and resolved after two hours, except the last three days',
    which are left for the demo user (one of them acknowledged)."""
    outcomes = [Outcome.ADVICE_GIVEN, Outcome.PLAN_ADJUSTED, Outcome.MEASUREMENT_ERROR, Outcome.HOME_VISIT]
    triage: list[tuple[datetime, str, int]] = []  # (when, "ack"/"resolve", alert id)
    resolved = 0

    def run_triage(until: datetime) -> None:
        nonlocal resolved
        triage.sort()
        while triage and triage[0][0] <= until:
            when, action, alert_id = triage.pop(0)
            clock.set(when)
            try:
                if action == "ack":
                    alerts.acknowledge(session, clock, alert_id, nurse.id)
                else:
                    alerts.resolve(session, clock, alert_id, nurse.id, outcomes[resolved % len(outcomes)],
                                   "Snakket med pasienten på telefon.")
                    resolved += 1
            except alerts.AlertStateError:
                pass  # raised again and re-opened meanwhile; the next step handles it

    seen: set[int] = set()

    def plan_triage() -> None:
        query = select(Alert).where(col(Alert.id).not_in(seen)) if seen else select(Alert)
        for alert in session.exec(query).all():
            seen.add(alert.id)
            if real_now - alert.opened_at > timedelta(days=3):
                triage.append((alert.opened_at + timedelta(minutes=25), "ack", alert.id))
                triage.append((alert.opened_at + timedelta(hours=2), "resolve", alert.id))
            elif "temperature" in alert.rule_key:
                triage.append((alert.opened_at + timedelta(minutes=40), "ack", alert.id))

    for index, event in enumerate(events, start=1):
        run_triage(event.at)
        clock.set(event.at)
        sweep_due_rules(session, clock)  # what the scheduler would have found meanwhile
        _report(session, clock, event)
        plan_triage()
        if index % 100 == 0:
            echo(f"  {index}/{len(events)} reports")
    clock.set(real_now)
    sweep_due_rules(session, clock)
    plan_triage()
    run_triage(real_now)
    return resolved


def _report(session: Session, clock: FixedClock, event: _Event) -> None:
    who: dict[str, Any] = dict(reported_by_account_id=event.reporter.id if event.reporter else event.patient.account_id,
               actor_kind="relative" if event.reporter else "patient", source=ReportSource.DEMO,
               idempotency_key=event.idempotency_key, patient=event.patient)
    if event.kind == ReportKind.QUESTIONNAIRE:
        reporting.report_questionnaire(session, clock, questionnaire_key=event.item,
                                       answers={k: int(v) for k, v in event.values.items()}, **who)
    elif event.kind == ReportKind.TASK:
        reporting.report_task(session, clock, task_key=event.item, done=bool(event.values["done"]),
                              comment=None if event.values["done"] else "Orket ikke i dag", **who)
    else:
        reporting.report_measurement(session, clock, item_key=event.item, values=event.values,
                                     measured_at=event.at, **who)


def _plausible_values(rng: random.Random, item: str, spec: DemoPatient) -> dict[str, float]:
    values = {code: rng.gauss(spec.baseline[code], spec.noise[code]) for code in ITEMS[item].codes}
    if item == "blood_pressure":
        values["bp_diastolic"] = min(values["bp_diastolic"], values["bp_systolic"] - 25)
    if item == "spo2":
        values["spo2"] = min(round(values["spo2"]), 99)
    return values


def _daytime(real_now: datetime, days_ago: int, local_time: str) -> datetime:
    """A moment at a plausible hour, `days_ago` local days before today in the demo's time zone
    (UTC), whatever the hour the demo is loaded at: nobody writes to the team at 01:30."""
    day = real_now.astimezone(ZoneInfo(TZ)).date() - timedelta(days=days_ago)
    return datetime.combine(day, time.fromisoformat(local_time), tzinfo=ZoneInfo(TZ)).astimezone(UTC)


def _recent_daytime(real_now: datetime, local_time: str) -> datetime:
    """Today at this local time if that has passed (by 10 minutes), else yesterday's."""
    today = _daytime(real_now, 0, local_time)
    return today if today <= real_now - timedelta(minutes=10) else _daytime(real_now, 1, local_time)


def _add_messages(session: Session, real_now: datetime, nurse: Account, patients: list[Patient]) -> None:
    """A short exchange with Astrid (read) and a question from Ola the team has not read yet, at
    daytime hours (Oslo time) whenever the demo is loaded."""
    by_name = {p.name: p for p in patients}
    astrid, ola = by_name["Astrid Johansen"], by_name["Ola Pedersen"]
    two_days_ago = _daytime(real_now, 2, "10:15")
    session.add_all([
        Message(patient_id=astrid.id, author_account_id=astrid.account_id, from_team=False,
                body="Jeg har litt mer hevelse i beina i dag. Er det noe jeg bør gjøre?",
                created_at=two_days_ago, read_by_team_at=two_days_ago + timedelta(minutes=40)),
        Message(patient_id=astrid.id, author_account_id=nurse.id, from_team=True,
                body="Hei Astrid! Takk for at du sier fra. Vi ser at vekten har gått litt opp. Ta en ekstra "
                     "furosemid i dag slik planen sier, så ringer jeg deg i morgen formiddag. Hilsen Kari",
                created_at=two_days_ago + timedelta(minutes=45), read_by_team_at=two_days_ago + timedelta(minutes=45),
                read_by_patient_at=two_days_ago + timedelta(hours=2)),
    ])
    # Ola's question goes the way a real one does: into the triage queue as an unread message.
    messages.send_from_patient_side(session, FixedClock(_recent_daytime(real_now, "09:40")), patient=ola,
                                    actor=Actor(ola.account_id, "patient"),  # in the portal, as he would
                                    body="Kan dere komme på besøk en annen dag enn torsdag? Da er det kortspill.")


# The team's Clinical Frailty Scale assessments (1 very fit … 9 terminally ill).
DEMO_FRAILTY = {"Astrid Johansen": 5, "Ola Pedersen": 4, "Johan Karlsen": 6, "Ingrid Solberg": 3,
                "Per Olsen": 5, "Eva Lund": 4}


def _add_notes(session: Session, real_now: datetime, nurse: Account, patients: list[Patient]) -> None:
    """A couple of team notes for the patient page's timeline."""
    by_name = {p.name: p for p in patients}
    session.add_all([
        PatientNote(patient_id=by_name["Astrid Johansen"].id, author_account_id=nurse.id,
                    body="Ringte Astrid. Mer hevelse i beina, vekten opp 1,5 kg. Tar ekstra furosemid i dag, "
                         "ny vekt i morgen tidlig. Datteren er informert.",
                    created_at=_daytime(real_now, 1, "11:20")),
        PatientNote(patient_id=by_name["Johan Karlsen"].id, author_account_id=nurse.id,
                    body="Hjemmebesøk: bor alene, klarer seg med hjelp til innkjøp. CFS vurdert til 6.",
                    created_at=_daytime(real_now, 6, "13:30")),
    ])


def _add_pathways(session: Session, real_now: datetime, people: dict, patients: dict[str, Patient]) -> str:
    """Pathways at different steps: Astrid in active follow-up, Ola in his trial period, Johan
    overdue for the mapping conversation and the trial period, and a candidate from the
    admission history just referred (no consent yet, so nothing is sent to them)."""
    from .services import pathway

    clock = FixedClock(real_now)
    nurse = Actor(people["nurse"].id, "staff", "cli")  # the demo writes as the nurse would have
    today = local_date_of(real_now, TZ)

    def on(days_ago: int) -> str:
        return (today - timedelta(days=days_ago)).isoformat()

    steps = {
        "Astrid Johansen": (60, 57, 55, HISTORY_DAYS, 14),
        "Ola Pedersen": (45, 43, 40, 20, None),
        "Johan Karlsen": (60, 58, None, None, None),
    }
    for name, (referred, consented, mapped, trial_start, trial_end) in steps.items():
        patient = patients[name]
        pathway.record_referral(session, clock, patient, referred_on=on(referred), referred_by="UNN medisinsk avdeling",
                                actor=nurse)
        pathway.record_consent(session, clock, patient, consent_on=on(consented),
                               scope=["follow_up", "share_gp", "share_municipality"], given_by="patient",
                               representative="", actor=nurse)
        if mapped:
            pathway.record_mapping(session, clock, patient, mapping_on=on(mapped),
                                   what_matters="Å klare meg selv hjemme.", goals="Færre innleggelser.",
                                   risks="Fall.", frailty=str(DEMO_FRAILTY.get(name, "")), actor=nurse)
        if trial_start:
            pathway.record_trial_start(session, clock, patient, trial_start_on=on(trial_start), actor=nurse)
        if trial_end:
            pathway.record_trial_end(session, clock, patient, trial_end_on=on(trial_end), actor=nurse)
    candidate = session.exec(select(ServicePerson).where(ServicePerson.team_id == people["psht"].id,
                                                          col(ServicePerson.patient_id).is_(None),
                                                          col(ServicePerson.palliative).is_(False))
                             .order_by(col(ServicePerson.id))).first()
    candidate_note = ""
    if candidate is not None:
        pathway.refer_candidate(session, clock, candidate, municipality_id=people["balsfjord"].id, referred_on=on(3),
                                referred_by="Fastlegen", actor=nurse)
        candidate_note = f", and {candidate.name} referred from the candidates"
    return f"Pathways: {len(steps)} patients at different steps{candidate_note}."


def _mark_old_pages_delivered(session: Session, real_now: datetime) -> None:
    """Pages written while the demo's history was replayed were delivered back then. What is
    due from now on (the next step or round of an alert still open) flows through the real
    outbox when the scheduler starts, once: sending yesterday's page as well would text the
    same phone twice in a second."""
    session.execute(
        update(Notification)
        .where(col(Notification.status) == NotificationStatus.PENDING.value, col(Notification.created_at) < real_now)
        .values(status=NotificationStatus.SENT.value, provider="demo", sent_at=Notification.created_at)
    )
