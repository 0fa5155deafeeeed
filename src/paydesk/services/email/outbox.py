"""Outbound email: a durable outbox written in the transaction that caused the mail, delivered
after commit by a worker with retries and backoff; the ticket message shows the delivery state.

States: queued → sending (claimed, leased until next_attempt_at) → sent | queued (retry later)
| failed (permanent SMTP error, attempts exhausted, or a bounce came back). The Message-ID of
each mail carries a signed reply token, so the customer's answer threads back to the ticket.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import threading
import weakref
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.utils import parseaddr
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from paydesk.channels.email import compose
from paydesk.domain.events import TicketUpdated
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.mailthread import (
    ack_allowed,
    make_message_id,
    make_reply_address,
    mid_hash,
    retry_delay,
)
from paydesk.services.context import AppContext
from paydesk.services.email import participants
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.customers import CustomerIdentity
from paydesk.store.email import EmailOutbox, EmailRaw, OutboxStatus, RawStatus
from paydesk.store.tickets import Message, Ticket

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
_OUTBOX = EmailOutbox.__table__


def _domain(ctx: AppContext) -> str:
    return _identity(ctx)[1]


def _identity(ctx: AppContext) -> tuple[str, str, str]:
    """(signing secret, Message-ID domain, support address), computed once per configuration:
    every queued mail needs them (resolving the data dir and parsing addresses is not free)."""
    st = ctx.settings
    key = (st.secret_key, st.data_dir, st.mail_from)
    cached = ctx.extras.get("email_identity")
    if cached is None or cached[0] != key:
        support = parseaddr(st.mail_from)[1]
        domain = support.rpartition("@")[2] or "paydesk.local"
        cached = (key, (st.resolved_secret(), domain, support))
        ctx.extras["email_identity"] = cached
    return cached[1]


def signing_secret(ctx: AppContext) -> str:
    """The secret of reply tokens and Message-IDs (`Settings.resolved_secret`, cached)."""
    return _identity(ctx)[0]


def _thread_ids(s: Session, ticket_id: int) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a new mail of the ticket: every Message-ID of the thread
    in time order (received and sent), the newest received one as In-Reply-To."""
    received = list(
        s.execute(
            select(EmailRaw.message_id, EmailRaw.received_at)
            .where(EmailRaw.ticket_id == ticket_id, EmailRaw.message_id.is_not(None))
            .order_by(EmailRaw.id)
        )
    )
    sent = list(
        s.execute(
            select(EmailOutbox.message_id, EmailOutbox.created_at)
            .where(EmailOutbox.ticket_id == ticket_id)
            .order_by(EmailOutbox.id)
        )
    )
    rows: list[tuple[str | None, datetime]] = [(r[0], r[1]) for r in received]
    rows += [(r[0], r[1]) for r in sent]
    chain = [m for m, _ in sorted(rows, key=lambda r: r[1]) if m]
    in_reply_to = received[-1][0] if received else (sent[-1][0] if sent else None)
    return in_reply_to, chain[-20:]


def _recipient(s: Session, ticket: Any) -> str | None:
    """The address the customer last wrote from on this ticket, else their email identity
    (mail from a participant on the thread does not move the customer out of To)."""
    addr = s.scalar(
        select(EmailRaw.from_addr)
        .join(
            CustomerIdentity,
            (CustomerIdentity.value == EmailRaw.from_addr)
            & (CustomerIdentity.customer_id == ticket.customer_id)
            & (CustomerIdentity.kind == "email"),
        )
        .where(EmailRaw.ticket_id == ticket.id, EmailRaw.status == RawStatus.PROCESSED)
        .order_by(EmailRaw.id.desc())
        .limit(1)
    )
    if addr:
        return addr
    return s.scalar(
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == ticket.customer_id, CustomerIdentity.kind == "email")
        .order_by(CustomerIdentity.id)
        .limit(1)
    )


def _outbox_values(
    ctx: AppContext,
    s: Session,
    ticket: Any,
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_ref: int | None,
    auto: bool,
    thread: tuple[str | None, list[str]] | None,
    cc: list[str] | None,
) -> dict[str, Any]:
    """The column values of a queued outbox row (the MIME rendered once, for every retry)."""
    secret, domain, support = _identity(ctx)
    now = utcnow()
    mid = make_message_id(secret, ticket.id, secrets.token_hex(6), domain)
    in_reply_to, refs = thread if thread is not None else _thread_ids(s, ticket.id)
    reply_to = (
        make_reply_address(secret, ticket.id, support)
        if ctx.settings.email_plus_addressing and support
        else None
    )
    mime = compose.render(
        compose.Outgoing(
            from_addr=ctx.settings.mail_from,
            to=to,
            cc=cc or [],
            subject=subject,
            text=text,
            html=html,
            message_id=mid,
            date=now,
            in_reply_to=in_reply_to,
            references=refs,
            reply_to=reply_to,
            auto_submitted="auto-replied" if auto else None,
            locale=ticket.locale,
        )
    )
    return {
        "workspace_id": ticket.workspace_id,
        "ticket_id": ticket.id,
        "message_ref": message_ref,
        "kind": kind,
        "to_addr": to,
        "message_id": mid,
        "mid_hash": mid_hash(mid),
        "subject": subject[:500],
        "mime": mime,
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "created_at": now,
        "sent_at": None,
    }


