"""Outbox: sending priority, reconciliation token, unknown fate and claim owner

notification.priority: red pages first, then yellow, then everything else (index with status
and due_at for the sender's query). notification.ref: a token carried in an SMS so that a
message whose fate is unknown is looked up at the provider before it is sent again.
notification.fate_unknown: the last attempt may have reached the provider. notification.claimed_by:
the sender that holds the claim.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("ref", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("fate_unknown", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=40), nullable=True))
        batch_op.drop_index("ix_notification_status_due")
        batch_op.create_index("ix_notification_status_due", ["status", "priority", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_status_due")
        batch_op.create_index("ix_notification_status_due", ["status", "due_at"], unique=False)
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("fate_unknown")
        batch_op.drop_column("ref")
        batch_op.drop_column("priority")
