"""care_plan.template_id: the template a plan was last started from

Until now only the audit record "plan.template_applied" told which template a plan came from.
The backfill replays those records: each sets the template on the patient's versions saved from
that moment on (the record and the version it made share one timestamp).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 18:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_care_plan_template_id"), ["template_id"], unique=False)
        batch_op.create_foreign_key("fk_care_plan_template", "plan_template", ["template_id"], ["id"])

    conn = op.get_bind()
    applied = conn.execute(sa.text(
        "SELECT a.patient_id, a.object_id, a.at FROM audit_event a JOIN plan_template t ON t.id = a.object_id "
        "WHERE a.action = 'plan.template_applied' AND a.object_type = 'plan_template' "
        "AND a.patient_id IS NOT NULL ORDER BY a.at, a.id")).all()
    for patient_id, template_id, at in applied:
        conn.execute(sa.text("UPDATE care_plan SET template_id = :template WHERE patient_id = :patient "
                             "AND created_at >= :at"), {"template": template_id, "patient": patient_id, "at": at})
    if applied:
        print(f"care_plan.template_id: replayed {len(applied)} template applications")


def downgrade() -> None:
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.drop_constraint("fk_care_plan_template", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_care_plan_template_id"))
        batch_op.drop_column("template_id")
