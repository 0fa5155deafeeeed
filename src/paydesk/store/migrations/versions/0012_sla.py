"""SLA: business calendars, SLA policies, the clock columns of tickets

Revision ID: 0012_sla
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0012_sla"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_TICKET_COLUMNS = (
    ("sla_due_at", UTCDateTime()),
    ("first_response_due_at", UTCDateTime()),
    ("next_response_due_at", UTCDateTime()),
    ("resolution_due_at", UTCDateTime()),
    ("final_answer_due_at", UTCDateTime()),
    ("final_answer_at", UTCDateTime()),
    ("holding_reply_at", UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "business_calendars",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("extra_days", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("complaint_days", sa.Integer(), nullable=False),
        sa.Column("complaint_extended_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_business_calendars_ws", "business_calendars", ["workspace_id", "id"])
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column(
            "calendar_id", sa.Integer(), sa.ForeignKey("business_calendars.id"), nullable=True
        ),
        sa.Column("queue_id", sa.Integer(), sa.ForeignKey("queues.id"), nullable=True),
        sa.Column("category", sa.String(24), nullable=True),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sla_policies_ws", "sla_policies", ["workspace_id", "position"])
    op.add_column("tickets", sa.Column("sla_policy_id", sa.Integer(), nullable=True))
    for name, type_ in _TICKET_COLUMNS:
        op.add_column("tickets", sa.Column(name, type_, nullable=True))
    op.add_column("tickets", sa.Column("resolution_left_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "tickets",
        sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_tickets_sla_due", "tickets", ["workspace_id", "sla_due_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_sla_due", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in (
            "escalation_level",
            "resolution_left_seconds",
            *[n for n, _ in reversed(_TICKET_COLUMNS)],
            "sla_policy_id",
        ):
            batch.drop_column(name)
    op.drop_index("ix_sla_policies_ws", table_name="sla_policies")
    op.drop_table("sla_policies")
    op.drop_index("ix_business_calendars_ws", table_name="business_calendars")
    op.drop_table("business_calendars")
