"""Pauses with an end, and the number patients call when the team is closed

patient.paused_at / pause_reason: when and why follow-up was paused (an admission, a holiday).
patient.paused_until: a pause with an end date resumes by itself once it has passed (the
scheduler's sweep, indexed). patient.pause_review_at: when the team is asked whether a pause
without an end (an admission with no discharge message) still holds (indexed).
report.remeasure_by: a single reading outside a limit asks the patient to measure again by then;
without a new reading the team is told at that time.
team.out_of_hours_phone: what patients are told to call when the team is closed (a 24/7
response centre); without it they are told to call legevakt 116 117.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pause_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pause_review_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_patient_paused_until"), ["paused_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_pause_review_at"), ["pause_review_at"], unique=False)
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remeasure_by", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(sa.Column("out_of_hours_phone", sa.String(length=32), nullable=True))
    # Pauses already in place came from admissions (the only way to pause until now); the team
    # is asked about each at once, since none has an end.
    op.execute("UPDATE patient SET pause_reason = 'admission', paused_at = CURRENT_TIMESTAMP, "
               "pause_review_at = CURRENT_TIMESTAMP WHERE status = 'paused'")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later have it): a batch rebuild of team or patient would
    # drop tables that others refer to.
    op.drop_column("team", "out_of_hours_phone")
    op.drop_column("report", "remeasure_by")
    op.drop_index(op.f("ix_patient_pause_review_at"), table_name="patient")
    op.drop_index(op.f("ix_patient_paused_until"), table_name="patient")
    for column in ("pause_review_at", "paused_until", "pause_reason", "paused_at"):
        op.drop_column("patient", column)
