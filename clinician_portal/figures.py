"""Figures: use of services before and after inclusion and how the service runs, for a cohort
(team, municipality, plan template) or one patient; their CSV files; service use entered by
the team; and the FHIR export of a patient's record. The figures are computed in
homefollow.outcomes; this only chooses, checks access, audits and shows."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal
from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from sqlmodel import col, select
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2

from homefollow.clock import get_clock
from homefollow.bar_charts import Bar, render_bars
from homefollow.db import get_session
from homefollow.fhir_export import bundle_json, patient_bundle
from homefollow.models import Organisation, OrganisationKind, Patient, PlanTemplate, Team
from homefollow.outcomes import entry
from homefollow.outcomes.cohorts import CohortResult, cohort, figures_for, figures_table
from homefollow.outcomes.figures import MEASURES, WINDOW_DAYS
from homefollow.outcomes.service_figures import CASELOAD_BENCHMARK, service_figures, tables
from homefollow.outcomes.tables import Table, csv_text
from homefollow.services import audit
from homefollow.services.access import AccessDenied, Need, require_patient
from homefollow.web import current_actor, signed_in_principal
from rules.schedule import local_date_of

from . import bp
from .filter_forms import FilterForm, FilterSelect, record_id, with_all
from .forms import OUTCOME_LABELS
from .patient_forms import SERVICE_KIND_LABELS, ServiceUseChangeForm, ServiceUseDeleteForm, ServiceUseForm
from .views import staff_only

PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 90
MEASURE_LABELS = {
    "acute_admissions": _l("Acute admissions"), "bed_days": _l("Bed-days"),
    "emergency_contacts": _l("Emergency contacts"), "short_stays": _l("Short-term stays"),
    "readmission_30d": _l("Readmitted within 30 days"),
}
TABLE_TITLES = {
    "outcomes": _l("Use of services before and after inclusion"),
    "alert_burden": _l("Alerts per patient-week, by rule"),
    "response_times": _l("Time to acknowledge and to resolve, by severity"),
    "alert_outcomes": _l("Outcomes of resolved alerts"),
    "adherence": _l("Adherence"),
    "caseload": _l("Patients per nurse"),
}
KIND_LABELS = {"measurement": _l("Measurements"), "questionnaire": _l("Questionnaires"), "task": _l("Self-care tasks"),
               "all": _l("All")}
SEVERITY_LABELS = {"red": _l("Red"), "yellow": _l("Yellow")}
RESPONSE_LABELS = {"acknowledge": _l("to acknowledge"), "resolve": _l("to resolve")}


@bp.app_template_filter("figure")
def figure(value: str) -> str:
    """A figure from a table ("2.43") in the user's locale ("2,43"); other text as it is."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int), "a figure is a finite number"
    digits = max(-exponent, 0)
    return format_decimal(number, format="#,##0" + ("." + "0" * digits if digits else ""), locale=str(get_locale()))


def _minutes(value: str) -> str:
    if not value:
        return "–"
    minutes = float(value)
    if minutes < 120:
        return _("%(n)s min", n=figure(f"{minutes:.0f}"))
    return _("%(n)s h", n=figure(f"{minutes / 60:.1f}"))


def _deny(db, clock, object_type: str, object_id, attempted: str):
    audit.record_refusal(db, clock, actor=current_actor(), object_type=object_type, object_id=object_id,
                         attempted=attempted)
    raise AccessDenied(object_id)


class FiguresFilterForm(FilterForm):
    class Meta:
        id_prefix = "figures"

    team = FilterSelect(_l("Team"), coerce=record_id)
    municipality = FilterSelect(_l("Municipality"), coerce=record_id)
    template = FilterSelect(_l("Plan template"), coerce=record_id)
    days = FilterSelect(_l("Period for the service figures"), coerce=int, default=DEFAULT_PERIOD,
                        choices=[SelectChoice(d, _l("Last %(n)s days", n=d)) for d in PERIODS])


