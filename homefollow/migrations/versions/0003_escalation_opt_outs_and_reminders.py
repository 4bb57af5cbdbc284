"""escalation, opt-outs and reminders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:32:54.647536
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_opt_out',
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone')
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_policy', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('escalation_state', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('escalation_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('snoozed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('snooze_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_escalation_due_at'), ['escalation_due_at'], unique=False)

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_provider_ref'), ['provider_ref'], unique=False)

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminders', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False,
                                      server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('reminder_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_patient_reminder_due_at'), ['reminder_due_at'], unique=False)

    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_policy', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('on_call_schedule', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('on_call_schedule')
        batch_op.drop_column('escalation_policy')

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_reminder_due_at'))
        batch_op.drop_column('reminder_due_at')
        batch_op.drop_column('reminders')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_provider_ref'))
        batch_op.drop_column('delivery_status')

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_escalation_due_at'))
        batch_op.drop_column('snooze_reason')
        batch_op.drop_column('snoozed_until')
        batch_op.drop_column('snoozed_at')
        batch_op.drop_column('escalation_due_at')
        batch_op.drop_column('escalation_state')
        batch_op.drop_column('escalation_policy')

    op.drop_table('sms_opt_out')
