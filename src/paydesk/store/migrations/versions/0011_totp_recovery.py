"""staff two-factor: last accepted TOTP step (replay protection) and hashed recovery codes

Revision ID: 0011_totp_recovery
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0011_totp_recovery"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_totp_steps",
        sa.Column(
            "agent_id",
            sa.Integer(),
            sa.ForeignKey("agents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "agent_id",
            sa.Integer(),
            sa.ForeignKey("agents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_staff_recovery_codes_agent_id", "staff_recovery_codes", ["agent_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_staff_recovery_codes_agent_id", table_name="staff_recovery_codes")
    op.drop_table("staff_recovery_codes")
    op.drop_table("staff_totp_steps")
