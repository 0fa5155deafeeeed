"""What a failed or reversed refund does to its ticket (issue 7): the case is not finished while
the customer's money is not back, so

- a solved or closed ticket is reopened (→ open), audited `ticket.reopened` with the reason, and
  an internal system note says why;
- the people who own it are alerted on the event bus after commit: `RefundFailed` on the ticket,
  the workspace inbox and, unassigned, the queue (`queue:{id}`); the assignee gets an
  `AgentAlert` (`alert: "refund_failed"`) on `agent:{id}`, which their console shows;
- the customer is told in the ticket's language by the caller (`refund_jobs.NOTICE`, the
  existing notice path: portal, email outbox, open chat).

Closed is terminal for customer follow-ups (a new message makes a new ticket), but this reopen is
ours: the refund belongs to this case and its history, so the system reopens it here.
"""

from __future__ import annotations

from typing import Any

from paydesk.domain.events import TicketUpdated
from paydesk.domain.tickets import Status
from paydesk.services import audit
from paydesk.services.actors import system_actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_system_note
from paydesk.services.uow import UnitOfWork
from paydesk.store.accounts import RefundRequest
from paydesk.store.base import utcnow
from paydesk.store.tickets import Ticket

REOPENABLE = (Status.SOLVED.value, Status.CLOSED.value)


def follow_up_failure(
    ctx: AppContext,
    uow: UnitOfWork,
    req: RefundRequest,
    ticket: Ticket,
    *,
    reversed_: bool = False,
) -> bool:
    """Reopen the ticket if it was solved/closed and alert its owners, in the caller's
    transaction (events after commit). Call it once per failure: from the single winner of the
    conditional UPDATE that recorded it. Returns True when the ticket was reopened."""
    s = uow.session
    what = "was reversed by the payment platform" if reversed_ else "failed on the payment platform"
    old = ticket.status
    reopened = old in REOPENABLE
    if reopened:
        ticket.status = Status.OPEN.value
        ticket.updated_at = utcnow()
        audit.record(
            s,
            system_actor(ticket.workspace_id),
            "ticket.reopened",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={
                "changes": {"status": [old, Status.OPEN.value]},
                "reason": f"refund #{req.id} {what}",
                "refund_request_id": req.id,
            },
        )
        add_system_note(
            ctx,
            uow,
            ticket,
            f"Ticket reopened ({old} → open): refund #{req.id} {what}. "
            "Contact the customer about the money.",
        )
    payload: dict[str, Any] = {
        "type": "RefundFailed",
        "ticket_id": ticket.id,
        "number": ticket.number,
        "refund_request_id": req.id,
        "reversed": reversed_,
        "reopened": reopened,
        "assignee_id": ticket.assignee_id,
        "queue_id": ticket.queue_id,
    }
    topics = [f"ticket:{ticket.id}", f"inbox:{ticket.workspace_id}"]
    personal: list[str] = []  # the assignee's own console gets an alert (`AgentAlert`)
    if ticket.assignee_id is not None:
        personal.append(f"agent:{ticket.assignee_id}")
    elif ticket.queue_id is not None:
        topics.append(f"queue:{ticket.queue_id}")
    alert = {**payload, "type": "AgentAlert", "alert": "refund_failed"}
    updated = {**TicketUpdated(ticket.id, ("status",)).payload(), "ticket_id": ticket.id}

    inbox = f"inbox:{ticket.workspace_id}"

    def publish() -> None:  # values captured above: the ORM objects expire at commit
        for topic in topics:
            ctx.bus.publish(topic, payload)
        for topic in personal:
            ctx.bus.publish(topic, alert)
        if reopened:
            ctx.bus.publish(inbox, updated)

    uow.on_commit(publish)
    return reopened
