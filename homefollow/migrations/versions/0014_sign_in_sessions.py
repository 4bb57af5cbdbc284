"""Sign-in sessions: server-side session validity

sign_in_session: one row per sign-in on one device, keyed by the SHA-256 of the random token
that the session cookie and the "keep me signed in" cookie carry. Signing out, a password
change, a second-factor reset, deactivation and "end the other sessions" set revoked_at.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:05:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("portal", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=120), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("remember", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_in_session", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_session_account_id", ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sign_in_session", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_session_account_id")
    op.drop_table("sign_in_session")