def _enqueue(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_ref: int | None = None,
    auto: bool = False,
    thread: tuple[str | None, list[str]] | None = None,
    cc: list[str] | None = None,
) -> EmailOutbox:
    s = uow.session
    values = _outbox_values(
        ctx,
        s,
        ticket,
        kind=kind,
        to=to,
        subject=subject,
        text=text,
        html=html,
        message_ref=message_ref,
        auto=auto,
        thread=thread,
        cc=cc,
    )
    row = EmailOutbox(**values)
    s.add(row)
    s.flush()
    uow.on_commit(lambda: kick(ctx))
    return row


def kick(ctx: AppContext) -> None:
    """Wake the outbox loop of this process (mail goes out within moments of the commit)."""
    ev = ctx.extras.get("email_outbox_wakeup")
    if isinstance(ev, threading.Event):
        ev.set()


def queue_agent_reply(ctx: AppContext, uow: UnitOfWork, ticket: Any, message: Any) -> None:
    """after_agent_message: a public reply on an email ticket goes out by email."""
    if message.internal or message.channel != "email":
        return
    s = uow.session
    to = _recipient(s, ticket)
    if not to:
        message.delivery_status = "failed"
        meta = dict(message.meta or {})
        meta["delivery_error"] = "the customer has no email address"
        message.meta = meta
        return
    author = (message.meta or {}).get("author_name") or ""
    text, html = compose.agent_reply(message.body, author, ticket.number, ticket.locale)
    _enqueue(
        ctx,
        uow,
        ticket,
        kind="reply",
        to=to,
        subject=compose.reply_subject(ticket.subject, ticket.number),
        text=text,
        html=html,
        message_ref=message.id,
        cc=participants.cc_for(ctx, s, ticket.id, to),
    )
    message.delivery_status = "queued"


def queue_ack(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    message: Any,
    inbound: InboundMessage,
    created: bool,
) -> None:
    """after_intake: acknowledge a new email ticket, at most N per sender per hour."""
    if not created or inbound.hook_data.get("no_ack", True) or not inbound.email:
        return
    s = uow.session
    now = utcnow()
    window = timedelta(hours=1)
    recent = _recent_acks(uow, inbound, now - window)
    # acks of this batch wait for its multi-row INSERT: they count too
    recent += [
        r["created_at"]
        for r in uow.deferred(_OUTBOX)
        if r["to_addr"] == inbound.email and r["kind"] == "ack"
    ]
    if not ack_allowed(recent, now, ctx.settings.email_ack_per_hour, window):
        return
    subject, text, html = compose.templated(
        compose.ACK, ticket.locale, ticket.number, name=inbound.name, subject=ticket.subject
    )
    first = (inbound.metadata.get("email") or {}).get("message_id")
    values = _outbox_values(
        ctx,
        s,
        ticket,
        kind="ack",
        to=inbound.email,
        subject=subject,
        text=text,
        html=html,
        message_ref=None,
        auto=True,
        thread=(first, [first] if first else []),  # a new ticket: its thread is this one mail
        cc=None,
    )
    uow.defer_insert(_OUTBOX, values)  # one INSERT for the batch's acks, before its commit
    uow.on_commit(lambda: kick(ctx))


# per intake transaction: sender → times of the acks committed before it (read under its lock)
_ACKS_SEEN: weakref.WeakKeyDictionary[UnitOfWork, dict[str, list[datetime]]] = (
    weakref.WeakKeyDictionary()
)
_RECENT_ACKS = select(_OUTBOX.c.to_addr, _OUTBOX.c.created_at).where(
    _OUTBOX.c.to_addr.in_(bindparam("senders", expanding=True)),
    _OUTBOX.c.kind == "ack",
    _OUTBOX.c.created_at > bindparam("since"),
)


def _recent_acks(uow: UnitOfWork, inbound: InboundMessage, since: datetime) -> list[datetime]:
    """Committed acks to the sender since `since`. One query for the senders of a whole backlog
    wave (`hook_data["ack_senders"]`), read in the first hook call of the transaction."""
    seen = _ACKS_SEEN.setdefault(uow, {})
    email = inbound.email or ""
    if email not in seen:
        senders = {email, *inbound.hook_data.get("ack_senders", ())} - seen.keys()
        for sender in senders:
            seen[sender] = []
        rows = uow.session.connection().execute(
            _RECENT_ACKS, {"senders": sorted(senders), "since": since}
        )
        for to_addr, created_at in rows:
            seen.setdefault(to_addr, []).append(created_at)
    return list(seen[email])


