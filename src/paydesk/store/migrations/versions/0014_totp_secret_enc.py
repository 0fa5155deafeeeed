"""staff two-factor: TOTP secrets sealed at rest (AES-256-GCM), per-account attempt throttle

Revision ID: 0014_totp_secret_enc
Revises: 0001_core
Depends on: 0011_totp_recovery

Existing plaintext secrets (`agents.totp_secret` and a pending enrolment in
`agents.preferences["totp_pending"]`) are sealed with the key derived from the app secret:
`config.attributes["secret_key"]` when the caller passes it (`store.migrate.upgrade`), else the
process settings (`PAYDESK_SECRET_KEY` or the data dir's `secret.key`). Downgrade opens them
again (same key needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from paydesk.store.base import UTCDateTime
from paydesk.store.totp import is_sealed, open_totp_secret, seal_totp_secret, totp_key

revision = "0014_totp_secret_enc"
down_revision = "0001_core"
branch_labels = None
depends_on = "0011_totp_recovery"

_agents = sa.table(
    "agents",
    sa.column("id", sa.Integer()),
    sa.column("totp_secret", sa.String()),
    sa.column("preferences", sa.JSON()),
)


def _key() -> bytes:
    secret = context.config.attributes.get("secret_key")
    if not secret:
        from paydesk.settings import get_settings

        secret = get_settings().resolved_secret()
    return totp_key(str(secret))


def _rewrite(change: Callable[[bytes, int, str], str | None]) -> None:
    """Apply `change(key, agent_id, value)` to every stored and pending secret (key derived only
    when some agent has one: an empty database needs no app secret)."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_agents.c.id, _agents.c.totp_secret, _agents.c.preferences)).all()
    key: bytes | None = None
    for agent_id, secret, prefs in rows:
        pending = (prefs or {}).get("totp_pending") if isinstance(prefs, dict) else None
        if not secret and not pending:
            continue
        key = key or _key()
        values: dict[str, Any] = {}
        if secret:
            new = change(key, agent_id, secret)
            if new is not None:
                values["totp_secret"] = new
        if pending:
            new = change(key, agent_id, pending)
            if new is not None:
                values["preferences"] = {**prefs, "totp_pending": new}
        if values:
            conn.execute(sa.update(_agents).where(_agents.c.id == agent_id).values(**values))


def _seal(key: bytes, agent_id: int, value: str) -> str | None:
    return None if is_sealed(value) else seal_totp_secret(key, agent_id, value)


def _open(key: bytes, agent_id: int, value: str) -> str | None:
    return open_totp_secret(key, agent_id, value) if is_sealed(value) else None


def upgrade() -> None:
    with op.batch_alter_table("staff_totp_steps") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("blocked_until", UTCDateTime(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":  # SQLite does not enforce VARCHAR lengths
        op.alter_column("agents", "totp_secret", type_=sa.String(255), existing_type=sa.String(64))
    _rewrite(_seal)


def downgrade() -> None:
    _rewrite(_open)
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("agents", "totp_secret", type_=sa.String(64), existing_type=sa.String(255))
    with op.batch_alter_table("staff_totp_steps") as batch:
        batch.drop_column("blocked_until")
        batch.drop_column("attempts")
