"""Personal baselines and calibration of personal limits from the trial period."""

import pytest

from conftest import T0, at, obs
from rules.baseline import NotEnoughReadings, compute_baseline, propose_limits
from rules.safety import SCALE2_RED_LOW, safety_limits
from rules.zones import ZoneLimits


def _trial(code, values, start=0):
    return [obs(code, v, at(0, days=start + i), f"m:{i}") for i, v in enumerate(values)]


def test_baseline_is_the_median_of_the_period_and_needs_enough_readings():
    readings = _trial("spo2", [93, 95, 94, 92, 96, 94, 90]) + [obs("spo2", 80, at(0, days=20))]
    b = compute_baseline("spo2", readings, T0, at(0, days=14), min_count=5)
    assert b.value == 94 and b.count == 7
    assert "median of 7 readings" in b.explanation.en
    assert b.refs[0] == "m:0"
    assert compute_baseline("spo2", readings, T0, at(0, days=3), min_count=5) is None


def test_proposal_is_median_plus_minus_k_iqr_rounded_outward():
    readings = _trial("pulse", [68, 70, 72, 74, 76, 70, 72, 74, 66, 78])
    p = propose_limits("pulse", readings, k=1.5, red_k=3.0)
    assert (p.median, p.q1, p.q3, p.iqr) == (72.0, 70.0, 74.0, 4.0)
    # iqr 4 is below pulse's minimum spread of 5 → spread 5
    assert p.spread == 5.0
    # yellow 72 ∓ 7.5 rounded outward; red 72 ∓ 15 (57 and 87) lies inside the normal range 51–90
    assert p.limits == ZoneLimits(red_low=51, yellow_low=64, yellow_high=80, red_high=90)
    assert p.adjusted == ("red_low", "red_high")
    assert "median 72 /min" in p.explanation.en.replace("\u00a0", " ")
    assert "A nurse must approve it" in p.explanation.en


def test_proposal_is_never_more_lenient_than_the_safety_limits():
    readings = _trial("spo2", [86, 88, 85, 87, 89, 86, 84, 90])
    p = propose_limits("spo2", readings)
    assert p.limits.red_low == safety_limits()["spo2"].red_low == 92  # scale 1, whatever the median
    assert p.limits.yellow_low > p.limits.red_low
    assert p.limits.yellow_high is None and p.limits.red_high is None  # SpO2: low side only
    assert "red_low" in p.adjusted
    assert "Adjusted to the safety limits" in p.explanation.en and "red below" in p.explanation.en
    assert "rød under" in p.explanation.nb and "red_low" not in p.explanation.nb


def test_a_red_limit_is_never_inside_the_range_that_is_normal_for_anybody():
    # A steady pulse: red at 72 ± 15 would call an ordinary pulse of 88 an emergency.
    p = propose_limits("pulse", _trial("pulse", [70, 72, 74, 71, 73, 72, 70, 74]))
    assert (p.limits.red_low, p.limits.red_high) == (51, 90)
    assert p.limits.yellow_high == 80  # yellow still follows the patient's own normal
    # A patient around 97 %: red below 94 at most (never inside 94–98 %), not 88 as on scale 2.
    p = propose_limits("spo2", _trial("spo2", [97, 98, 97, 96, 97, 98, 97, 96]))
    assert 92 <= p.limits.red_low <= 94 and p.limits.red_low < p.limits.yellow_low < 97
    # A COPD patient around 93 % on scale 2 by a recorded decision: red below 88 (the floor of the
    # 88–92 % target band), yellow below his own normal.
    scale2 = ZoneLimits(red_low=SCALE2_RED_LOW)
    p = propose_limits("spo2", _trial("spo2", [93, 94, 92, 93, 95, 93, 94, 92]), safety=scale2)
    assert p.limits.red_low == 88 and p.limits.yellow_low < 93
    # A wide spread is left alone: its red limits are already outside the normal range.
    p = propose_limits("pulse", _trial("pulse", [60, 80, 70, 95, 55, 85, 65, 75]))
    assert p.limits.red_high > 90 and "red_high" not in p.adjusted


def test_the_norwegian_explanation_has_no_english_in_it():
    p = propose_limits("glucose", _trial("glucose", [2.8, 3.0, 2.9, 3.0, 2.7, 2.9, 3.0]))
    assert p.warnings and "vurder pasienten før du godkjenner" in p.explanation.nb
    assert "review" not in p.explanation.nb and "red_" not in p.explanation.nb


def test_limits_beyond_the_plausible_range_are_left_out():
    readings = _trial("spo2", [97, 99, 98, 100, 99, 98, 97])
    p = propose_limits("spo2", readings, sides=("low", "high"))
    assert p.limits.yellow_high is None and p.limits.red_high is None
    assert {"yellow_high", "red_high"} <= set(p.adjusted)


def test_a_median_beyond_a_safety_limit_is_flagged_for_review():
    readings = _trial("glucose", [2.8, 3.0, 2.9, 3.0, 2.7, 2.9, 3.0])
    p = propose_limits("glucose", readings)
    assert any("review the patient" in w for w in p.warnings)


def test_proposal_uses_only_the_period_and_refuses_too_few_readings():
    readings = _trial("weight", [80.0, 80.4, 79.8, 80.2, 80.1, 80.3, 79.9], start=0) + [obs("weight", 95.0, at(0, days=30))]
    p = propose_limits("weight", readings, start=T0, end=at(0, days=14))
    assert p.count == 7 and p.median == 80.1
    with pytest.raises(NotEnoughReadings, match="3 readings in the period, at least 7"):
        propose_limits("weight", readings[:3])
    with pytest.raises(ValueError, match="only be proposed for measurements"):
        propose_limits("cat.total", readings)
