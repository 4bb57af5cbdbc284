"""How fast the figures page renders for a team on a large database, against /healthz.

Run by hand:  .venv/bin/python benchmarks/figures_bench.py
              [--database-url postgresql://postgres@127.0.0.1:5432/hf_bench_figures] [--runs 11]

The database of benchmarks/clinic_pages_bench.py (10,000 patients in 10 teams, 1,000,000
measurements, 5,000 open alerts), and on top: a plan for every patient (weight at 08:00 and
SpO2 at 08:00 and 18:00, so adherence has something to count), a service person with 8 events
(admissions, emergency contacts, short stays) around inclusion per patient, and 20,000 resolved
alerts over the last year. Times, interleaved in the same run, /healthz, the figures page for
the nurse's team (1,000 patients) with the 90-day and the 365-day period, one CSV file, and one
patient's service-use page; prints each median and its ratio to /healthz. Nothing asserts on timing.
"""

from __future__ import annotations

import sys
from datetime import time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from benchmarks.clinic_pages_bench import CHUNK, NOW, arguments, progress, run  # noqa: E402
from homefollow.models import Alert, CarePlan, ServicePerson, ServiceUse  # noqa: E402
from homefollow.services.plans import PlanContent, PlanMeasurement  # noqa: E402
from rules.schedule import Schedule  # noqa: E402

RESOLVED_ALERTS = 20_000
OUTCOMES = ("advice_given", "plan_adjusted", "home_visit", "referred_to_gp", "admitted", "measurement_error")


def add_figures_data(engine, args, team_of: list[int] | None = None) -> None:
    """`team_of`: each patient's team (index pid - 1), as clinic_pages_bench.build laid them out."""
    def team(pid: int) -> int:
        return team_of[pid - 1] if team_of else (pid - 1) % args.teams + 1

    then = NOW - timedelta(days=90)  # every patient's inclusion (clinic_pages_bench)
    content = PlanContent(measurements=[
        PlanMeasurement(item="weight", schedule=Schedule(times=(time(8, 0),))),
        PlanMeasurement(item="spo2", schedule=Schedule(times=(time(8, 0), time(18, 0)))),
    ]).model_dump(mode="json")
    inclusion = then.date()
    with engine.begin() as conn:
        for start in range(0, args.patients, CHUNK):
            ids = range(start + 1, min(start + CHUNK, args.patients) + 1)
            conn.execute(insert(CarePlan), [{"patient_id": pid, "version": 1, "content": content, "created_at": then,
                                             "change_reason": "bench"} for pid in ids])
            conn.execute(insert(ServicePerson), [{"id": pid, "team_id": team(pid),
                                                  "person_key": f"local:bench:{pid}", "name": f"Pasient {pid}",
                                                  "patient_id": pid, "palliative": False, "created_at": then,
                                                  "updated_at": then} for pid in ids])
            events = []
            for pid in ids:
                for k in range(8):
                    day = inclusion + timedelta(days=-240 + 40 * k + pid % 13)
                    kind = ("admission", "emergency", "admission", "short_stay")[k % 4]
                    events.append({"person_id": pid, "kind": kind, "start_date": day,
                                   "end_date": day + timedelta(days=3 + pid % 5) if kind != "emergency" else None,
                                   "acute": kind != "short_stay", "diagnoses": [], "source": "bench",
                                   "source_id": f"{pid}-{k}", "created_at": then, "updated_at": then})
            conn.execute(insert(ServiceUse), events)
            progress("plans and service use", ids[-1], args.patients)
        rows = []
        for i in range(RESOLVED_ALERTS):
            pid = i % args.patients + 1
            opened = NOW - timedelta(days=1 + i % 360, minutes=i % 97)
            rows.append({"patient_id": pid, "team_id": team(pid), "rule_key": f"bench.rule{i % 12}",
                         "rule_version": 1, "title": {"nb": f"Regel {i % 12}", "en": f"Rule {i % 12}"},
                         "severity": "red" if i % 7 == 0 else "yellow", "status": "resolved",
                         "short_code": f"R{i:06d}", "opened_at": opened, "severity_since": opened,
                         "last_seen_at": opened, "occurrences": 1, "value_text": {}, "threshold_text": {},
                         "explanation": {}, "acknowledged_at": opened + timedelta(minutes=3 + i % 240),
                         "resolved_at": opened + timedelta(minutes=60 + i % 2000), "outcome": OUTCOMES[i % 6]})
        conn.execute(insert(Alert), rows)
        progress("resolved alerts", RESOLVED_ALERTS, RESOLVED_ALERTS)


def main() -> None:
    parser = arguments()
    parser.set_defaults(runs=11)
    run("figures_bench", parser.parse_args(),
        ("/clinic/figures?team=1", "/clinic/figures?team=1&days=365", "/clinic/figures/response_times.csv?team=1",
         "/clinic/patients/1/service-use"), extra=add_figures_data)


if __name__ == "__main__":
    main()
