"""Observation codes the rules may refer to, with names for explanations.

Measurements come from the catalogue in measurements.py. Questionnaire answers, check-in
answers and self-care tasks arrive as numeric observations too, so one rule format covers
them all:

- ``cat.total`` (0–40) and ``cat.item1`` … ``cat.item8`` (0–5): COPD Assessment Test.
- ``checkin.<topic>``: the symptom check-in. 0 = as usual, 1 = worse than usual,
  2 = much worse (for breathlessness: at rest; for cough: the phlegm has changed colour);
  ``checkin.cough`` 3 = blood in the phlegm. ``checkin.confusion``, ``checkin.chest_pain`` and
  ``checkin.fainting`` are 1 for yes (new confusion or drowsiness, chest pain, fainted).
- ``task.<name>``: a self-care task, 1 = done (e.g. rescue medicine taken), 0 = not done.

Unknown ``checkin.*`` and ``task.*`` topics are accepted (a plan may add its own questions);
they are named by their code in explanations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache, cache

from .measurements import CATALOGUE
from .text import number


@dataclass(frozen=True)
class CodeInfo:
    code: str
    name_nb: str
    name_en: str
    unit: str  # "" for scores and answers
    decimals: int
    minimum: float
    maximum: float

    def name(self, locale: str) -> str:
        return self.name_nb if locale.startswith("nb") else self.name_en


_EXTRA: dict[str, CodeInfo] = {
    c.code: c
    for c in (
        CodeInfo("cat.total", "CAT-skår", "CAT score", "", 0, 0, 40),
        *(CodeInfo(f"cat.item{i}", f"CAT spørsmål {i}", f"CAT item {i}", "", 0, 0, 5) for i in range(1, 9)),
        CodeInfo("checkin.breathless", "Tungpust", "Breathlessness", "", 0, 0, 2),
        CodeInfo("checkin.swelling", "Hevelse i bena", "Swelling of the legs", "", 0, 0, 2),
        CodeInfo("checkin.cough", "Hoste og slim", "Cough and sputum", "", 0, 0, 3),
        CodeInfo("checkin.confusion", "Ny forvirring eller døsighet", "New confusion or drowsiness", "", 0, 0, 1),
        CodeInfo("checkin.chest_pain", "Brystsmerter", "Chest pain", "", 0, 0, 1),
        CodeInfo("checkin.fainting", "Besvimelse", "Fainting", "", 0, 0, 1),
        CodeInfo("checkin.general", "Allmenntilstand", "General condition", "", 0, 0, 2),
        CodeInfo("task.rescue_medicine", "Anfallsmedisin tatt", "Rescue medicine taken", "", 0, 0, 1),
    )
}

_OPEN_CODE = re.compile(r"^(checkin|task)\.[a-z][a-z0-9_]*$")


@cache
def code_info(code: str) -> CodeInfo:
    """Name, unit and range of a code; raises KeyError for a code no rule may use."""
    m = CATALOGUE.get(code)
    if m is not None:
        return CodeInfo(code, m.name_nb, m.name_en, m.unit, m.decimals, m.plausible_min, m.plausible_max)
    if code in _EXTRA:
        return _EXTRA[code]
    if _OPEN_CODE.match(code):
        return CodeInfo(code, code, code, "", 0, 0, 10)
    raise KeyError(code)


def check_code(code: str) -> str:
    """Validator helper: the code itself, or ValueError with the codes that are allowed."""
    try:
        code_info(code)
    except KeyError:
        raise ValueError(
            f"unknown observation code '{code}'; use a measurement code "
            f"({', '.join(sorted(CATALOGUE))}), cat.total, cat.item1…cat.item8, "
            "checkin.<topic> or task.<name>"
        ) from None
    return code


def check_code_pattern(pattern: str) -> str:
    """A code, or a prefix pattern such as 'checkin.*' (used by missed check-ins)."""
    if pattern.endswith(".*"):
        prefix = pattern[:-2]
        if prefix in ("cat", "checkin", "task"):
            return pattern
        raise ValueError(f"unknown code pattern '{pattern}'; patterns are cat.*, checkin.* and task.*")
    return check_code(pattern)


def matches(pattern: str, code: str) -> bool:
    return code.startswith(pattern[:-1]) if pattern.endswith(".*") else code == pattern


# What the numeric check-in answers mean, for explanations ("verre enn vanlig (1)").
_ANSWERS = {
    "nb": {0: "som vanlig", 1: "verre enn vanlig", 2: "mye verre"},
    "en": {0: "as usual", 1: "worse than usual", 2: "much worse"},
}
_SPECIAL_ANSWERS = {
    ("checkin.breathless", 2): ("i hvile", "at rest"),
    ("checkin.cough", 2): ("endret farge på slimet", "phlegm changed colour"),
    ("checkin.cough", 3): ("blod i slimet", "blood in the phlegm"),
    ("checkin.confusion", 0): ("nei", "no"),
    ("checkin.confusion", 1): ("ja", "yes"),
    ("checkin.chest_pain", 0): ("nei", "no"),
    ("checkin.chest_pain", 1): ("ja", "yes"),
    ("checkin.fainting", 0): ("nei", "no"),
    ("checkin.fainting", 1): ("ja", "yes"),
    ("task.rescue_medicine", 0): ("nei", "no"),
    ("task.rescue_medicine", 1): ("ja", "yes"),
}


def is_answer(code: str) -> bool:
    """A check-in answer or self-care task (0/1/2), as opposed to a measurement or score."""
    return code.startswith(("checkin.", "task."))


@lru_cache(maxsize=1024)
def answer_text(code: str, value: float, locale: str) -> str:
    """'verre enn vanlig (1)' for a check-in answer; the number alone when it has no word."""
    nb = locale.startswith("nb")
    special = _SPECIAL_ANSWERS.get((code, int(value))) if value == int(value) else None
    if special is not None:
        word = special[0] if nb else special[1]
    elif code.startswith("checkin.") and value in (0, 1, 2):
        word = _ANSWERS["nb" if nb else "en"][int(value)]
    else:
        return number(value, 0, locale)
    return f"{word} ({number(value, 0, locale)})"


@lru_cache(maxsize=4096)
def format_delta(code: str, value: float, locale: str) -> str:
    """A difference: '2,2 kg', and for SpO2 '3 prosentpoeng' rather than '3 %'."""
    if code_info(code).unit == "%":
        return f"{number(value, 0, locale)} {'prosentpoeng' if locale.startswith('nb') else 'percentage points'}"
    return format_value(code, value, locale)


@lru_cache(maxsize=4096)
def format_value(code: str, value: float, locale: str) -> str:
    """'75,1 kg', '88 %', '14' — a value in the unit it is stored in."""
    info = code_info(code)
    text = number(value, info.decimals, locale)
    if not info.unit:
        return text
    sep = "" if info.unit == "%" else "\u00a0"
    return f"{text}{sep}{info.unit}"
