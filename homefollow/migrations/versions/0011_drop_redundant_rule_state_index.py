"""rule_state: drop the index on patient_id alone

The unique key (patient_id, rule_key) already serves every lookup by patient. The extra index
only cost time: the scheduler's sweep updates each due rule_state row twice (the claim, then the
new state), and every update of a row whose indexed due time changes writes every index again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 20:00:00
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_rule_state_patient_id", table_name="rule_state")


def downgrade() -> None:
    op.create_index("ix_rule_state_patient_id", "rule_state", ["patient_id"], unique=False)
