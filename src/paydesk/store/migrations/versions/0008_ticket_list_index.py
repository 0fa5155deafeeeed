"""index for the newest-first ticket list of a workspace

SQLite otherwise picks the (workspace_id, status, id) index for `workspace_id = ?` and sorts every
ticket of the workspace to return the newest 25.

Revision ID: 0008_ticket_list_index
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

revision = "0008_ticket_list_index"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_workspace_id", "tickets", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_workspace_id", table_name="tickets")
