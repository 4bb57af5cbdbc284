"""The LACE readmission index, with a simplified Charlson comorbidity index from ICD-10 codes.

LACE (van Walraven et al., CMAJ 2010) = L + A + C + E, 0–19; 10 or more is a high risk of
readmission or death within 30 days. Charlson points come from a short, documented list of
ICD-10 code prefixes (after Quan et al. 2005, original Charlson weights, no age points); see
docs/outcomes.md. It is a screening aid for the candidate list, not a clinical score.
"""

from __future__ import annotations

from dataclasses import dataclass

# condition key -> (points, ICD-10 prefixes). Prefixes match codes with the dot removed.
CHARLSON: dict[str, tuple[int, tuple[str, ...]]] = {
    "myocardial_infarction": (1, ("I21", "I22", "I252")),
    "heart_failure": (1, ("I50", "I110", "I130", "I132")),
    "peripheral_vascular": (1, ("I70", "I71", "I739")),
    "cerebrovascular": (1, ("I6", "G45")),
    "dementia": (1, ("F00", "F01", "F02", "F03", "G30")),
    "chronic_pulmonary": (1, ("J40", "J41", "J42", "J43", "J44", "J45", "J46", "J47", "J60", "J61", "J62",
                              "J63", "J64", "J65", "J66", "J67")),
    "rheumatic": (1, ("M05", "M06", "M32", "M33", "M34")),
    "peptic_ulcer": (1, ("K25", "K26", "K27", "K28")),
    "mild_liver": (1, ("K70", "K73", "K74", "B18")),
    "diabetes": (1, ("E10", "E11", "E12", "E13", "E14")),
    "diabetes_complicated": (2, tuple(f"E1{t}{c}" for t in "01234" for c in "234567")),
    "hemiplegia": (2, ("G81", "G82")),
    "renal": (2, ("N18", "N19", "N03", "N05")),
    "malignancy": (2, tuple(f"C{n:02d}" for n in range(0, 76)) + tuple(f"C{n}" for n in range(81, 98))),
    "severe_liver": (3, ("K72", "I85", "K766", "K767")),
    "metastatic": (6, ("C77", "C78", "C79", "C80")),
    "aids": (6, ("B20", "B21", "B22", "B23", "B24")),
}

# A more severe form replaces the milder one instead of adding to it.
_SUPERSEDES = {"diabetes_complicated": "diabetes", "severe_liver": "mild_liver", "metastatic": "malignancy"}


def normalise_code(code: str) -> str:
    return code.strip().upper().replace(".", "").replace(" ", "")


def charlson_conditions(codes: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The Charlson conditions the codes show, in the order of CHARLSON."""
    normalised = {normalise_code(c) for c in codes if c and c.strip()}
    found = [key for key, (_points, prefixes) in CHARLSON.items()
             if any(code.startswith(prefixes) for code in normalised)]
    return [key for key in found if not any(_SUPERSEDES.get(other) == key for other in found)]


def charlson_index(codes) -> int:
    return sum(CHARLSON[key][0] for key in charlson_conditions(codes))


def length_points(days: int) -> int:
    if days < 1:
        return 0
    if days <= 3:
        return days
    if days <= 6:
        return 4
    if days <= 13:
        return 5
    return 7


def comorbidity_points(charlson: int) -> int:
    return charlson if charlson <= 3 else 5


def emergency_points(visits: int) -> int:
    return min(visits, 4)


@dataclass(frozen=True)
class Lace:
    length_of_stay_days: int
    acute: bool
    charlson: int
    emergency_visits: int
    l: int  # noqa: E741 - the L of LACE, as the score and its readers name it
    a: int
    c: int
    e: int

    @property
    def total(self) -> int:
        return self.l + self.a + self.c + self.e

    @property
    def high_risk(self) -> bool:
        return self.total >= 10


def lace(length_of_stay_days: int, acute: bool, charlson: int, emergency_visits: int) -> Lace:
    return Lace(length_of_stay_days, acute, charlson, emergency_visits,
                l=length_points(length_of_stay_days), a=3 if acute else 0,
                c=comorbidity_points(charlson), e=emergency_points(emergency_visits))
