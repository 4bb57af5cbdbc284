"""Check-ins (questionnaires, one question per page) and the plan's self-care tasks."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import InputRequired, Length

from homefollow import transactions
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import QuestionnaireDraft
from homefollow.questionnaires import QUESTIONNAIRES
from homefollow.services import plans, reporting
from homefollow.services.access import Need

from . import bp
from .views import acting_patient, patient_side


class AnswerForm(FlaskForm):
    answer = RadioField(validators=[InputRequired()], coerce=int)


class TaskForm(FlaskForm):
    idempotency_key = HiddenField()
    done = RadioField(choices=[SelectChoice("yes", ""), SelectChoice("no", "")],
                      validators=[InputRequired()])
    comment = TextAreaField(validators=[Length(max=1000)])


def _draft(db, patient_id: int, key: str) -> QuestionnaireDraft | None:
    return db.exec(select(QuestionnaireDraft).where(QuestionnaireDraft.patient_id == patient_id,
                                                    QuestionnaireDraft.questionnaire_key == key)).first()


def _questions(key: str):
    questionnaire = QUESTIONNAIRES.get(key)
    if questionnaire is None:
        abort(404)
    return questionnaire, questionnaire.questions_for(relative=current_user.kind == "relative")


@bp.get("/checkin/<key>")
@patient_side
def checkin_start(key: str):
    """Continue where the patient stopped, or start at the first question."""
    access = acting_patient(Need.REPORT, "view.checkin")
    _questionnaire, questions = _questions(key)
    draft = _draft(get_session(), access.patient.id, key)
    step = _next_unanswered(questions, draft.answers if draft else {}, after=0) or len(questions)
    return redirect(url_for("patient.checkin_question", key=key, step=step))


@bp.route("/checkin/<key>/<int:step>", methods=["GET", "POST"])
@patient_side
def checkin_question(key: str, step: int):
    access = acting_patient(Need.REPORT, "view.checkin")
    questionnaire, questions = _questions(key)
    if not 1 <= step <= len(questions):
        abort(404)
    question = questions[step - 1]
    db, clock = get_session(), get_clock()
    draft = _draft(db, access.patient.id, key)
    if draft is None and step > 1:
        # The answers were sent a moment ago (a second tap on the last page), or never begun.
        recent = reporting.latest_report(db, access.patient.id, "questionnaire", key)
        if recent is not None and clock.now() - recent.reported_at < reporting.REPEAT_WINDOW:
            return redirect(url_for("patient.report_result", report_id=recent.id))
        return redirect(url_for("patient.checkin_start", key=key))
    form = AnswerForm()
    form.answer.choices = [SelectChoice(o.value, _(o.label)) for o in question.options]
    if request.method == "GET" and draft and question.key in draft.answers:
        form.answer.data = draft.answers[question.key]
    if form.validate_on_submit():
        now = clock.now()
        if draft is None:
            draft = QuestionnaireDraft(patient_id=access.patient.id, questionnaire_key=key, answers={},
                                       idempotency_key=uuid.uuid4().hex, started_at=now, updated_at=now)
        draft.answers = {**draft.answers, question.key: form.answer.data}  # a new dict: JSON columns see it
        draft.updated_at = now
        db.add(draft)
        following = _next_unanswered(questions, draft.answers, after=step)
        if following is not None:
            return redirect(url_for("patient.checkin_question", key=key, step=following))
        return _complete(access, questionnaire, draft)
    if form.is_submitted():
        form.answer.errors = [_("Choose one of the answers.")]
    return render_template("patient/question.html", access=access, questionnaire=questionnaire, question=question,
                           step=step, steps=len(questions), form=form), 400 if form.answer.errors else 200


def _next_unanswered(questions, answers: dict, after: int) -> int | None:
    """The next question not yet answered after this one, else the first one skipped."""
    open_steps = [n for n, q in enumerate(questions, start=1) if q.key not in answers]
    return next((n for n in open_steps if n > after), open_steps[0] if open_steps else None)


def _complete(access, questionnaire, draft: QuestionnaireDraft):
    db, clock = get_session(), get_clock()

    def store():
        outcome = reporting.report_questionnaire(
            db, clock, patient=access.patient, questionnaire_key=questionnaire.key, answers=draft.answers,
            idempotency_key=draft.idempotency_key, reported_by_account_id=current_user.id,
            actor_kind=current_user.kind, ip=request.remote_addr)
        db.delete(draft)
        return outcome

    outcome = transactions.run_in_transaction(db, store, what="check-in")  # the idempotency key stores it once
    return redirect(url_for("patient.report_result", report_id=outcome.report.id))


@bp.route("/tasks/<key>", methods=["GET", "POST"])
@patient_side
def task(key: str):
    access = acting_patient(Need.REPORT, "view.task")
    content, _version = plans.current_content(get_session(), access.patient.id)
    planned = content.task(key)
    if planned is None:
        abort(404)
    form = TaskForm()
    form.done.choices = [SelectChoice("yes", _("Yes, done")), SelectChoice("no", _("No, not this time"))]
    if not form.idempotency_key.data:
        form.idempotency_key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        db = get_session()
        outcome = transactions.run_in_transaction(db, lambda: reporting.report_task(
            db, get_clock(), patient=access.patient, task_key=key, done=form.done.data == "yes",
            comment=form.comment.data, idempotency_key=(form.idempotency_key.data or "")[:100],
            reported_by_account_id=current_user.id, actor_kind=current_user.kind, ip=request.remote_addr),
            what="task report")
        if outcome.zone and outcome.zone.value in ("yellow", "red"):
            return redirect(url_for("patient.report_result", report_id=outcome.report.id))
        flash(_("Thank you, it is registered."), "success")
        return redirect(url_for("patient.today"))
    if form.is_submitted() and form.done.errors:
        form.done.errors = [_("Choose yes or no.")]
    return render_template("patient/task.html", access=access, task=planned, form=form), 400 if form.errors else 200