class Choice:
    """The cohort asked for, checked against what the user may see."""

    def __init__(self, db, clock, principal, attempted: str):
        self.teams = list(db.exec(select(Team).where(col(Team.id).in_(principal.team_ids)).order_by(Team.name))) \
            if principal.team_ids else []
        own = [t.id for t in self.teams]
        self.municipalities = list(db.exec(
            select(Organisation).where(Organisation.kind == OrganisationKind.MUNICIPALITY.value,
                                       col(Organisation.id).in_(select(Patient.municipality_id)
                                                                .where(col(Patient.team_id).in_(own))))
            .order_by(Organisation.name))) if own else []
        self.templates = list(db.exec(
            select(PlanTemplate).where(col(PlanTemplate.team_id).is_(None) | col(PlanTemplate.team_id).in_(own))
            .order_by(PlanTemplate.name, col(PlanTemplate.id))))
        form = self.form = FiguresFilterForm()
        form.team.choices = with_all(_("All my teams"), [(t.id, t.name) for t in self.teams])
        form.municipality.choices = with_all(_("All"), [(m.id, m.name) for m in self.municipalities])
        shared = _("shared")
        form.template.choices = with_all(_("All"), [(t.id, t.name if t.team_id is not None else f"{t.name} ({shared})")
                                                    for t in self.templates])
        dropped = form.drop_invalid()
        for name, object_type in (("team", "team"), ("municipality", "organisation"), ("template", "plan_template")):
            if dropped.get(name) is not None:  # an id of something that is not the user's
                _deny(db, clock, object_type, dropped[name], attempted)
        self.team_id, self.municipality_id, self.template_id = form.team.data, form.municipality.data, \
            form.template.data
        self.days = form.days.data
        self.patients = cohort(db, team_id=self.team_id, municipality_id=self.municipality_id,
                               template_id=self.template_id, within_teams=own) if own else []

    def args(self) -> dict:
        return {k: v for k, v in (("team", self.team_id), ("municipality", self.municipality_id),
                                  ("template", self.template_id), ("days", self.days)) if v is not None}

    def audit_detail(self) -> dict:
        return {"team": self.team_id, "municipality": self.municipality_id, "template": self.template_id,
                "days": self.days, "patients": len(self.patients)}


def _today(clock):
    return local_date_of(clock.now(), "Europe/Oslo")


def _all_tables(db, clock, choice: Choice) -> tuple[CohortResult, object, list[Table]]:
    result = figures_for(db, choice.patients, _today(clock))
    service = service_figures(db, clock, choice.patients, choice.days)
    return result, service, [figures_table(result)] + tables(service)


# --- charts ---------------------------------------------------------------------------------

def outcome_charts(result: CohortResult, prefix: str) -> list[dict]:
    """One chart per measure: the rate per patient-year before and after (readmissions: %)."""
    f = result.figures
    charts = []
    for measure in MEASURES + ("readmission_30d",):
        bars = []
        for label, period in ((_("Before"), f.before), (_("After"), f.after)):
            if measure == "readmission_30d":
                r = period.readmissions
                value = None if r.rate is None else 100 * r.rate
                text = "–" if value is None else _("%(percent)s %% (%(n)s of %(of)s)", percent=figure(f"{value:.1f}"),
                                                   n=r.readmitted, of=r.index_admissions)
            else:
                value = period.per_patient_year(measure)
                text = "–" if value is None else _("%(rate)s per patient-year (%(n)s in all)",
                                                   rate=figure(f"{value:.2f}"), n=period.counts[measure])
            bars.append(Bar(ngettext("%(period)s, %(num)s patient", "%(period)s, %(num)s patients", period.patients,
                                     period=label), value, text))
        charts.append({"measure": measure, "title": MEASURE_LABELS[measure], "svg": render_bars(
            bars, title=str(MEASURE_LABELS[measure]), id_prefix=f"{prefix}-{measure}".replace("_", "-"))})
    return charts


