"""Property-based tests of the evaluator (hypothesis).

- deterministic and independent of the order of the observations;
- idempotent: evaluating again with the returned state at the same time changes nothing;
- never fires before the hold time has passed, per the readings;
- a stricter limit never fires less often;
- a state only changes when a reading arrives or once its next_due_at has passed, so a
  scheduler that sweeps at next_due_at misses nothing.
"""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import T0, make_rule, obs
from rules import engine
from rules.engine import evaluate
from rules.model import EvaluationContext, Status
from rules.replay import replay
from rules.ruleset import default_rules
from tests.conftest import examples

SETTINGS = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
CTX = EvaluationContext(tz="Europe/Oslo", active_since=T0 - timedelta(days=1))
DEFAULTS = sorted(default_rules().values(), key=lambda r: r.key)
VALUES = {
    "spo2": st.integers(80, 100),
    "pulse": st.integers(35, 140),
    "bp_systolic": st.integers(85, 230),
    "temperature": st.integers(340, 400).map(lambda v: v / 10),
    "weight": st.integers(700, 760).map(lambda v: v / 10),
    "glucose": st.integers(20, 160).map(lambda v: v / 10),
    "resp_rate": st.integers(6, 30),
    "cat.total": st.integers(0, 40),
    "checkin.breathless": st.integers(0, 2),
    "checkin.swelling": st.integers(0, 2),
    "checkin.cough": st.integers(0, 2),
    "checkin.confusion": st.integers(0, 1),
}


@st.composite
def readings(draw, codes=tuple(VALUES), max_size=14, span_hours=96):
    n = draw(st.integers(0, max_size))
    out = []
    for i in range(n):
        code = draw(st.sampled_from(codes))
        minutes = draw(st.integers(0, span_hours * 60))
        out.append(obs(code, draw(VALUES[code]), T0 + timedelta(minutes=minutes), f"r{i}"))
    return out


def _chain(rule, observations, times, context=CTX):
    state, out = None, []
    for t in times:
        ev = evaluate(rule, None, observations, state, t, context)
        out.append((t, ev))
        state = ev.state
    return out


@SETTINGS
@given(rule=st.sampled_from(DEFAULTS), data=readings(), now_h=st.integers(0, 120), seed=st.randoms(use_true_random=False))
def test_deterministic_and_order_independent(rule, data, now_h, seed):
    now = T0 + timedelta(hours=now_h)
    shuffled = list(data)
    seed.shuffle(shuffled)
    first = evaluate(rule, None, data, None, now, CTX)
    assert evaluate(rule, None, shuffled, None, now, CTX) == first
    assert evaluate(rule, None, tuple(reversed(data)), None, now, CTX) == first
    # Explanations are formatted once per distinct input; a cold cache gives the same texts.
    engine._TEXTS.clear()
    assert evaluate(rule, None, shuffled, None, now, CTX) == first


@SETTINGS
@given(rule=st.sampled_from(DEFAULTS), data=readings(), steps=st.lists(st.integers(0, 120), min_size=1, max_size=6))
def test_idempotent_when_repeated(rule, data, steps):
    for t, ev in _chain(rule, data, [T0 + timedelta(hours=h) for h in sorted(steps)]):
        again = evaluate(rule, None, data, ev.state, t, CTX)
        assert again.state == ev.state
        assert again.findings == ev.findings


ZONES = {"kind": "zones", "code": "spo2"}


@SETTINGS
@given(data=readings(codes=("spo2",), max_size=12, span_hours=24), hold_min=st.integers(0, 240),
       limit=st.integers(85, 98))
def test_never_fires_before_the_hold_time(data, hold_min, limit):
    hold = timedelta(minutes=hold_min)
    rule = make_rule(ZONES, {"yellow_low": limit}, hold=hold)
    bad = lambda o: o.value < limit  # noqa: E731
    ordered = sorted(data, key=lambda o: (o.at, o.value, o.ref))
    previous = None
    for t, ev in replay(rule, None, data, T0, T0 + timedelta(hours=30), CTX, tick=timedelta(minutes=5)):
        if ev.state.status is Status.FIRING and previous not in (Status.FIRING, Status.RECOVERING):
            known = [o for o in ordered if o.at <= t]
            assert known and bad(known[-1])
            run_start = known[-1].at
            for o in reversed(known):
                if not bad(o):
                    break
                run_start = o.at
            assert t - run_start >= hold, f"fired at {t} though the condition only held since {run_start}"
        previous = ev.state.status


@SETTINGS
@given(data=readings(codes=("spo2",), max_size=12, span_hours=48), lenient=st.integers(84, 94),
       extra=st.integers(1, 5), hold_min=st.sampled_from([0, 30, 120]), n=st.integers(1, 3))
def test_a_stricter_limit_never_fires_less_often(data, lenient, extra, hold_min, n):
    spec = {"kind": "n_of_m", "of": ZONES}
    loose = make_rule(spec, {"yellow_low": lenient, "n": n, "m": 3}, hold=timedelta(minutes=hold_min))
    strict = make_rule(spec, {"yellow_low": lenient + extra, "n": n, "m": 3}, hold=timedelta(minutes=hold_min))
    times = sorted({o.at for o in data} | {T0 + timedelta(minutes=20 * k) for k in range(0, 3 * 50)})
    fired_loose = fired_strict = 0
    for (t, a), (_, b) in zip(_chain(loose, data, times), _chain(strict, data, times), strict=True):
        if a.state.status is Status.FIRING:
            assert b.state.status is Status.FIRING, f"the stricter limit was not firing at {t}"
        fired_loose += a.state.status is Status.FIRING
        fired_strict += b.state.status is Status.FIRING
    assert fired_strict >= fired_loose


@SETTINGS
@given(rule=st.sampled_from(DEFAULTS), data=readings(max_size=10, span_hours=72), hold_min=st.sampled_from([0, 45]))
def test_state_changes_only_on_arrivals_or_after_next_due_at(rule, data, hold_min):
    rule = rule.model_copy(update={"hold": timedelta(minutes=hold_min)})
    rule = type(rule).model_validate(rule.model_dump())
    arrivals = {o.at for o in data}
    grid = {T0 + timedelta(minutes=10 * k) for k in range(0, 6 * 80)}
    previous = None
    for t, ev in _chain(rule, data, sorted(arrivals | grid)):
        if previous is not None and ev.state.status is not previous.status:
            due = previous.next_due_at
            assert t in arrivals or (due is not None and t >= due), (
                f"{rule.key}: {previous.status} → {ev.state.status} at {t} without a reading, next_due_at was {due}"
            )
        previous = ev.state
