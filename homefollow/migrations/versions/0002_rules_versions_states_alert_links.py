"""rules: versions, states, alert links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:06:23.244730
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'version')
    )
    with op.batch_alter_table('rule_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_version_key'), ['key'], unique=False)
        batch_op.create_index('uq_rule_version_one_active', ['key'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.create_table('rule_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('rule_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('rule_version_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('state', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['rule_version_id'], ['rule_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'rule_key')
    )
    with op.batch_alter_table('rule_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_state_next_due_at'), ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rule_state_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('title', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False,
                                      server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('severity_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key('fk_alert_rule_version_id', 'rule_version', ['rule_version_id'], ['id'])

    op.execute("UPDATE alert SET severity_since = opened_at")
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('severity_since', existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('monitoring_since', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instructions', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('team_alerted', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_column('team_alerted')
        batch_op.drop_column('instructions')

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_column('monitoring_since')

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alert_rule_version_id', type_='foreignkey')
        batch_op.drop_column('severity_since')
        batch_op.drop_column('title')
        batch_op.drop_column('rule_version_id')

    with op.batch_alter_table('rule_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_state_patient_id'))
        batch_op.drop_index(batch_op.f('ix_rule_state_next_due_at'))

    op.drop_table('rule_state')
    with op.batch_alter_table('rule_version', schema=None) as batch_op:
        batch_op.drop_index('uq_rule_version_one_active', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
        batch_op.drop_index(batch_op.f('ix_rule_version_key'))

    op.drop_table('rule_version')
