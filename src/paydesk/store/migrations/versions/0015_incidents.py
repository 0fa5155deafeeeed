"""incidents (problem records), their linked tickets and timeline

Revision ID: 0015_incidents
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0015_incidents"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("affected_service", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "source_ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(200), nullable=False),
        sa.Column("oncall_agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("notified_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incidents_workspace_status", "incidents", ["workspace_id", "status", "id"])
    op.create_table(
        "incident_tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("linked_by_name", sa.String(200), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("notice_message_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("ticket_id", name="uq_incident_tickets_ticket"),
    )
    op.create_index(
        "ix_incident_tickets_incident", "incident_tickets", ["incident_id", "ticket_id"]
    )
    op.create_table(
        "incident_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incident_updates_incident", "incident_updates", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_incident_updates_incident", table_name="incident_updates")
    op.drop_table("incident_updates")
    op.drop_index("ix_incident_tickets_incident", table_name="incident_tickets")
    op.drop_table("incident_tickets")
    op.drop_index("ix_incidents_workspace_status", table_name="incidents")
    op.drop_table("incidents")
