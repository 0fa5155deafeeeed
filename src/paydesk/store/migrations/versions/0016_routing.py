"""editable routing rules, routing version/default queue, queue auto-assignment, customer tags,
ticket routing outcome

Revision ID: 0016_routing
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0016_routing"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_routing_rules_workspace", "routing_rules", ["workspace_id", "position"])
    op.create_table(
        "routing_settings",
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("default_queue", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "queue_assignment",
        sa.Column(
            "queue_id",
            sa.Integer(),
            sa.ForeignKey("queues.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("max_open", sa.Integer(), nullable=False),
        sa.Column("last_agent_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "customer_tags",
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(40), primary_key=True),
    )
    op.create_table(
        "ticket_routing",
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(100), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("assign_pending", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ticket_routing_pending", "ticket_routing", ["assign_pending", "ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_routing_pending", table_name="ticket_routing")
    op.drop_table("ticket_routing")
    op.drop_table("customer_tags")
    op.drop_table("queue_assignment")
    op.drop_table("routing_settings")
    op.drop_index("ix_routing_rules_workspace", table_name="routing_rules")
    op.drop_table("routing_rules")
