"""Index on report (patient_id, measured_at, id): a patient's newest report and a window of
reports are read through it instead of scanning every report (issue 22)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:40:00
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_report_patient_measured", "report", ["patient_id", "measured_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_report_patient_measured", table_name="report")
