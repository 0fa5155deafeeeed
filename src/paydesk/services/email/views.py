"""Read side of the email channel for the console: original source (supervisors) and the
list of mail that did not become a ticket message (quarantine, ignored, oversize)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from paydesk.domain.errors import NotFound
from paydesk.domain.permissions import Perm
from paydesk.services import audit
from paydesk.services.access import access_message, access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.files import read_bytes
from paydesk.store.email import EmailOutbox, EmailRaw, RawStatus
from paydesk.store.tickets import Ticket


@dataclass(frozen=True, slots=True)
class Source:
    data: bytes
    redacted: bool
    direction: str  # "inbound" | "outbound"
    raw_id: int | None


def message_source(ctx: AppContext, actor: Actor, message_id: int) -> Source:
    """The original RFC 5322 source of a ticket message (received or sent). Supervisors only;
    every view is audited. NotFound when the message has no email source or is not visible."""
    actor.require(Perm.RAW_SOURCE_READ)
    with ctx.read() as s:
        msg = access_message(s, actor, message_id)
        ticket_id = msg.ticket_id
        raw = s.scalars(select(EmailRaw).where(EmailRaw.message_ref == message_id).limit(1)).first()
        out = None
        if raw is None:
            out = s.scalars(
                select(EmailOutbox).where(EmailOutbox.message_ref == message_id).limit(1)
            ).first()
            if out is None:
                raise NotFound(f"message {message_id} has no email source")
        customer_id = s.scalar(select(Ticket.customer_id).where(Ticket.id == ticket_id))
    if raw is not None:
        src = Source(
            read_bytes(ctx.settings.data_dir, raw.storage_key), raw.redacted, "inbound", raw.id
        )
    else:
        assert out is not None
        src = Source(out.mime.encode(), False, "outbound", None)
    _audit(ctx, actor, message_id=message_id, raw_id=src.raw_id, customer_id=customer_id)
    return src


def raw_source(ctx: AppContext, actor: Actor, raw_id: int) -> Source:
    """A raw message by its intake id (quarantine entries have no ticket message)."""
    actor.require(Perm.RAW_SOURCE_READ)
    with ctx.read() as s:
        raw = s.get(EmailRaw, raw_id)
        if raw is None or raw.workspace_id != actor.workspace_id:
            raise NotFound(f"raw message {raw_id} not found")
        if raw.ticket_id is not None:
            access_ticket(s, actor, raw.ticket_id)
        key, redacted = raw.storage_key, raw.redacted
    _audit(ctx, actor, message_id=None, raw_id=raw_id, customer_id=None)
    return Source(read_bytes(ctx.settings.data_dir, key), redacted, "inbound", raw_id)


def _audit(
    ctx: AppContext,
    actor: Actor,
    *,
    message_id: int | None,
    raw_id: int | None,
    customer_id: int | None,
) -> None:
    with ctx.uow() as uow:
        audit.record(
            uow.session,
            actor,
            "email.source_viewed",
            object_type="message" if message_id else "email_raw",
            object_id=message_id or raw_id,
            customer_id=customer_id,
            details={"raw_id": raw_id},
        )


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    status: str
    reason: str
    from_addr: str | None
    subject: str
    size: int
    source: str
    ticket_id: int | None
    received_at: datetime
    attempts: int


def problem_entries(
    ctx: AppContext, actor: Actor, status: str | None = None, limit: int = 100
) -> list[Entry]:
    """Mail that did not simply become a ticket message, newest first."""
    actor.require(Perm.RAW_SOURCE_READ)
    wanted = [status] if status else [RawStatus.QUARANTINED, RawStatus.OVERSIZE, RawStatus.IGNORED]
    with ctx.read() as s:
        rows = s.scalars(
            select(EmailRaw)
            .where(EmailRaw.workspace_id == actor.workspace_id, EmailRaw.status.in_(wanted))
            .order_by(EmailRaw.id.desc())
            .limit(min(limit, 500))
        )
        return [
            Entry(
                r.id,
                r.status,
                r.reason,
                r.from_addr,
                r.subject,
                r.size,
                r.source,
                r.ticket_id,
                r.received_at,
                r.attempts,
            )
            for r in rows
        ]
