"""Adherence by patient and day (adherence_day, adherence_rollup): the figures page sums days
instead of re-reading months of reports for every patient (issue 22)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 22:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adherence_day",
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patient.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(length=20), primary_key=True),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
    )
    op.create_table(
        "adherence_rollup",
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patient.id"), primary_key=True),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("expects", sa.Boolean(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("since_day", sa.Date(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("adherence_rollup")
    op.drop_table("adherence_day")
