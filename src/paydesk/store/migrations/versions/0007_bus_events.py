"""relay table of the embedded event bus

Revision ID: 0007_bus_events
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0007_bus_events"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_events")),
    )


def downgrade() -> None:
    op.drop_table("bus_events")
