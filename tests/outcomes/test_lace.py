"""LACE and the simplified Charlson mapping, checked against scores worked out by hand."""

from homefollow.outcomes.lace import charlson_conditions, charlson_index, lace, length_points


def test_a_typical_heavy_user_scores_high():
    # L: 5 days -> 4; A: acute -> 3; C: heart failure 1 + COPD 1 + diabetes 1 = 3 -> 3;
    # E: 2 visits -> 2. Total 4 + 3 + 3 + 2 = 12, which is 10 or more: high risk.
    score = lace(5, True, charlson_index(["I50.1", "J44.1", "E11.9"]), 2)
    assert (score.l, score.a, score.c, score.e, score.total, score.high_risk) == (4, 3, 3, 2, 12, True)


def test_severe_forms_replace_milder_ones_and_large_values_are_capped():
    codes = ["E11.2", "e11.9", "C50.9", "C78.0"]
    # Diabetes with complications (2) replaces diabetes (1); metastatic cancer (6) replaces cancer (2).
    assert charlson_conditions(codes) == ["diabetes_complicated", "metastatic"]
    assert charlson_index(codes) == 8
    # L: under a day -> 0; A: planned -> 0; C: Charlson 8 (4 or more) -> 5; E: 6 visits -> capped at 4. Total 9.
    score = lace(0, False, 8, 6)
    assert (score.l, score.a, score.c, score.e, score.total, score.high_risk) == (0, 0, 5, 4, 9, False)


def test_length_of_stay_bands():
    assert [length_points(d) for d in (0, 1, 2, 3, 4, 6, 7, 13, 14, 40)] == [0, 1, 2, 3, 4, 4, 5, 5, 7, 7]


def test_codes_outside_the_mapping_add_nothing():
    assert charlson_index(["R07.4", "S72.0", "", "  "]) == 0
    assert charlson_conditions(["I63.9", "G30.1", "N18.5"]) == ["cerebrovascular", "dementia", "renal"]
