"""outcomes: service-use history (admissions, emergency contacts, short-term stays) per person

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:26:48.581458
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('person_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('palliative', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id'),
    sa.UniqueConstraint('team_id', 'person_key')
    )
    with op.batch_alter_table('service_person', schema=None) as batch_op:
        batch_op.create_index('ix_service_person_team_id', ['team_id'], unique=False)

    op.create_table('service_use',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('acute', sa.Boolean(), nullable=False),
    sa.Column('diagnoses', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('source_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['service_person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'source_id')
    )
    with op.batch_alter_table('service_use', schema=None) as batch_op:
        batch_op.create_index('ix_service_use_person_id', ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_use', schema=None) as batch_op:
        batch_op.drop_index('ix_service_use_person_id')

    op.drop_table('service_use')
    with op.batch_alter_table('service_person', schema=None) as batch_op:
        batch_op.drop_index('ix_service_person_team_id')

    op.drop_table('service_person')