def service_charts(service_tables: dict[str, Table], titles: dict[str, dict]) -> dict[str, object]:
    lang = str(get_locale())
    burden = service_tables["alert_burden"].rows
    times = service_tables["response_times"].rows
    outcomes = service_tables["alert_outcomes"].rows
    adherence = service_tables["adherence"].rows
    caseload = service_tables["caseload"].rows

    def title(rule: str) -> str:
        t = titles.get(rule) or {}
        return t.get(lang[:2]) or t.get("nb") or rule

    def number(value: str) -> float | None:
        return float(value) if value else None

    return {
        "alert_burden": render_bars([Bar(title(r["rule"]), number(r["per_patient_week"]),
                                         _("%(rate)s (%(alerts)s)", rate=figure(r["per_patient_week"]),
                                           alerts=ngettext("%(num)s alert", "%(num)s alerts", int(r["alerts"]))))
                                     for r in burden], title=str(TABLE_TITLES["alert_burden"]), id_prefix="chart-burden"),
        "response_times": render_bars([Bar(_("%(severity)s, %(what)s", severity=SEVERITY_LABELS[r["severity"]],
                                             what=RESPONSE_LABELS[r["measure"]]), number(r["median_minutes"]),
                                         _("median %(median)s, 90th percentile %(p90)s",
                                           median=_minutes(r["median_minutes"]), p90=_minutes(r["p90_minutes"])))
                                     for r in times], title=str(TABLE_TITLES["response_times"]),
                                    id_prefix="chart-times"),
        "alert_outcomes": render_bars([Bar(str(OUTCOME_LABELS.get(r["outcome"], r["outcome"])), number(r["alerts"]),
                                           _("%(n)s (%(share)s %%)", n=r["alerts"], share=figure(r["share"])))
                                       for r in outcomes], title=str(TABLE_TITLES["alert_outcomes"]),
                                      id_prefix="chart-outcomes"),
        "adherence": render_bars([Bar(str(KIND_LABELS[r["kind"]]), number(r["rate"]),
                                      _("%(rate)s %% (%(done)s of %(expected)s)", rate=figure(r["rate"]) or "–",
                                        done=r["done"], expected=r["expected"])) for r in adherence],
                                 title=str(TABLE_TITLES["adherence"]), id_prefix="chart-adherence"),
        "caseload": render_bars([Bar(r["team"], number(r["per_nurse"]),
                                     _("%(rate)s (%(patients)s, %(nurses)s)", rate=figure(r["per_nurse"]) or "–",
                                       patients=ngettext("%(num)s patient", "%(num)s patients", int(r["patients"])),
                                       nurses=ngettext("%(num)s nurse", "%(num)s nurses", int(r["nurses"]))))
                                 for r in caseload], title=str(TABLE_TITLES["caseload"]), id_prefix="chart-caseload",
                                reference=(CASELOAD_BENCHMARK, _("Benchmark %(n)s", n=CASELOAD_BENCHMARK))),
    }


# --- cohort page ------------------------------------------------------------------------------

@bp.get("/figures")
@staff_only
def figures():
    db, clock, principal = get_session(), get_clock(), signed_in_principal()
    choice = Choice(db, clock, principal, "view.figures")
    result, service, all_tables = _all_tables(db, clock, choice)
    audit.record(db, clock, actor=current_actor(), action="view.figures", **choice.audit_detail())
    by_key = {t.key: t for t in all_tables}
    return render_template("clinic/figures.html", choice=choice, result=result, service=service, tables=by_key,
                           outcome_charts=outcome_charts(result, "chart"),
                           charts=service_charts(by_key, service.titles), window=WINDOW_DAYS,
                           **_labels())


@bp.get("/figures/<key>.csv")
@staff_only
def figures_csv(key: str):
    db, clock, principal = get_session(), get_clock(), signed_in_principal()
    choice = Choice(db, clock, principal, "export.figures")
    _result, _service, all_tables = _all_tables(db, clock, choice)
    table = next((t for t in all_tables if t.key == key), None)
    if table is None:
        raise AccessDenied(key)
    audit.record(db, clock, actor=current_actor(), action="export.figures", table=key, **choice.audit_detail())
    return _csv_response(table, f"{key}.csv")


def _csv_response(table: Table, name: str) -> Response:
    return Response(csv_text(table), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _labels() -> dict:
    return {"measure_labels": MEASURE_LABELS, "table_titles": TABLE_TITLES, "kind_labels": KIND_LABELS,
            "severity_labels": SEVERITY_LABELS, "response_labels": RESPONSE_LABELS, "outcome_labels": OUTCOME_LABELS,
            "minutes": _minutes, "service_kind_labels": SERVICE_KIND_LABELS}


# --- one patient ------------------------------------------------------------------------------

def patient_figures(db, clock, patient: Patient) -> CohortResult:
    """The before/after figures of one patient (a cohort of one), for the patient page."""
    return figures_for(db, [patient], _today(clock))


@bp.get("/patients/<int:patient_id>/service-use")
@staff_only
def service_use(patient_id: int):
    return _service_use_page(patient_id)


def _service_use_page(patient_id: int, form: ServiceUseForm | None = None, status: int = 200):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.VIEW, action="view.service_use",
                             actor=current_actor())
    patient = access.patient
    result = patient_figures(db, clock, patient)
    return render_template("clinic/service_use.html", patient=patient, result=result,
                           outcomes=figures_table(result), charts=outcome_charts(result, "patient-chart"),
                           events=entry.events_of(db, patient.id), entry_source=entry.ENTRY_SOURCE,
                           form=form or ServiceUseForm(), window=WINDOW_DAYS, **_labels()), status


