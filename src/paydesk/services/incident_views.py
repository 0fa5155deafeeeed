"""Read models of incidents for the console and the API (`access_incident` for every load;
linked tickets filtered by `visible_tickets` unless the reader runs incidents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from paydesk.domain.errors import NotFound
from paydesk.services.access import access_ticket, visible_tickets
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.incidents import _choice, access_incident, can_manage, ref
from paydesk.store.agents import Agent
from paydesk.store.incidents import Incident, IncidentTicket, IncidentUpdate
from paydesk.store.tickets import Ticket


def incident_public(inc: Incident, **extra: Any) -> dict[str, Any]:
    return {
        "id": inc.id,
        "ref": ref(inc.id),
        "title": inc.title,
        "status": inc.status,
        "severity": inc.severity,
        "affected_service": inc.affected_service,
        "description": inc.description,
        "source_ticket_id": inc.source_ticket_id,
        "oncall_agent_id": inc.oncall_agent_id,
        "created_by": inc.created_by_name,
        "escalated_at": _iso(inc.escalated_at),
        "resolved_at": _iso(inc.resolved_at),
        "notified_at": _iso(inc.notified_at),
        "notified_count": inc.notified_count,
        "created_at": _iso(inc.created_at),
        "updated_at": _iso(inc.updated_at),
        **extra,
    }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def list_incidents(
    ctx: AppContext, actor: Actor, *, state: str = "open", limit: int = 100
) -> list[dict[str, Any]]:
    """`state`: open (not resolved), resolved or all; newest first, with linked counts."""
    _choice(state, ("open", "resolved", "all"), "state")
    if not actor.is_staff:
        raise NotFound("no incidents")
    counts = (
        select(IncidentTicket.incident_id, func.count().label("n"))
        .group_by(IncidentTicket.incident_id)
        .subquery()
    )
    stmt = (
        select(Incident, func.coalesce(counts.c.n, 0), Agent.name)
        .outerjoin(counts, counts.c.incident_id == Incident.id)
        .outerjoin(Agent, Agent.id == Incident.oncall_agent_id)
        .where(Incident.workspace_id == actor.workspace_id)
        .order_by(Incident.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if state == "open":
        stmt = stmt.where(Incident.status != "resolved")
    elif state == "resolved":
        stmt = stmt.where(Incident.status == "resolved")
    with ctx.read() as s:
        return [
            incident_public(inc, linked=int(n), oncall=name)
            for inc, n, name in s.execute(stmt).all()
        ]


def incident_detail(ctx: AppContext, actor: Actor, incident_id: int) -> dict[str, Any]:
    """The incident, its linked tickets (those the actor may see; managers see every linked
    ticket's number, subject and status — they run the incident), counts and timeline."""
    with ctx.read() as s:
        inc = access_incident(s, actor, incident_id)
        stmt = (
            select(Ticket, IncidentTicket.notified_at, IncidentTicket.linked_at)
            .join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
            .where(IncidentTicket.incident_id == inc.id)
            .order_by(Ticket.id)
        )
        total = s.scalar(
            select(func.count())
            .select_from(IncidentTicket)
            .where(IncidentTicket.incident_id == inc.id)
        )
        if not can_manage(actor):
            stmt = visible_tickets(actor, stmt)  # type: ignore[arg-type,assignment]
        tickets = [
            {
                "id": t.id,
                "number": t.number,
                "subject": t.subject,
                "status": t.status,
                "channel": t.channel,
                "locale": t.locale,
                "linked_at": _iso(linked),
                "notified_at": _iso(notified),
            }
            for t, notified, linked in s.execute(stmt).all()
        ]
        oncall = s.get(Agent, inc.oncall_agent_id) if inc.oncall_agent_id else None
        updates = [
            {
                "kind": u.kind,
                "status": u.status,
                "body": u.body,
                "actor": u.actor_name,
                "at": _iso(u.created_at),
            }
            for u in s.scalars(
                select(IncidentUpdate)
                .where(IncidentUpdate.incident_id == inc.id)
                .order_by(IncidentUpdate.id.desc())
                .limit(200)
            )
        ]
        return incident_public(
            inc,
            oncall=oncall.name if oncall else None,
            linked=int(total or 0),
            hidden=int(total or 0) - len(tickets),
            to_notify=sum(1 for t in tickets if t["notified_at"] is None),
            tickets=tickets,
            updates=updates,
        )


def incident_of_ticket(ctx: AppContext, actor: Actor, ticket_id: int) -> Incident | None:
    with ctx.read() as s:
        access_ticket(s, actor, ticket_id)
        return s.scalars(
            select(Incident)
            .join(IncidentTicket, IncidentTicket.incident_id == Incident.id)
            .where(IncidentTicket.ticket_id == ticket_id)
        ).first()


def search_tickets(
    ctx: AppContext, actor: Actor, q: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """Tickets matching a search (the inbox's full-text search, access-checked) for bulk
    linking, each with the incident it is already linked to, if any."""
    from paydesk.services.queries import TicketFilter, list_tickets

    q = (q or "").strip()[:500]
    if not q:
        return []
    with ctx.read() as s:
        rows, _ = list_tickets(ctx, s, actor, TicketFilter(q=q, limit=max(1, min(limit, 100))))
        ids = [t.id for t in rows]
        linked = dict(
            s.execute(
                select(IncidentTicket.ticket_id, IncidentTicket.incident_id).where(
                    IncidentTicket.ticket_id.in_(ids)
                )
            ).all()
        )
        return [
            {
                "id": t.id,
                "number": t.number,
                "subject": t.subject,
                "status": t.status,
                "category": t.category,
                "incident_id": linked.get(t.id),
            }
            for t in rows
        ]
