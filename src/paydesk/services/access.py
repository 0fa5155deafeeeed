"""The one place that decides whether an actor may load a protected record.

Every route, job and page loads tickets, customers and messages through these functions. Missing
and forbidden both raise NotFound, so ids cannot be probed (no 403 oracle).
"""

from __future__ import annotations

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from paydesk.domain.errors import NotFound
from paydesk.domain.permissions import Perm
from paydesk.services.actors import Actor
from paydesk.store.customers import Customer
from paydesk.store.tickets import Attachment, Message, Ticket


def visible_tickets(actor: Actor, stmt: Select[tuple[Ticket]]) -> Select[tuple[Ticket]]:
    """Restrict a ticket query to what the actor may see."""
    stmt = stmt.where(Ticket.workspace_id == actor.workspace_id)
    if actor.is_customer:
        return stmt.where(Ticket.customer_id == actor.id)
    if actor.can(Perm.TICKET_READ_ALL):
        return stmt
    if actor.kind == "agent":
        conds = [Ticket.assignee_id == actor.id]
        if actor.queue_ids:
            conds.append(Ticket.queue_id.in_(sorted(actor.queue_ids)))
        return stmt.where(or_(*conds))
    return stmt.where(false())


def access_ticket(
    session: Session, actor: Actor, ticket_id: int, *, for_update: bool = False
) -> Ticket:
    stmt = visible_tickets(actor, select(Ticket).where(Ticket.id == ticket_id))
    if for_update and session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ticket = session.scalars(stmt).first()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def access_ticket_by_number(session: Session, actor: Actor, number: int) -> Ticket:
    ticket = session.scalars(
        visible_tickets(actor, select(Ticket).where(Ticket.number == number))
    ).first()
    if ticket is None:
        raise NotFound(f"ticket #{number} not found")
    return ticket


def access_customer(session: Session, actor: Actor, customer_id: int) -> Customer:
    """Staff see customers of their workspace; a customer sees only themself."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.workspace_id != actor.workspace_id:
        raise NotFound(f"customer {customer_id} not found")
    if actor.is_customer and actor.id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    if actor.is_staff and not actor.can(Perm.TICKET_READ_ALL):
        # queue-scoped staff see a customer only through a ticket they may see
        seen = session.scalar(
            visible_tickets(
                actor, select(Ticket.id).where(Ticket.customer_id == customer_id)
            ).limit(1)  # type: ignore[arg-type]
        )
        if seen is None:
            raise NotFound(f"customer {customer_id} not found")
    return customer


def access_message(session: Session, actor: Actor, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    access_ticket(session, actor, message.ticket_id)
    if actor.is_customer and message.internal:
        raise NotFound(f"message {message_id} not found")
    return message


def access_attachment(session: Session, actor: Actor, attachment_id: int) -> Attachment:
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound(f"attachment {attachment_id} not found")
    access_message(session, actor, att.message_id)
    return att
