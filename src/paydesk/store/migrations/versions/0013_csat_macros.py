"""CSAT surveys (one per resolution), NPS questions, macros

Revision ID: 0013_csat_macros
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0013_csat_macros"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _fk(table: str, col: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    ref = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [col], [target], name=op.f(f"fk_{table}_{col}_{ref}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        _fk("csat_surveys", "workspace_id", "workspaces.id"),
        _fk("csat_surveys", "ticket_id", "tickets.id", "CASCADE"),
        _fk("csat_surveys", "customer_id", "customers.id", "CASCADE"),
        _fk("csat_surveys", "agent_id", "agents.id", "SET NULL"),
        _fk("csat_surveys", "queue_id", "queues.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_surveys")),
        sa.UniqueConstraint("ticket_id", "round", name="uq_csat_surveys_ticket_id_round"),
    )
    op.create_index(
        "ix_csat_surveys_created", "csat_surveys", ["workspace_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_csat_surveys_customer", "csat_surveys", ["customer_id", "created_at"], unique=False
    )
    op.create_table(
        "nps_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        _fk("nps_surveys", "workspace_id", "workspaces.id"),
        _fk("nps_surveys", "customer_id", "customers.id", "CASCADE"),
        _fk("nps_surveys", "ticket_id", "tickets.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nps_surveys")),
    )
    op.create_index(
        "ix_nps_surveys_created", "nps_surveys", ["workspace_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_nps_surveys_customer", "nps_surveys", ["customer_id", "created_at"], unique=False
    )
    op.create_table(
        "macros",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("macros", "workspace_id", "workspaces.id"),
        _fk("macros", "owner_id", "agents.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
    )
    op.create_index("ix_macros_workspace", "macros", ["workspace_id", "owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_macros_workspace", table_name="macros")
    op.drop_table("macros")
    op.drop_index("ix_nps_surveys_customer", table_name="nps_surveys")
    op.drop_index("ix_nps_surveys_created", table_name="nps_surveys")
    op.drop_table("nps_surveys")
    op.drop_index("ix_csat_surveys_customer", table_name="csat_surveys")
    op.drop_index("ix_csat_surveys_created", table_name="csat_surveys")
    op.drop_table("csat_surveys")
