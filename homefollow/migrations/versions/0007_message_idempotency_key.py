"""messages: an idempotency key, so a double send from a flaky phone is one message

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_unique_constraint("uq_message_patient_idempotency_key", ["patient_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_patient_idempotency_key", type_="unique")
        batch_op.drop_column("idempotency_key")
