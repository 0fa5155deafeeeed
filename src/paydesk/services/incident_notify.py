"""Telling every customer of an incident's linked tickets that it is fixed (idempotent per
ticket), in their language and channel, and moving the tickets to solved/pending. See
`services/incidents.py` for the incident lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from paydesk.domain import tickets as rules
from paydesk.domain.errors import Conflict
from paydesk.domain.tickets import Status
from paydesk.services import audit
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.incidents import (
    _choice,
    _require_manager,
    _text,
    _ticket_changed,
    _timeline,
    access_incident,
    ref,
)
from paydesk.services.payments import add_customer_notice
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.incidents import Incident, IncidentTicket
from paydesk.store.tickets import Ticket

NOTIFY_CHUNK = 50  # tickets per notification transaction

# the default "it is fixed" message; {service} is the affected service (or a generic word)
FIXED_NOTICE = {
    "en": "Good news: the problem with {service} that you told us about has been fixed. "
    "Thank you for your patience. If anything still does not work for you, just reply to this "
    "message and we will help.",
    "zh-CN": "好消息：您反馈的{service}问题已经修复，感谢您的耐心等待。"
    "如果仍有任何问题，请直接回复本消息，我们会继续为您处理。",
}
GENERIC_SERVICE = {"en": "our service", "zh-CN": "服务"}


def fixed_notice(inc: Incident, locale: str, custom: dict[str, str] | None = None) -> str:
    loc = locale if locale in FIXED_NOTICE else "en"
    if custom and custom.get(loc):
        return custom[loc]
    service = inc.affected_service or GENERIC_SERVICE[loc]
    return FIXED_NOTICE[loc].format(service=service)


@dataclass
class NotifyResult:
    notified: list[int] = field(default_factory=list)
    skipped_closed: list[int] = field(default_factory=list)
    already: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "notified": len(self.notified),
            "ticket_ids": self.notified,
            "skipped_closed": self.skipped_closed,
            "already_notified": self.already,
        }


def notify_resolved(
    ctx: AppContext,
    actor: Actor,
    incident_id: int,
    *,
    set_status: str = "solved",
    message_en: str = "",
    message_zh: str = "",
) -> NotifyResult:
    """Tell every linked ticket's customer that the incident is fixed — in the ticket's
    language (`message_en` / `message_zh` replace the default texts), as a public message the
    ticket's channel delivers (email outbox, open chat; the portal shows it) — and move the
    ticket to `set_status` (solved, or pending to wait for the customer's confirmation) where
    the state machine allows it. Closed tickets are skipped. Once per ticket (conditional
    UPDATE on `notified_at`): a double click or a second process notifies nobody twice."""
    _require_manager(actor)
    _choice(set_status, ("solved", "pending"), "set_status")
    custom = {
        "en": ctx.redactor.redact(_text(message_en, "message_en", 2000)).text,
        "zh-CN": ctx.redactor.redact(_text(message_zh, "message_zh", 2000)).text,
    }
    with ctx.read() as s:
        inc = access_incident(s, actor, incident_id)
        if inc.status != "resolved":
            raise Conflict("resolve the incident before telling the customers it is fixed")
        links = list(
            s.execute(
                select(IncidentTicket.id, IncidentTicket.notified_at)
                .where(IncidentTicket.incident_id == inc.id)
                .order_by(IncidentTicket.id)
            ).all()
        )
    out = NotifyResult(already=sum(1 for _, at in links if at is not None))
    todo = [lid for lid, at in links if at is None]
    for i in range(0, len(todo), NOTIFY_CHUNK):
        with ctx.uow() as uow:
            for lid in todo[i : i + NOTIFY_CHUNK]:
                _notify_one(ctx, uow, actor, inc, lid, set_status, custom, out)
    with ctx.uow() as uow:
        s = uow.session
        fresh = access_incident(s, actor, incident_id, for_update=True)
        if out.notified or out.skipped_closed:
            now = utcnow()
            fresh.notified_at = fresh.notified_at or now
            fresh.notified_count = fresh.notified_count + len(out.notified)
            fresh.updated_at = now
            _timeline(
                s,
                fresh,
                actor,
                "notified",
                f"{len(out.notified)} customer(s) told it is fixed; tickets → {set_status}"
                + (
                    f"; {len(out.skipped_closed)} closed ticket(s) skipped"
                    if out.skipped_closed
                    else ""
                ),
            )
        audit.record(
            s,
            actor,
            "incident.customers_notified",
            object_type="incident",
            object_id=incident_id,
            details={
                "notified": len(out.notified),
                "skipped_closed": len(out.skipped_closed),
                "already": out.already,
                "set_status": set_status,
                "custom_text": sorted(k for k, v in custom.items() if v),
            },
        )
    return out


def _notify_one(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    inc: Incident,
    link_id: int,
    set_status: str,
    custom: dict[str, str],
    out: NotifyResult,
) -> None:
    s = uow.session
    now = utcnow()
    won = s.execute(
        update(IncidentTicket)
        .where(IncidentTicket.id == link_id, IncidentTicket.notified_at.is_(None))
        .values(notified_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        out.already += 1
        return
    link = s.get(IncidentTicket, link_id)
    assert link is not None
    stmt = select(Ticket).where(Ticket.id == link.ticket_id)
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    ticket = s.scalars(stmt).one()
    if ticket.status == Status.CLOSED.value:
        out.skipped_closed.append(ticket.id)
        return
    msg = add_customer_notice(ctx, uow, ticket, fixed_notice(inc, ticket.locale, custom))
    link.notice_message_id = msg.id
    old = ticket.status
    target = Status(set_status)
    changes: dict[str, list[Any]] = {}
    if target.value != old and target in rules.allowed_transitions(Status(old)):
        ticket.status = target.value
        if target == Status.SOLVED:
            ticket.solved_at = now
        changes["status"] = [old, target.value]
    ticket.updated_at = now
    audit.record(
        s,
        actor,
        "incident.customer_notified",
        object_type="ticket",
        object_id=ticket.id,
        customer_id=ticket.customer_id,
        details={"incident_id": inc.id, "message_id": msg.id, "changes": changes},
    )
    if changes:
        audit.record(
            s,
            actor,
            "ticket.updated",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"changes": changes, "reason": f"{ref(inc.id)} resolved"},
        )
    uow.on_commit(_ticket_changed(ctx, ticket.workspace_id, ticket.id, ("status",)))
    out.notified.append(ticket.id)
