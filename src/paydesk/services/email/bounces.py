"""Bounces (DSN `multipart/report` or a legacy mailer-daemon notice): the outgoing mail they
report on is marked failed, and so is the delivery state of its ticket message."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.channels.email.parse import Bounce
from paydesk.domain.mailthread import mid_hash
from paydesk.services.context import AppContext
from paydesk.services.email.outbox import set_delivery_state
from paydesk.store.email import EmailOutbox, OutboxStatus


def record_bounce(ctx: AppContext, bounce: Bounce) -> str:
    """Mark the bounced outbox message failed; returns a short description for the raw log."""
    if bounce.action and bounce.action.lower() in ("delayed", "delivered", "relayed", "expanded"):
        return f"{bounce.action.lower()} notice, nothing to do"
    hashes = [mid_hash(m) for m in bounce.original_message_ids][:20]
    if not hashes:
        return "original message unknown"
    detail = " ".join(x for x in (bounce.status, bounce.diagnostic) if x)[:400] or "bounced"
    with ctx.uow() as uow:
        s = uow.session
        row = s.scalars(
            select(EmailOutbox).where(EmailOutbox.mid_hash.in_(hashes)).limit(1)
        ).first()
        if row is None:
            return "original message not ours"
        row.status = OutboxStatus.FAILED
        row.last_error = f"bounced: {detail}"
        if row.message_ref is not None:
            set_delivery_state(ctx, uow, row.message_ref, "failed", f"bounced: {detail}")
        return f"outbox #{row.id} marked failed"
