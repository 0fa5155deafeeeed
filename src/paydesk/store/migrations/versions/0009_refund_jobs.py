"""refund lifecycle jobs: when a submitted refund is next polled, when a sandbox refund settles

- `refund_requests.next_check_at`: the lease/schedule of the refund job (`paydesk refunds sync`
  and the server's background loop); the index serves its claim query
  (`status = 'submitted' AND next_check_at <= now`, and the stuck `executing` scan).
- `ledger_refunds.settles_at`: when the sandbox platform completes a refund by itself.

Revision ID: 0009_refund_jobs
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0009_refund_jobs"
down_revision = "0001_core"
branch_labels = None
depends_on = "0006_payments"


def upgrade() -> None:
    op.add_column("refund_requests", sa.Column("next_check_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_refund_requests_due", "refund_requests", ["status", "next_check_at"], unique=False
    )
    op.add_column("ledger_refunds", sa.Column("settles_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_refunds", "settles_at")
    op.drop_index("ix_refund_requests_due", table_name="refund_requests")
    op.drop_column("refund_requests", "next_check_at")
