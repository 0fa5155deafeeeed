"""The intake pipeline every channel uses.

    persist (the caller's raw store, e.g. the email source) → redact secrets → thread to an
    existing ticket or open one → classify category → route to a queue → (SLA clocks) →
    publish events after commit.

Idempotent: an inbound item with an idempotency key that was already committed returns the
original ticket and message ("duplicate") and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nh3
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.domain import tickets as rules
from paydesk.domain.attachments import check_attachment
from paydesk.domain.errors import InvalidInput, TooLarge
from paydesk.domain.events import MessageAdded, TicketOpened
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.redaction import Redacted
from paydesk.domain.routing import route
from paydesk.domain.text import detect_locale, search_text
from paydesk.domain.tickets import AuthorType, Category, Priority, Status
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.customers import find_or_create_customer, identities_of
from paydesk.services.files import store_bytes
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.tickets import Attachment, Conversation, Message, Ticket
from paydesk.store.workspace import Queue

SEARCH_TEXT_LIMIT = 20000


@dataclass(frozen=True, slots=True)
class IntakeResult:
    action: str  # "created" | "appended" | "duplicate"
    ticket_id: int
    ticket_number: int
    message_id: int
    had_secret: bool = False


def next_ticket_number(session: Session) -> int:
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(text("SELECT nextval('ticket_number_seq')")).scalar_one())
    return int(
        session.execute(
            text(
                "UPDATE counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value"
            )
        ).scalar_one()
    )


def queue_id_for(ctx: AppContext, session: Session, workspace_id: int, slug: str) -> int | None:
    cache: dict[tuple[int, str], int | None] = ctx.extras.setdefault("queue_ids", {})
    key = (workspace_id, slug)
    if key not in cache or cache[key] is None:
        cache[key] = session.scalar(
            select(Queue.id).where(Queue.workspace_id == workspace_id, Queue.slug == slug)
        )
    return cache[key]


def redact_inbound(ctx: AppContext, msg: InboundMessage) -> tuple[Redacted, Redacted, str | None]:
    """(subject, body, sanitised+redacted html). Nothing unredacted leaves this function."""
    subject = ctx.redactor.redact(msg.subject or "")
    body = ctx.redactor.redact(msg.body or "")
    html = None
    if msg.body_html:
        html = ctx.redactor.redact(nh3.clean(msg.body_html)).text
    for k, v in list(msg.fields.items()):
        if isinstance(v, str):
            msg.fields[k] = ctx.redactor.redact(v).text
    return subject, body, html


def validate_inbound(ctx: AppContext, msg: InboundMessage) -> None:
    if len(msg.body.encode("utf-8", "surrogatepass")) > ctx.settings.max_body_bytes:
        raise TooLarge(
            f"message body is larger than {ctx.settings.max_body_bytes} bytes", field="body"
        )
    if not msg.body.strip() and not msg.attachments and not msg.subject.strip():
        raise InvalidInput("the message is empty", field="body")
    if msg.category is not None and msg.category not in Category.__members__.values():
        raise InvalidInput(f"unknown category {msg.category!r}", field="category")
    if msg.priority is not None and msg.priority not in Priority.__members__.values():
        raise InvalidInput(f"unknown priority {msg.priority!r}", field="priority")


def receive(ctx: AppContext, msg: InboundMessage, *, actor: Actor | None = None) -> IntakeResult:
    """Run one inbound item through the pipeline in one transaction (see module docstring)."""
    actor = actor or system_actor()
    validate_inbound(ctx, msg)
    idents = identities_of(msg.email, msg.phone, msg.platform_user_id, msg.visitor_id)
    key = f"{msg.channel.value}:{msg.idempotency_key}" if msg.idempotency_key else None
    if key:
        dup = _find_duplicate(ctx, key)
        if dup:
            return dup
    subject, body, html = redact_inbound(ctx, msg)
    # attachments are checked and written (content-addressed) before the transaction
    files = []
    for att in msg.attachments:
        name, ctype = check_attachment(
            att.filename, att.data, att.content_type, ctx.settings.max_attachment_bytes
        )
        storage_key, digest = store_bytes(ctx.settings.data_dir, "attachments", att.data)
        files.append((name, ctype, len(att.data), digest, storage_key))
    try:
        with ctx.uow() as uow:
            return _receive_tx(ctx, uow, actor, msg, idents, key, subject, body, html, files)
    except IntegrityError:
        # a concurrent retry of the same item committed first: answer with its result
        if key:
            dup = _find_duplicate(ctx, key)
            if dup:
                return dup
        raise


def _find_duplicate(ctx: AppContext, key: str) -> IntakeResult | None:
    with ctx.read() as s:
        row = s.execute(
            select(Message.id, Message.ticket_id, Ticket.number)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.idempotency_key == key)
        ).first()
    if row is None:
        return None
    return IntakeResult("duplicate", row.ticket_id, row.number, row.id)


def _receive_tx(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    msg: InboundMessage,
    idents: list[Any],
    key: str | None,
    subject: Redacted,
    body: Redacted,
    html: str | None,
    files: list[tuple[str, str, int, str, str]],
) -> IntakeResult:
    s = uow.session
    now = utcnow()
    ws = actor.workspace_id
    locale = (
        msg.locale
        if msg.locale in ("zh-CN", "en")
        else detect_locale(f"{subject.text} {body.text}", ctx.settings.default_locale)
    )
    customer = find_or_create_customer(s, ws, idents, name=msg.name, locale=locale)

    ticket: Ticket | None = None
    if msg.ticket_id is not None:
        ticket = s.get(Ticket, msg.ticket_id)
        if ticket is not None and (ticket.workspace_id != ws or ticket.status == Status.CLOSED):
            if ticket.status == Status.CLOSED:
                msg.fields.setdefault("follow_up_of", ticket.number)
            ticket = None
    created = ticket is None
    if ticket is None:
        ticket = _open_ticket(
            ctx, s, ws, msg, customer.id, locale, subject.text, body.text, key, now
        )
    else:
        ticket.status = rules.status_after_customer_message(rules.Status(ticket.status)).value
        ticket.last_message_at = now
        ticket.updated_at = now
        if len(ticket.search_text) < SEARCH_TEXT_LIMIT:
            ticket.search_text = (ticket.search_text + " " + search_text(body.text))[
                :SEARCH_TEXT_LIMIT
            ]

    conv = _conversation(s, ticket.id, msg)
    message = Message(
        ticket_id=ticket.id,
        conversation_id=conv.id,
        author_type=AuthorType.CUSTOMER.value,
        author_customer_id=customer.id,
        channel=msg.channel.value,
        body=body.text,
        body_html=html,
        internal=False,
        findings=[f.as_dict() for f in subject.findings + body.findings],
        meta=msg.metadata,
        idempotency_key=key,
        created_at=now,
    )
    s.add(message)
    s.flush()
    for name, ctype, size, digest, storage_key in files:
        s.add(
            Attachment(
                message_id=message.id,
                filename=name,
                content_type=ctype,
                size=size,
                sha256=digest,
                storage_key=storage_key,
            )
        )
    audit.record(
        s,
        actor,
        "ticket.created" if created else "message.received",
        object_type="ticket",
        object_id=ticket.id,
        customer_id=customer.id,
        details={
            "channel": msg.channel.value,
            "message_id": message.id,
            "findings": [f.kind for f in body.findings + subject.findings],
        },
        at=now,
    )
    for hook in ctx.after_intake:
        hook(ctx, uow, ticket, message, msg, created)

    ticket_id, number, queue_id, subj, message_id = (
        ticket.id,
        ticket.number,
        ticket.queue_id,
        ticket.subject,
        message.id,
    )
    bus = ctx.bus

    def publish() -> None:
        if created:
            ev: Any = TicketOpened(ticket_id, number, str(queue_id) if queue_id else None, subj)
            bus.publish(f"inbox:{ws}", ev.payload())
        added = MessageAdded(ticket_id, message_id, AuthorType.CUSTOMER.value, False).payload()
        bus.publish(f"ticket:{ticket_id}", added)
        if not created:
            bus.publish(f"inbox:{ws}", added)

    uow.on_commit(publish)
    return IntakeResult(
        "created" if created else "appended",
        ticket_id,
        number,
        message_id,
        had_secret=bool(body.findings or subject.findings),
    )


def _open_ticket(
    ctx: AppContext,
    s: Session,
    ws: int,
    msg: InboundMessage,
    customer_id: int,
    locale: str,
    subject: str,
    body: str,
    key: str | None,
    now: datetime,
) -> Ticket:
    category = (
        Category(msg.category) if msg.category else ctx.classifier(f"{subject}\n{body}", locale)
    )
    queue_slug = route(category, locale)
    subject_line = (subject.strip() or body.strip().split("\n", 1)[0])[:200] or "(no subject)"
    ticket = Ticket(
        workspace_id=ws,
        number=next_ticket_number(s),
        subject=subject_line,
        status=Status.NEW.value,
        priority=(msg.priority or Priority.NORMAL.value),
        category=category.value,
        type=rules.type_for_category(category).value,
        channel=msg.channel.value,
        locale=locale,
        queue_id=queue_id_for(ctx, s, ws, queue_slug),
        customer_id=customer_id,
        fields=dict(msg.fields),
        idempotency_key=key,
        search_text=search_text(f"{subject_line}\n{body}")[:SEARCH_TEXT_LIMIT],
        created_at=now,
        updated_at=now,
        last_message_at=now,
    )
    s.add(ticket)
    s.flush()
    return ticket


def _conversation(s: Session, ticket_id: int, msg: InboundMessage) -> Conversation:
    ref = msg.metadata.get("thread_ref") if msg.metadata else None
    conv = s.scalars(
        select(Conversation)
        .where(
            Conversation.ticket_id == ticket_id,
            Conversation.channel == msg.channel.value,
            Conversation.external_ref.is_(None)
            if ref is None
            else Conversation.external_ref == ref,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    ).first()
    if conv is None:
        conv = Conversation(ticket_id=ticket_id, channel=msg.channel.value, external_ref=ref)
        s.add(conv)
        s.flush()
    return conv
