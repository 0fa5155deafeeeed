"""email channel: ticket participants (Cc) — sender authentication lives in message meta

Revision ID: 0010_email_auth
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0010_email_auth"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_from_message", sa.Integer(), nullable=True),
        sa.Column("added_by_agent_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("removed_by_agent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_participants_workspace_id_workspaces"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_participants_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_email_participants_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["added_from_message"],
            ["messages.id"],
            name=op.f("fk_email_participants_added_from_message_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["added_by_agent_id"],
            ["agents.id"],
            name=op.f("fk_email_participants_added_by_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_agent_id"],
            ["agents.id"],
            name=op.f("fk_email_participants_removed_by_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_participants")),
        sa.UniqueConstraint(
            "ticket_id", "address", name=op.f("uq_email_participants_ticket_id_address")
        ),
    )
    op.create_index(
        "ix_email_participants_address", "email_participants", ["address"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_email_participants_address", table_name="email_participants")
    op.drop_table("email_participants")
