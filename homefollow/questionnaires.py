"""The questionnaires patients answer: a daily symptom check-in and the weekly CAT for COPD.

Every answer is a number the rules read (codes 'checkin.<topic>', 'cat.item1'…'cat.item8' and
'cat.total'). Check-in answers are coded 0 = as usual, 1 = worse than usual, 2 = much worse (for
breathlessness: at rest; for cough: the phlegm has changed colour), cough 3 = blood in the
phlegm; 'checkin.confusion', 'checkin.chest_pain' and 'checkin.fainting' are 1 for yes — the
coding the default rule sets and the safety net expect (docs/rules.md). The red flags of the
safety net (chest pain, breathless at rest, fainting, blood in the phlegm, new confusion) are
asked of everyone who answers the daily check-in, whatever the plan watches. Texts are
catalogue msgids (English), translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from .i18n import N_


@dataclass(frozen=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True)
class Question:
    key: str
    code: str
    text: str  # asked of the patient
    options: tuple[Option, ...]
    relative_text: str | None = None  # asked of a relative about the patient (%(name)s)
    relative_only: bool = False  # only a relative can judge it (new confusion)
    scale: tuple[str, str] | None = None  # CAT: the two ends of the 0–5 scale
    topic: str = ""  # short name, for summaries ("Swelling: More than usual")

    @property
    def short_name(self) -> str:
        return self.topic or self.text

    def text_for(self, relative: bool) -> str:
        return self.relative_text if relative and self.relative_text else self.text


@dataclass(frozen=True)
class Questionnaire:
    key: str
    title: str
    questions: tuple[Question, ...]
    total_code: str | None = None  # the sum of the answers, for scored questionnaires

    def questions_for(self, relative: bool) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if relative or not q.relative_only)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(q.code for q in self.questions) + ((self.total_code,) if self.total_code else ())

    def scores(self, answers: dict[str, int]) -> dict[str, float]:
        """The observations a completed questionnaire gives the rules."""
        values = {q.code: float(answers[q.key]) for q in self.questions if q.key in answers}
        if self.total_code:
            values[self.total_code] = float(sum(answers[q.key] for q in self.questions if q.key in answers))
        return values


def _three(usual: str, worse: str, much_worse: str) -> tuple[Option, ...]:
    return (Option(0, usual), Option(1, worse), Option(2, much_worse))


DAILY_CHECKIN = Questionnaire(
    key="daily_checkin",
    title=N_("Daily check-in"),
    questions=(
        Question("general", "checkin.general", N_("How are you today, compared with how you usually are?"),
                 _three(N_("As usual"), N_("Worse than usual"), N_("Much worse than usual")),
                 relative_text=N_("How is %(name)s today, compared with usual?"), topic=N_("General condition")),
        Question("breathless", "checkin.breathless", N_("How breathless are you?"),
                 _three(N_("As usual"), N_("More than usual"), N_("Breathless even when resting")),
                 relative_text=N_("How breathless is %(name)s?"), topic=N_("Breathlessness")),
        Question("swelling", "checkin.swelling", N_("Is there swelling in your legs or feet?"),
                 _three(N_("No more than usual"), N_("More than usual"), N_("Much more than usual")),
                 relative_text=N_("Is there swelling in %(name)s's legs or feet?"), topic=N_("Swelling")),
        Question("cough", "checkin.cough", N_("How are your cough and phlegm?"),
                 (*_three(N_("As usual"), N_("More cough or more phlegm than usual"),
                          N_("The phlegm has changed colour")),
                  Option(3, N_("There is blood in the phlegm"))),
                 relative_text=N_("How are %(name)s's cough and phlegm?"), topic=N_("Cough and phlegm")),
        Question("chest_pain", "checkin.chest_pain", N_("Do you have pain or pressure in your chest?"),
                 (Option(0, N_("No")), Option(1, N_("Yes, I have pain or pressure in my chest"))),
                 relative_text=N_("Does %(name)s have pain or pressure in the chest?"), topic=N_("Chest pain")),
        Question("fainting", "checkin.fainting", N_("Have you fainted, or nearly fainted, since yesterday?"),
                 (Option(0, N_("No")), Option(1, N_("Yes, I fainted or nearly fainted"))),
                 relative_text=N_("Has %(name)s fainted, or nearly fainted, since yesterday?"), topic=N_("Fainting")),
        Question("confusion", "checkin.confusion", N_("Is the patient more confused or drowsy than usual?"),
                 (Option(0, N_("No")), Option(1, N_("Yes, more confused or drowsy than usual"))),
                 relative_text=N_("Is %(name)s more confused or drowsy than usual?"), relative_only=True,
                 topic=N_("Confusion")),
    ),
)


def _cat(n: int, text: str, low: str, high: str) -> Question:
    return Question(f"item{n}", f"cat.item{n}", text, tuple(Option(v, str(v)) for v in range(6)), scale=(low, high))


# COPD Assessment Test (CAT): 8 items scored 0–5, total 0–40; ≥ 10 is highly symptomatic.
CAT = Questionnaire(
    key="cat",
    title=N_("COPD questionnaire (CAT)"),
    total_code="cat.total",
    questions=(
        _cat(1, N_("Cough"), N_("I never cough"), N_("I cough all the time")),
        _cat(2, N_("Phlegm"), N_("I have no phlegm in my chest at all"), N_("My chest is completely full of phlegm")),
        _cat(3, N_("Chest tightness"), N_("My chest does not feel tight at all"), N_("My chest feels very tight")),
        _cat(4, N_("Breathlessness on a hill or stairs"),
             N_("I am not breathless when I walk up a hill or one flight of stairs"),
             N_("I am very breathless when I walk up a hill or one flight of stairs")),
        _cat(5, N_("Activities at home"), N_("I am not limited in doing things at home"),
             N_("I am very limited in doing things at home")),
        _cat(6, N_("Leaving home"), N_("I feel confident leaving my home despite my lung condition"),
             N_("I do not feel confident leaving my home because of my lung condition")),
        _cat(7, N_("Sleep"), N_("I sleep soundly"), N_("I do not sleep soundly because of my lung condition")),
        _cat(8, N_("Energy"), N_("I have lots of energy"), N_("I have no energy at all")),
    ),
)

QUESTIONNAIRES: dict[str, Questionnaire] = {q.key: q for q in (DAILY_CHECKIN, CAT)}