def queue_oversize_notice(
    ctx: AppContext, ticket_id: int, to: str, subject: str, size: int
) -> None:
    """Tell the sender their mail was too large (once per mail; not rate limited: rare)."""
    with ctx.uow() as uow:
        ticket = uow.session.get(Ticket, ticket_id)
        if ticket is None:
            return
        subj, text, html = compose.templated(
            compose.OVERSIZE,
            ticket.locale,
            ticket.number,
            subject=subject[:200] or "-",
            size_mb=round(size / 1_000_000, 1),
            limit_mb=ctx.settings.email_max_message_bytes // 1_000_000,
            att_mb=ctx.settings.max_attachment_bytes // 1_000_000,
        )
        _enqueue(
            ctx, uow, ticket, kind="notice", to=to, subject=subj, text=text, html=html, auto=True
        )


# ---- delivery ------------------------------------------------------------------------------


def _claim(ctx: AppContext, limit: int) -> list[tuple[int, str, int | None, int]]:
    now = utcnow()
    due = (
        or_(
            EmailOutbox.status == OutboxStatus.QUEUED,
            EmailOutbox.status == OutboxStatus.SENDING,  # an expired lease: retry
        ),
        EmailOutbox.next_attempt_at <= now,
    )
    with ctx.read() as s:  # cheap check first: no write transaction when nothing is due
        if s.scalar(select(EmailOutbox.id).where(*due).limit(1)) is None:
            return []
    with ctx.uow() as uow:
        s = uow.session
        stmt = (
            select(EmailOutbox)
            .where(*due)
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id)
            .limit(limit)
        )
        if ctx.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(s.scalars(stmt))
        for r in rows:
            r.status = OutboxStatus.SENDING
            r.attempts += 1
            r.next_attempt_at = now + LEASE
        return [(r.id, r.mime, r.message_ref, r.attempts) for r in rows]


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def deliver_due(ctx: AppContext, limit: int = 50) -> int:
    """Send what is due now; returns how many were sent. Safe to run in several processes."""
    sent = 0
    for oid, mime, message_ref, attempts in _claim(ctx, limit):
        msg = message_from_string(mime, policy=policy.SMTP)
        try:
            ctx.mailer.send(msg)
        except Exception as exc:  # noqa: BLE001 - any transport error is recorded and retried
            final = _permanent(exc) or attempts >= ctx.settings.email_max_attempts
            _record(
                ctx,
                oid,
                message_ref,
                ok=False,
                final=final,
                error=f"{type(exc).__name__}: {exc}",
                attempts=attempts,
            )
            continue
        _record(ctx, oid, message_ref, ok=True, final=True, error="", attempts=attempts)
        sent += 1
    return sent


def _record(
    ctx: AppContext,
    oid: int,
    message_ref: int | None,
    *,
    ok: bool,
    final: bool,
    error: str,
    attempts: int,
) -> None:
    now = utcnow()
    if ok:
        values: dict[str, Any] = {"status": OutboxStatus.SENT, "sent_at": now, "last_error": ""}
        state = "sent"
    elif final:
        values = {"status": OutboxStatus.FAILED, "last_error": error[:2000]}
        state = "failed"
    else:
        values = {
            "status": OutboxStatus.QUEUED,
            "last_error": error[:2000],
            "next_attempt_at": now + retry_delay(attempts),
        }
        state = "retrying"
    with ctx.uow() as uow:
        uow.session.execute(update(EmailOutbox).where(EmailOutbox.id == oid).values(**values))
        if message_ref is not None:
            set_delivery_state(ctx, uow, message_ref, state, error)


def set_delivery_state(
    ctx: AppContext, uow: UnitOfWork, message_id: int, state: str, error: str = ""
) -> None:
    """The delivery state shown on the ticket message; open consoles hear about it."""
    m = uow.session.get(Message, message_id)
    if m is None:
        return
    m.delivery_status = state
    meta = dict(m.meta or {})
    if error:
        meta["delivery_error"] = error[:500]
    else:
        meta.pop("delivery_error", None)
    m.meta = meta
    ticket_id = m.ticket_id
    ws = uow.session.scalar(select(Ticket.workspace_id).where(Ticket.id == ticket_id))
    payload = {**TicketUpdated(ticket_id, ("delivery_status",)).payload(), "message_id": m.id}

    def publish() -> None:
        ctx.bus.publish(f"ticket:{ticket_id}", payload)
        ctx.bus.publish(f"inbox:{ws}", payload)

    uow.on_commit(publish)


def outbox_counts(ctx: AppContext) -> dict[str, int]:
    with ctx.read() as s:
        rows = s.execute(select(EmailOutbox.status, func.count()).group_by(EmailOutbox.status))
        return {r[0]: r[1] for r in rows}
