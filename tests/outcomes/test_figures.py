"""Before/after figures and readmissions, checked against numbers worked out by hand."""

from datetime import date, timedelta

import pytest

from homefollow.outcomes.figures import Event, cohort_figures, count_in, readmissions, windows

TODAY = date(2026, 3, 10)


def d(base: date, offset: int) -> date:
    return base + timedelta(days=offset)


I1 = date(2025, 1, 1)  # a full 250 days of follow-up by TODAY
P1 = [
    Event("admission", d(I1, -200), d(I1, -195)),  # a: 5 nights before
    Event("admission", d(I1, -100), d(I1, -96)),  # b: 4 nights; c starts 16 days after its discharge
    Event("admission", d(I1, -80), d(I1, -78)),  # c: 2 nights; next acute admission 75 days later
    Event("admission", d(I1, -3), d(I1, 4)),  # d: 3 nights before, 4 after; e starts 16 days after
    Event("admission", d(I1, 20), d(I1, 22)),  # e: 2 nights after; nothing within 30 days
    Event("admission", d(I1, 100), d(I1, 105), acute=False),  # planned: not counted anywhere
    Event("emergency", d(I1, -251)),  # outside: the window starts at I-250
    Event("emergency", d(I1, -250)),
    Event("emergency", d(I1, -50)),
    Event("emergency", d(I1, -10)),
    Event("emergency", d(I1, 30)),
    Event("emergency", d(I1, 250)),  # outside: the window ends before I+250
    Event("short_stay", d(I1, -30), d(I1, -20)),
    Event("short_stay", d(I1, 200), d(I1, 210)),
]

I2 = date(2026, 2, 8)  # 30 days of follow-up: 8 Feb + 30 days = 10 Mar
P2 = [
    Event("admission", d(I2, -10), d(I2, -5)),  # 5 nights; readmitted 10 days after (at +5)
    Event("admission", d(I2, 5), d(I2, 8)),  # 3 nights; discharged 22 days before TODAY: outcome unknown
    Event("emergency", d(I2, 1)),
]

P3 = [Event("emergency", d(TODAY, 6))]  # included in 5 days: left out
I4 = TODAY  # included today: no follow-up yet, counts in "before" only
P4 = [Event("emergency", d(I4, -1))]


def test_one_patient_before_and_after():
    before, after = windows(I1, TODAY)
    assert (before.first, before.end, before.days) == (date(2024, 4, 26), I1, 250)
    assert after.days == 250
    # Before: admissions a, b, c, d = 4; nights 5 + 4 + 2 + 3 = 14; emergency at -250, -50, -10 = 3; 1 stay.
    assert count_in(P1, before, TODAY) == {"acute_admissions": 4, "bed_days": 14, "emergency_contacts": 3,
                                           "short_stays": 1}
    # After: admission e = 1 (d started before); nights 4 (d) + 2 (e) = 6; emergency at +30 = 1; 1 stay.
    assert count_in(P1, after, TODAY) == {"acute_admissions": 1, "bed_days": 6, "emergency_contacts": 1,
                                          "short_stays": 1}


def test_readmissions_within_30_days():
    before, after = windows(I1, TODAY)
    # Before: discharges of a (-195: next at -100, 95 days), b (-96: c 16 days later), c (-78: d 75 days later).
    r = readmissions(P1, before, TODAY)
    assert (r.index_admissions, r.readmitted) == (3, 1)
    # After: d (+4: e 16 days later) readmitted; e (+22: none) not. 1 of 2.
    r = readmissions(P1, after, TODAY)
    assert (r.index_admissions, r.readmitted, r.rate) == (2, 1, 0.5)
    # P2's second stay ended 22 days before today with no readmission yet: not yet an index.
    r = readmissions(P2, windows(I2, TODAY)[1], TODAY)
    assert (r.index_admissions, r.readmitted, r.rate) == (0, 0, None)


def test_a_cohort_counts_each_patient_only_over_the_follow_up_they_have():
    f = cohort_figures([(I1, P1), (I2, P2), (d(TODAY, 5), P3), (I4, P4)], TODAY)
    # Before: P1, P2, P4 (P3 is included in the future): 3 × 250 = 750 days.
    assert (f.before.patients, f.before.days) == (3, 750)
    # 4 + 1 admissions; 14 + 5 nights; 3 + 0 + 1 emergency contacts; 1 stay.
    assert f.before.counts == {"acute_admissions": 5, "bed_days": 19, "emergency_contacts": 4, "short_stays": 1}
    # Readmitted: P1 1 of 3, P2 1 of 1 (-5 -> +5 is 10 days) = 2 of 4.
    assert (f.before.readmissions.index_admissions, f.before.readmissions.readmitted) == (4, 2)
    # After: P1 (250 days) and P2 (30 days); P4 has none yet. 280 days.
    assert (f.after.patients, f.after.days) == (2, 280)
    assert f.after.counts == {"acute_admissions": 2, "bed_days": 9, "emergency_contacts": 2, "short_stays": 1}
    assert (f.after.readmissions.index_admissions, f.after.readmissions.readmitted) == (2, 1)
    # Per patient-year: before 5 / (750 / 365.25) = 2.435; after 2 / (280 / 365.25) = 2.609.
    assert f.before.per_patient_year("acute_admissions") == pytest.approx(2.435, abs=0.001)
    assert f.after.per_patient_year("acute_admissions") == pytest.approx(2.609, abs=0.001)
    # Change: (2/280) / (5/750) - 1 = 1500/1400 - 1 = +7.1 %.
    assert f.change("acute_admissions") == pytest.approx(0.0714, abs=0.0001)


def test_an_ongoing_admission_counts_its_nights_until_today():
    before, after = windows(d(TODAY, -10), TODAY)
    ongoing = [Event("admission", d(TODAY, -4), None)]
    # Nights -4, -3, -2, -1 relative to today: 4, all after inclusion.
    assert count_in(ongoing, after, TODAY)["bed_days"] == 4
    assert count_in(ongoing, before, TODAY)["bed_days"] == 0
