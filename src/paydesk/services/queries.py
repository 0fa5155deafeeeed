"""Read models for the API and the console. Every load goes through `access_*`/`visible_tickets`."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from paydesk.domain.errors import InvalidInput
from paydesk.domain.tickets import OPEN_STATUSES, Status
from paydesk.services import audit
from paydesk.services.access import access_ticket, visible_tickets
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.customers import customer_identities
from paydesk.services.sla import sla_filter, sla_public
from paydesk.store.agents import Agent
from paydesk.store.base import utcnow
from paydesk.store.customers import Customer
from paydesk.store.search import ticket_match
from paydesk.store.tickets import Attachment, Message, Ticket, TicketTag
from paydesk.store.workspace import Queue

MAX_LIMIT = 100


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"t{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("t"):
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("invalid cursor", field="cursor") from None


@dataclass
class TicketFilter:
    status: str | None = None  # a status, or "open" meaning any unsolved status
    queue: str | None = None  # queue slug or id
    q: str | None = None
    assignee_id: int | None = None
    customer_id: int | None = None
    category: str | None = None
    priority: str | None = None
    tag: str | None = None
    cursor: str | None = None
    limit: int = 25
    sla: str | None = None  # "breached" | "due_soon" (services/sla.py sla_filter)
    sort: str | None = None  # None: newest first; "due": nearest SLA target first


def list_tickets(
    ctx: AppContext, s: Session, actor: Actor, f: TicketFilter
) -> tuple[list[Ticket], str | None]:
    """Newest first, keyset-paginated by id. Returns (tickets, next cursor or None)."""
    limit = max(1, min(f.limit, MAX_LIMIT))
    stmt = visible_tickets(actor, select(Ticket))
    if f.status:
        if f.status == "unsolved":
            stmt = stmt.where(Ticket.status.in_([x.value for x in OPEN_STATUSES]))
        else:
            try:
                stmt = stmt.where(Ticket.status == Status(f.status).value)
            except ValueError:
                raise InvalidInput(f"unknown status {f.status!r}", field="status") from None
    if f.queue:
        qid = _queue_id(s, actor, f.queue)
        stmt = stmt.where(Ticket.queue_id == qid)
    if f.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == f.assignee_id)
    if f.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == f.customer_id)
    if f.category:
        stmt = stmt.where(Ticket.category == f.category)
    if f.priority:
        stmt = stmt.where(Ticket.priority == f.priority)
    if f.tag:
        stmt = stmt.where(
            Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == f.tag.lower()))
        )
    if f.sla:
        stmt = stmt.where(sla_filter(f.sla, utcnow()))
    if f.sort == "due":
        return _by_due(s, stmt, f, limit)
    if f.sort:
        raise InvalidInput(f"unknown sort {f.sort!r} (allowed: due)", field="sort")
    before = decode_cursor(f.cursor) if f.cursor else None
    if before is not None:
        stmt = stmt.where(Ticket.id < before)

    def searched(newest: int | None) -> Select[tuple[Ticket]]:
        if not (f.q and f.q.strip()):
            return stmt
        q = f.q.strip()
        number = q.lstrip("#")
        cond = ticket_match(ctx.dialect, q, before_id=before, newest=newest)
        if number.isdigit() and len(number) < 12:
            by_number = Ticket.number == int(number)
            return stmt.where(by_number if cond is None else (by_number | cond))
        return stmt if cond is None else stmt.where(cond)

    # SQLite: look at the newest 2,000 text matches first; a short page means the bound may have
    # cut matches that other filters would keep, so only then search them all
    bounded = ctx.dialect == "sqlite" and bool(f.q and f.q.strip())
    rows = list(
        s.scalars(searched(2000 if bounded else None).order_by(Ticket.id.desc()).limit(limit + 1))
    )
    if bounded and len(rows) <= limit:
        rows = list(s.scalars(searched(None).order_by(Ticket.id.desc()).limit(limit + 1)))
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], nxt


def _by_due(
    s: Session, stmt: Select[tuple[Ticket]], f: TicketFilter, limit: int
) -> tuple[list[Ticket], str | None]:
    """Tickets with a running SLA target, nearest first; keyset cursor on (due, id)."""
    stmt = stmt.where(Ticket.sla_due_at.is_not(None))
    if f.q and f.q.strip():
        raise InvalidInput("search results are sorted newest first", field="sort")
    if f.cursor:
        try:
            raw = base64.urlsafe_b64decode(f.cursor + "=" * (-len(f.cursor) % 4)).decode()
            due_s, id_s = raw[1:].split("|")
            due, last = datetime.fromisoformat(due_s), int(id_s)
            if not raw.startswith("d") or due.tzinfo is None:
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("invalid cursor", field="cursor") from None
        stmt = stmt.where(
            or_(Ticket.sla_due_at > due, and_(Ticket.sla_due_at == due, Ticket.id > last))
        )
    rows = list(s.scalars(stmt.order_by(Ticket.sla_due_at, Ticket.id).limit(limit + 1)))
    nxt = None
    if len(rows) > limit:
        last_row = rows[limit - 1]
        assert last_row.sla_due_at is not None
        token = f"d{last_row.sla_due_at.isoformat()}|{last_row.id}"
        nxt = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return rows[:limit], nxt


def _queue_id(s: Session, actor: Actor, queue: str) -> int:
    cond = Queue.id == int(queue) if queue.isdigit() else Queue.slug == queue
    qid = s.scalar(select(Queue.id).where(Queue.workspace_id == actor.workspace_id, cond))
    if qid is None:
        raise InvalidInput(f"unknown queue {queue!r}", field="queue")
    return qid


def ticket_summary(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "number": t.number,
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "category": t.category,
        "type": t.type,
        "channel": t.channel,
        "locale": t.locale,
        "queue_id": t.queue_id,
        "assignee_id": t.assignee_id,
        "customer_id": t.customer_id,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "last_message_at": t.last_message_at,
        "sla": sla_public(t, utcnow()),
    }


def customer_public(s: Session, c: Customer) -> dict[str, Any]:
    idents = customer_identities(s, c.id)
    first = {i.kind: i.value for i in reversed(idents)}
    return {
        "id": c.id,
        "name": c.name,
        "locale": c.locale,
        "email": first.get("email"),
        "phone": first.get("phone"),
        "identities": [{"kind": i.kind, "value": i.value, "verified": i.verified} for i in idents],
    }


def message_public(m: Message, attachments: list[Attachment]) -> dict[str, Any]:
    return {
        "id": m.id,
        "author_type": m.author_type,
        "author_agent_id": m.author_agent_id,
        "author_name": (m.meta or {}).get("author_name"),
        "channel": m.channel,
        "body": m.body,
        "body_html": m.body_html,
        "internal": m.internal,
        "created_at": m.created_at,
        "findings": m.findings,
        "delivery_status": m.delivery_status,
        "sender_unverified": bool((m.meta or {}).get("sender_unverified")),
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in attachments
        ],
    }


def ticket_detail(
    ctx: AppContext, actor: Actor, ticket_id: int, *, record_view: bool = True
) -> dict[str, Any]:
    """The ticket with its whole cross-channel timeline. Customers never see internal notes.
    A staff view is written to the audit trail (who viewed which customer's data)."""
    with ctx.read() as s:
        t = access_ticket(s, actor, ticket_id)
        mstmt = select(Message).where(Message.ticket_id == t.id).order_by(Message.id)
        if actor.is_customer:
            mstmt = mstmt.where(Message.internal.is_(False))
        messages = list(s.scalars(mstmt))
        atts: dict[int, list[Attachment]] = {}
        if messages:
            for a in s.scalars(
                select(Attachment).where(Attachment.message_id.in_([m.id for m in messages]))
            ):
                atts.setdefault(a.message_id, []).append(a)
        customer = s.get(Customer, t.customer_id)
        out = ticket_summary(t)
        out["fields"] = t.fields
        out["tags"] = sorted(s.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == t.id)))
        out["customer"] = customer_public(s, customer) if customer else None
        out["messages"] = [message_public(m, atts.get(m.id, [])) for m in messages]
        out["first_response_at"] = t.first_response_at
        out["solved_at"] = t.solved_at
        if t.queue_id:
            q = s.get(Queue, t.queue_id)
            out["queue"] = {"id": q.id, "slug": q.slug, "name": q.name} if q else None
        if t.assignee_id:
            a = s.get(Agent, t.assignee_id)
            out["assignee"] = {"id": a.id, "name": a.name} if a else None
    if record_view and actor.is_staff and actor.kind != "system":
        with ctx.uow() as uow:
            audit.record(
                uow.session,
                actor,
                "ticket.viewed",
                object_type="ticket",
                object_id=ticket_id,
                customer_id=out["customer_id"],
            )
    return out


def inbox_counts(s: Session, actor: Actor) -> dict[int | None, int]:
    stmt = visible_tickets(actor, select(Ticket)).where(
        Ticket.status.in_([x.value for x in OPEN_STATUSES])
    )
    sub = stmt.subquery()
    rows = s.execute(select(sub.c.queue_id, func.count()).group_by(sub.c.queue_id)).all()
    return {r[0]: r[1] for r in rows}