@bp.post("/patients/<int:patient_id>/service-use")
@staff_only
def add_service_use(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT,
                             action="service_use.submit", actor=current_actor())
    form = ServiceUseForm()
    if not form.validate_on_submit():
        return _service_use_page(patient_id, form, 400)
    try:
        entry.add(db, clock, patient=access.patient, entry=form.entry(), today=_today(clock),
                  actor=current_actor())
    except entry.EntryInvalid as exc:
        db.rollback()
        form.show_problems(exc.problems)
        return _service_use_page(patient_id, form, 400)
    flash(_("The service use is recorded."), "success")
    return redirect(url_for("clinician.service_use", patient_id=patient_id) + "#events-title")


def _entered(db, clock, patient_id: int, use_id: int, action: str):
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action=action,
                             actor=current_actor())
    use = entry.entered_event(db, patient_id, use_id)
    if use is None:
        raise AccessDenied(use_id)
    return access.patient, use


@bp.route("/patients/<int:patient_id>/service-use/<int:use_id>", methods=["GET", "POST"])
@staff_only
def change_service_use(patient_id: int, use_id: int):
    db, clock = get_session(), get_clock()
    patient, use = _entered(db, clock, patient_id, use_id, "service_use.open" if request.method == "GET"
                            else "service_use.submit")
    form = ServiceUseChangeForm(data={"kind": use.kind, "start": use.start_date.isoformat(),
                                      "end": use.end_date.isoformat() if use.end_date else "",
                                      "acute": "yes" if use.acute else "no"}) if request.method == "GET" \
        else ServiceUseChangeForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            assert form.reason.data is not None, "validated: Length(min=3)"
            try:
                entry.change(db, clock, patient=patient, use=use, entry=form.entry(), reason=form.reason.data,
                             today=_today(clock), actor=current_actor())
                flash(_("The service use is corrected."), "success")
                return redirect(url_for("clinician.service_use", patient_id=patient_id) + "#events-title")
            except entry.EntryInvalid as exc:
                db.rollback()
                use = entry.entered_event(db, patient_id, use_id)
                form.show_problems(exc.problems)
        status = 400
    return render_template("clinic/service_use_change.html", patient=patient, use=use, form=form,
                           delete_form=ServiceUseDeleteForm(prefix="delete"), **_labels()), status


@bp.post("/patients/<int:patient_id>/service-use/<int:use_id>/delete")
@staff_only
def delete_service_use(patient_id: int, use_id: int):
    db, clock = get_session(), get_clock()
    patient, use = _entered(db, clock, patient_id, use_id, "service_use.submit")
    delete_form = ServiceUseDeleteForm(prefix="delete")
    if not delete_form.validate_on_submit():
        form = ServiceUseChangeForm(data={"kind": use.kind, "start": use.start_date.isoformat(),
                                          "end": use.end_date.isoformat() if use.end_date else "",
                                          "acute": "yes" if use.acute else "no"})
        return render_template("clinic/service_use_change.html", patient=patient, use=use, form=form,
                               delete_form=delete_form, **_labels()), 400
    assert delete_form.reason.data is not None, "validated: Length(min=3)"
    entry.delete(db, clock, patient=patient, use=use, reason=delete_form.reason.data, actor=current_actor())
    flash(_("The service use is deleted."), "success")
    return redirect(url_for("clinician.service_use", patient_id=patient_id) + "#events-title")


@bp.get("/patients/<int:patient_id>/figures.csv")
@staff_only
def patient_figures_csv(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.VIEW, action="export.figures",
                             actor=current_actor())
    return _csv_response(figures_table(patient_figures(db, clock, access.patient)),
                         f"patient-{patient_id}-outcomes.csv")


@bp.get("/patients/<int:patient_id>/fhir")
@staff_only
def fhir_export(patient_id: int):
    db, clock = get_session(), get_clock()
    access = require_patient(db, clock, signed_in_principal(), patient_id, need=Need.VIEW, action="export.fhir",
                             actor=current_actor())
    bundle = patient_bundle(db, clock, access.patient)
    return Response(bundle_json(bundle), mimetype="application/fhir+json",
                    headers={"Content-Disposition": f'attachment; filename="patient-{patient_id}-fhir.json"'})
