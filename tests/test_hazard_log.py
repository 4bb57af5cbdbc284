"""The hazard log tests itself: every control names tests that exist, and the rendered
markdown is what the data says (docs/safety/, tools/hazard_log.py)."""

from __future__ import annotations


import pytest

from tools import hazard_log


def test_every_control_is_verified_by_tests_that_exist():
    log = hazard_log.load()
    assert log.hazards, "the hazard log is empty"
    assert hazard_log.missing_tests(log) == []


def test_the_rendered_hazard_log_is_up_to_date():
    assert hazard_log.RENDERED.read_text(encoding="utf-8") == hazard_log.render(hazard_log.load()), \
        "docs/safety/hazard-log.md is stale: run make hazard-log"


def test_a_control_without_a_test_or_with_a_test_that_does_not_exist_is_caught(tmp_path):
    with pytest.raises(ValueError, match="tests"):
        hazard_log.HazardLog.model_validate({"hazards": [_hazard(tests=[])]})
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_real():\n    assert True\n", encoding="utf-8")
    log = hazard_log.HazardLog.model_validate({"hazards": [_hazard(tests=[
        "tests/test_x.py::test_real", "tests/test_x.py::test_gone[sqlite]", "tests/test_none.py::test_a"])]})
    assert hazard_log.missing_tests(log, root=tmp_path) == [
        "HAZ-001: tests/test_x.py::test_gone[sqlite]: no such test",
        "HAZ-001: tests/test_none.py::test_a: no such file"]


def test_risk_ratings_follow_the_dcb0129_matrix():
    assert hazard_log.Risk(severity=5, likelihood=5).rating == 5
    assert hazard_log.Risk(severity=4, likelihood=1).rating == 2
    assert hazard_log.Risk(severity=1, likelihood=1).rating == 1
    for hazard in hazard_log.load().hazards:  # controls never make a risk worse
        assert hazard.after.rating <= hazard.before.rating, hazard.id
        if hazard.status == "closed":
            assert hazard.after.rating <= 3, f"{hazard.id} is closed with an unacceptable residual risk"
            if hazard.after.rating == 3:  # undesirable: acceptable only with a stated reason
                assert hazard.residual, f"{hazard.id} is closed at rating 3 without saying why that is accepted"


def _hazard(tests):
    return {"id": "HAZ-001", "title": "t", "cause": "c", "harm": "h", "source": "s",
            "before": {"severity": 4, "likelihood": 4}, "after": {"severity": 4, "likelihood": 1},
            "status": "closed", "controls": [{"control": "a control that works", "tests": tests}]}
