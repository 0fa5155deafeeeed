"""Bring a database to a usable state: migrations and the default queues (idempotent)."""

from __future__ import annotations

from paydesk.services.context import AppContext
from paydesk.services.staff import ensure_default_queues
from paydesk.store.migrate import upgrade


def prepare(ctx: AppContext) -> None:
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(ctx.settings.database_url, ctx.engine, secret_key=ctx.settings.resolved_secret())
    seed(ctx)


def seed(ctx: AppContext) -> None:
    """The rows a workspace needs (default queues, routing rules, SLA policy…) on a database
    that is migrated already."""
    ensure_default_queues(ctx)
    for hook in ctx.extras.get("on_prepare", []):
        hook(ctx)
