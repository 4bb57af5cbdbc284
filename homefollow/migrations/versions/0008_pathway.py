"""pathway: the enrolment pathway per patient, and each team's deadlines for its steps

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "care_pathway",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("referred_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("consent_on", sa.Date(), nullable=True),
        sa.Column("consent_scope", JSON, nullable=False),
        sa.Column("consent_given_by", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("consent_representative", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("consent_withdrawn_on", sa.Date(), nullable=True),
        sa.Column("mapping_on", sa.Date(), nullable=True),
        sa.Column("what_matters", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("goals", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("risks", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("trial_start_on", sa.Date(), nullable=True),
        sa.Column("trial_end_on", sa.Date(), nullable=True),
        sa.Column("evaluations", JSON, nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("end_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id"),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pathway_deadlines", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_column("pathway_deadlines")
    op.drop_table("care_pathway")
