"""Agent-side use cases on a ticket: reply, internal note, status, assignee, priority, tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from paydesk.domain import tickets as rules
from paydesk.domain.errors import InvalidInput, TooLarge
from paydesk.domain.events import MessageAdded, TicketUpdated
from paydesk.domain.permissions import Perm
from paydesk.domain.text import search_text
from paydesk.domain.tickets import AuthorType, Category, Priority, Status
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.intake import SEARCH_TEXT_LIMIT
from paydesk.services.uow import UnitOfWork
from paydesk.store.agents import Agent
from paydesk.store.base import utcnow
from paydesk.store.tickets import Conversation, Message, Ticket, TicketTag


def add_agent_message(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    body: str,
    *,
    internal: bool = False,
    channel: str | None = None,
) -> Message:
    """A public reply (sent to the customer on the ticket's channel) or an internal note.

    The body is redacted like inbound text; `before_agent_message` hooks may refuse it (e.g. a
    reply asking the customer for their password). A public reply moves new/open → pending.
    """
    actor.require(Perm.TICKET_WRITE)
    if not body.strip():
        raise InvalidInput("the message is empty", field="body")
    if len(body.encode()) > ctx.settings.max_body_bytes:
        raise TooLarge(
            f"message body is larger than {ctx.settings.max_body_bytes} bytes", field="body"
        )
    if not internal:
        for check in ctx.before_agent_message:
            check(ctx, body)
    red = ctx.redactor.redact(body)
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        if ticket.status == Status.CLOSED and not internal:
            raise rules.TransitionNotAllowed("a closed ticket cannot be replied to", field="status")
        now = utcnow()
        conv_id = s.scalar(
            select(Conversation.id)
            .where(Conversation.ticket_id == ticket.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        author_type = (
            AuthorType.AGENT.value if actor.kind in ("agent", "token") else AuthorType.SYSTEM.value
        )
        msg = Message(
            ticket_id=ticket.id,
            conversation_id=conv_id,
            author_type=author_type,
            author_agent_id=actor.id if actor.kind == "agent" else None,
            channel=channel or ticket.channel,
            body=red.text,
            internal=internal,
            findings=[f.as_dict() for f in red.findings],
            meta={"author_name": actor.name},
            created_at=now,
        )
        s.add(msg)
        s.flush()
        if not internal:
            if ticket.first_response_at is None:
                ticket.first_response_at = now
            ticket.status = rules.status_after_agent_reply(Status(ticket.status)).value
        ticket.updated_at = now
        if len(ticket.search_text) < SEARCH_TEXT_LIMIT:
            ticket.search_text = (ticket.search_text + " " + search_text(red.text))[
                :SEARCH_TEXT_LIMIT
            ]
        audit.record(
            s,
            actor,
            "ticket.note_added" if internal else "ticket.replied",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"message_id": msg.id},
        )
        for hook in ctx.after_agent_message:
            hook(ctx, uow, ticket, msg)
        _publish(ctx, uow, ticket, MessageAdded(ticket.id, msg.id, author_type, internal).payload())
    return msg


def update_ticket(ctx: AppContext, actor: Actor, ticket_id: int, changes: dict[str, Any]) -> Ticket:
    """Apply any of status / priority / category / assignee_id / tags / queue_id atomically.

    Validates everything before writing anything; every change is audited with old and new value.
    """
    actor.require(Perm.TICKET_WRITE)
    allowed = {"status", "priority", "category", "assignee_id", "tags", "queue_id", "subject"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(
            f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
        )
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        diff: dict[str, list[Any]] = {}
        now = utcnow()
        if "status" in changes:
            target = _enum(Status, changes["status"], "status")
            rules.check_transition(Status(ticket.status), target)
            if target.value != ticket.status:
                diff["status"] = [ticket.status, target.value]
                ticket.status = target.value
                if target == Status.SOLVED:
                    ticket.solved_at = now
                if target == Status.CLOSED:
                    ticket.closed_at = now
        if "priority" in changes:
            p = _enum(Priority, changes["priority"], "priority").value
            if p != ticket.priority:
                diff["priority"] = [ticket.priority, p]
                ticket.priority = p
        if "category" in changes:
            c = _enum(Category, changes["category"], "category")
            if c.value != ticket.category:
                diff["category"] = [ticket.category, c.value]
                ticket.category = c.value
                ticket.type = rules.type_for_category(c).value
        if "subject" in changes:
            subj = str(changes["subject"] or "").strip()[:200]
            if not subj:
                raise InvalidInput("subject cannot be empty", field="subject")
            subj = ctx.redactor.redact(subj).text
            if subj != ticket.subject:
                diff["subject"] = [ticket.subject, subj]
                ticket.subject = subj
        if "assignee_id" in changes:
            aid = changes["assignee_id"]
            if aid is not None:
                agent = s.get(Agent, int(aid))
                if agent is None or agent.workspace_id != ticket.workspace_id or not agent.active:
                    raise InvalidInput(f"no active agent with id {aid}", field="assignee_id")
                aid = agent.id
            if aid != ticket.assignee_id:
                diff["assignee_id"] = [ticket.assignee_id, aid]
                ticket.assignee_id = aid
                if ticket.status == Status.NEW and aid is not None:
                    ticket.status = Status.OPEN.value
        if "queue_id" in changes:
            from paydesk.store.workspace import Queue

            q = s.get(Queue, int(changes["queue_id"])) if changes["queue_id"] is not None else None
            if q is None or q.workspace_id != ticket.workspace_id:
                raise InvalidInput(f"no queue with id {changes['queue_id']}", field="queue_id")
            if q.id != ticket.queue_id:
                diff["queue_id"] = [ticket.queue_id, q.id]
                ticket.queue_id = q.id
        if "tags" in changes:
            tags_in = changes["tags"]
            if not isinstance(tags_in, list) or not all(isinstance(t, str) for t in tags_in):
                raise InvalidInput("tags must be a list of strings", field="tags")
            new = rules.normalize_tags(tags_in)
            old = ticket_tags(s, ticket.id)
            if new != old:
                s.execute(delete(TicketTag).where(TicketTag.ticket_id == ticket.id))
                s.add_all([TicketTag(ticket_id=ticket.id, tag=t) for t in new])
                diff["tags"] = [old, new]
        if diff:
            ticket.updated_at = now
            for hook in ctx.after_ticket_update:
                hook(ctx, uow, ticket, diff, now)
            audit.record(
                s,
                actor,
                "ticket.updated",
                object_type="ticket",
                object_id=ticket.id,
                customer_id=ticket.customer_id,
                details={"changes": diff},
            )
            _publish(ctx, uow, ticket, TicketUpdated(ticket.id, tuple(sorted(diff))).payload())
        if diff.get("status", [None, None])[1] == Status.SOLVED.value:
            from paydesk.services.csat import invite_on_solved  # one CSAT survey per resolution

            invite_on_solved(ctx, uow, ticket)
    return ticket


def ticket_tags(s: Session, ticket_id: int) -> list[str]:
    return sorted(s.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)))


def _enum(enum: Any, value: Any, field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(f"invalid {field} {value!r} (allowed: {allowed})", field=field) from None


def _publish(ctx: AppContext, uow: UnitOfWork, ticket: Ticket, payload: dict[str, Any]) -> None:
    ws, tid = ticket.workspace_id, ticket.id
    payload = {**payload, "ticket_id": tid}

    def go() -> None:
        ctx.bus.publish(f"ticket:{tid}", payload)
        ctx.bus.publish(f"inbox:{ws}", payload)

    uow.on_commit(go)
