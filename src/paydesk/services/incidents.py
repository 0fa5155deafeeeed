"""Incidents — technical support's problem records (DESIGN capability 3).

An incident groups the tickets an outage brings (each linked ticket becomes type `incident`),
follows the fix through `investigating → identified → monitoring → resolved` (any step may be
taken back, e.g. a relapse), is escalated to a technical on-call (role `technical`: the incident
is assigned to them, an `IncidentEscalated` event goes to `agent:{id}` and an email to them), and
when resolved one action tells every linked ticket's customer, in their language and through the
ticket's own channel (email outbox, open chat, portal), and marks the tickets solved (or pending).

Who may do what: any staff member with ticket write access (agents too) creates incidents,
links/unlinks tickets they can see and escalates; changing the status and notifying customers is
for the technical on-call, supervisors and administrators (`can_manage`). Auditors read.

Notification is idempotent per ticket: a conditional `UPDATE incident_tickets SET notified_at …
WHERE notified_at IS NULL` has one winner, so a double click (or two processes) notifies each
customer once; tickets linked after a notification are told on the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.domain import tickets as rules
from paydesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from paydesk.domain.events import TicketUpdated
from paydesk.domain.permissions import Perm, Role
from paydesk.domain.tickets import Category, TicketType
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_system_note
from paydesk.services.uow import UnitOfWork
from paydesk.store.agents import Agent
from paydesk.store.base import utcnow
from paydesk.store.incidents import Incident, IncidentTicket, IncidentUpdate
from paydesk.store.tickets import Ticket

STATUSES = ("investigating", "identified", "monitoring", "resolved")
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
MANAGERS = frozenset({Role.TECHNICAL.value, Role.SUPERVISOR.value, Role.ADMIN.value})
MAX_LINK = 500  # tickets per link call


def ref(incident_id: int) -> str:
    return f"INC-{incident_id}"


def can_manage(actor: Actor) -> bool:
    return actor.kind == "system" or (actor.is_staff and actor.role in MANAGERS)


def _require_manager(actor: Actor) -> None:
    if not can_manage(actor):
        raise PermissionDenied(
            f"your role ({actor.role}) may not change incidents: the technical on-call, "
            "supervisors and administrators do"
        )


def access_incident(
    s: Session, actor: Actor, incident_id: int, *, for_update: bool = False
) -> Incident:
    """Staff of the workspace see its incidents; missing and hidden are both NotFound."""
    stmt = select(Incident).where(Incident.id == incident_id)
    if for_update and s.bind is not None and s.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    inc = s.scalars(stmt).first() if 0 < incident_id < 2**31 else None
    if inc is None or inc.workspace_id != actor.workspace_id or not actor.is_staff:
        raise NotFound(f"incident {incident_id} not found")
    return inc


def _text(value: str | None, name: str, limit: int, *, required: bool = False) -> str:
    v = (value or "").strip()
    if required and not v:
        raise InvalidInput(f"give the incident a {name}", field=name)
    if len(v) > limit:
        raise InvalidInput(f"the {name} is longer than {limit} characters", field=name)
    return v


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


def _timeline(
    s: Session, inc: Incident, actor: Actor, kind: str, body: str, status: str | None = None
) -> None:
    s.add(
        IncidentUpdate(
            incident_id=inc.id,
            kind=kind,
            status=status,
            body=body[:4000],
            actor_name=actor.name or actor.kind,
            created_at=utcnow(),
        )
    )


def _publish(
    ctx: AppContext, uow: UnitOfWork, ws: int, payload: dict[str, Any], *extra: str
) -> None:
    topics = (f"incidents:{ws}", f"inbox:{ws}", *extra)

    def go() -> None:
        for topic in topics:
            ctx.bus.publish(topic, payload)

    uow.on_commit(go)


# creating and linking -------------------------------------------------------------------------


def create_incident(
    ctx: AppContext,
    actor: Actor,
    *,
    title: str,
    affected_service: str = "",
    severity: str = "sev3",
    description: str = "",
    ticket_ids: list[int] | None = None,
    source_ticket_id: int | None = None,
) -> Incident:
    """Open an incident (status `investigating`) and link `ticket_ids` (and the source ticket)
    in the same transaction. Tickets the actor cannot see are NotFound (nothing is created)."""
    actor.require(Perm.TICKET_WRITE)
    title = ctx.redactor.redact(_text(title, "title", 200, required=True)).text
    service = ctx.redactor.redact(_text(affected_service, "affected_service", 100)).text
    description = ctx.redactor.redact(_text(description, "description", 10000)).text
    _choice(severity, SEVERITIES, "severity")
    ids = _ids(([source_ticket_id] if source_ticket_id else []) + list(ticket_ids or []))
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        inc = Incident(
            workspace_id=actor.workspace_id,
            title=title,
            status="investigating",
            severity=severity,
            affected_service=service,
            description=description,
            source_ticket_id=None,  # set once _link has checked it exists and is visible
            created_by_id=actor.id if actor.kind == "agent" else None,
            created_by_name=actor.name or actor.kind,
            notified_count=0,
            created_at=now,
            updated_at=now,
        )
        s.add(inc)
        s.flush()
        _timeline(s, inc, actor, "created", title, "investigating")
        audit.record(
            s,
            actor,
            "incident.created",
            object_type="incident",
            object_id=inc.id,
            details={"title": title, "severity": severity, "service": service},
        )
        result = _link(ctx, uow, actor, inc, ids, strict=True)
        inc.source_ticket_id = source_ticket_id
        _publish(
            ctx,
            uow,
            inc.workspace_id,
            {"type": "IncidentCreated", "incident_id": inc.id, "linked": len(result.linked)},
        )
    return inc


def create_from_ticket(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    *,
    title: str = "",
    affected_service: str = "",
    severity: str = "sev3",
) -> Incident:
    """An incident started from one customer's report: titled after the ticket by default."""
    with ctx.read() as s:
        subject = access_ticket(s, actor, ticket_id).subject
    return create_incident(
        ctx,
        actor,
        title=title.strip() or subject[:200] or f"Incident from ticket {ticket_id}",
        affected_service=affected_service,
        severity=severity,
        source_ticket_id=ticket_id,
    )


@dataclass
class LinkResult:
    linked: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)  # linked to this incident before
    elsewhere: dict[int, int] = field(default_factory=dict)  # ticket -> its other incident
    not_found: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "linked": self.linked,
            "already": self.already,
            "elsewhere": {str(k): v for k, v in self.elsewhere.items()},
            "not_found": self.not_found,
        }


def _ids(values: list[Any]) -> list[int]:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**31:
            raise InvalidInput("ticket ids must be positive integers", field="ticket_ids")
        if v not in out:
            out.append(v)
    if len(out) > MAX_LINK:
        raise InvalidInput(f"link at most {MAX_LINK} tickets at once", field="ticket_ids")
    return out


def link_tickets(
    ctx: AppContext, actor: Actor, incident_id: int, ticket_ids: list[Any]
) -> LinkResult:
    """Link tickets (bulk) to an incident: each becomes type `incident`, gets an internal note
    and an audit event. Tickets the actor cannot see are reported in `not_found`; a ticket
    already linked to another incident is left there (`elsewhere`: unlink it first)."""
    actor.require(Perm.TICKET_WRITE)
    ids = _ids(list(ticket_ids))
    if not ids:
        raise InvalidInput("choose at least one ticket", field="ticket_ids")
    try:
        with ctx.uow() as uow:
            inc = access_incident(uow.session, actor, incident_id, for_update=True)
            result = _link(ctx, uow, actor, inc, ids, strict=False)
            if result.linked:
                inc.updated_at = utcnow()
                _publish(
                    ctx,
                    uow,
                    inc.workspace_id,
                    {"type": "IncidentUpdated", "incident_id": inc.id, "linked": result.linked},
                )
    except IntegrityError:  # a concurrent call linked one of them first
        raise Conflict("a ticket was linked by someone else just now; try again") from None
    return result


def _link(
    ctx: AppContext, uow: UnitOfWork, actor: Actor, inc: Incident, ids: list[int], *, strict: bool
) -> LinkResult:
    s = uow.session
    out = LinkResult()
    if not ids:
        return out
    existing = dict(
        s.execute(
            select(IncidentTicket.ticket_id, IncidentTicket.incident_id).where(
                IncidentTicket.ticket_id.in_(ids)
            )
        ).all()
    )
    for tid in ids:
        try:
            ticket = access_ticket(s, actor, tid, for_update=True)
        except NotFound:
            if strict:
                raise
            out.not_found.append(tid)
            continue
        other = existing.get(tid)
        if other == inc.id:
            out.already.append(tid)
            continue
        if other is not None:
            if strict:
                raise Conflict(f"ticket {tid} is already linked to {ref(other)}")
            out.elsewhere[tid] = other
            continue
        s.add(
            IncidentTicket(
                incident_id=inc.id,
                ticket_id=tid,
                linked_by_name=actor.name or actor.kind,
                linked_at=utcnow(),
            )
        )
        old_type = ticket.type
        ticket.type = TicketType.INCIDENT.value
        ticket.updated_at = utcnow()
        audit.record(
            s,
            actor,
            "incident.ticket_linked",
            object_type="ticket",
            object_id=tid,
            customer_id=ticket.customer_id,
            details={"incident_id": inc.id, "type": [old_type, ticket.type]},
        )
        add_system_note(ctx, uow, ticket, f"Linked to incident {ref(inc.id)}: {inc.title}")
        uow.on_commit(_ticket_changed(ctx, ticket.workspace_id, tid, ("type",)))
        out.linked.append(tid)
    if out.linked:
        s.flush()
        _timeline(s, inc, actor, "linked", f"{len(out.linked)} ticket(s) linked")
    return out


def _ticket_changed(ctx: AppContext, ws: int, tid: int, fields: tuple[str, ...]) -> Any:
    payload = {**TicketUpdated(tid, fields).payload(), "ticket_id": tid}

    def go() -> None:
        ctx.bus.publish(f"ticket:{tid}", payload)
        ctx.bus.publish(f"inbox:{ws}", payload)

    return go


def unlink_ticket(ctx: AppContext, actor: Actor, incident_id: int, ticket_id: int) -> None:
    """Take a ticket out of an incident (its type goes back to what its category implies)."""
    actor.require(Perm.TICKET_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        inc = access_incident(s, actor, incident_id, for_update=True)
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        link = s.scalars(
            select(IncidentTicket).where(
                IncidentTicket.incident_id == inc.id, IncidentTicket.ticket_id == ticket.id
            )
        ).first()
        if link is None:
            raise NotFound(f"ticket {ticket_id} is not linked to {ref(inc.id)}")
        s.delete(link)
        old_type = ticket.type
        try:
            ticket.type = rules.type_for_category(Category(ticket.category)).value
        except ValueError:
            ticket.type = TicketType.QUESTION.value
        ticket.updated_at = utcnow()
        audit.record(
            s,
            actor,
            "incident.ticket_unlinked",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"incident_id": inc.id, "type": [old_type, ticket.type]},
        )
        add_system_note(ctx, uow, ticket, f"Unlinked from incident {ref(inc.id)}.")
        _timeline(s, inc, actor, "unlinked", f"ticket {ticket.number} unlinked")
        inc.updated_at = utcnow()
        uow.on_commit(_ticket_changed(ctx, ticket.workspace_id, ticket.id, ("type",)))


# status, escalation ---------------------------------------------------------------------------


def update_incident(
    ctx: AppContext,
    actor: Actor,
    incident_id: int,
    *,
    status: str | None = None,
    title: str | None = None,
    affected_service: str | None = None,
    severity: str | None = None,
    note: str = "",
) -> Incident:
    """Change status / title / service / severity and add a timeline note (technical on-call,
    supervisors, admins). Every change is audited old → new; `resolved_at` is set on resolve
    and cleared if the incident is taken back (a relapse)."""
    _require_manager(actor)
    if status is not None:
        _choice(status, STATUSES, "status")
    if severity is not None:
        _choice(severity, SEVERITIES, "severity")
    note = ctx.redactor.redact(_text(note, "note", 4000)).text
    new_title = (
        ctx.redactor.redact(_text(title, "title", 200, required=True)).text
        if title is not None
        else None
    )
    new_service = (
        ctx.redactor.redact(_text(affected_service, "affected_service", 100)).text
        if affected_service is not None
        else None
    )
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        inc = access_incident(s, actor, incident_id, for_update=True)
        diff: dict[str, list[Any]] = {}
        for name, value in (
            ("status", status),
            ("title", new_title),
            ("affected_service", new_service),
            ("severity", severity),
        ):
            if value is not None and value != getattr(inc, name):
                diff[name] = [getattr(inc, name), value]
                setattr(inc, name, value)
        if "status" in diff:
            inc.resolved_at = now if inc.status == "resolved" else None
        if not diff and not note:
            return inc
        inc.updated_at = now
        body = "; ".join(f"{k}: {a} → {b}" for k, (a, b) in diff.items())
        _timeline(
            s,
            inc,
            actor,
            "status" if "status" in diff else "note",
            "\n".join(x for x in (body, note) if x),
            inc.status if "status" in diff else None,
        )
        audit.record(
            s,
            actor,
            "incident.updated",
            object_type="incident",
            object_id=inc.id,
            details={"changes": diff, "note": bool(note)},
        )
        _publish(
            ctx,
            uow,
            inc.workspace_id,
            {"type": "IncidentUpdated", "incident_id": inc.id, "status": inc.status},
        )
    return inc


def oncall_candidates(ctx: AppContext, actor: Actor) -> list[Agent]:
    """Active technical staff, the least loaded (open assigned tickets) first."""
    with ctx.read() as s:
        load = (
            select(Ticket.assignee_id, func.count().label("n"))
            .where(
                Ticket.workspace_id == actor.workspace_id,
                Ticket.status.in_([x.value for x in rules.OPEN_STATUSES]),
            )
            .group_by(Ticket.assignee_id)
            .subquery()
        )
        rows = s.execute(
            select(Agent, func.coalesce(load.c.n, 0))
            .outerjoin(load, load.c.assignee_id == Agent.id)
            .where(
                Agent.workspace_id == actor.workspace_id,
                Agent.role == Role.TECHNICAL.value,
                Agent.active.is_(True),
            )
            .order_by(func.coalesce(load.c.n, 0), Agent.id)
        ).all()
        return [a for a, _ in rows]


def escalate(
    ctx: AppContext,
    actor: Actor,
    incident_id: int,
    *,
    agent_id: int | None = None,
    note: str = "",
) -> Incident:
    """Escalate to the technical on-call: the given technical agent, or the least loaded active
    one. The incident is assigned to them (audited from → to); after commit `IncidentEscalated`
    goes to the workspace and an `AgentAlert` (`alert: "incident_escalated"`) to `agent:{id}`
    (their console shows it), and they get an email."""
    actor.require(Perm.TICKET_WRITE)
    note = ctx.redactor.redact(_text(note, "note", 4000)).text
    if agent_id is not None:
        with ctx.read() as s:
            target = s.get(Agent, agent_id) if 0 < agent_id < 2**31 else None
            if (
                target is None
                or target.workspace_id != actor.workspace_id
                or not target.active
                or target.role != Role.TECHNICAL.value
            ):
                raise InvalidInput(
                    f"no active technical on-call agent with id {agent_id}", field="agent_id"
                )
    else:
        candidates = oncall_candidates(ctx, actor)
        if not candidates:
            raise Conflict("there is no active technical on-call agent to escalate to")
        target = candidates[0]
    oncall_id, oncall_name, oncall_email = target.id, target.name, target.email
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        inc = access_incident(s, actor, incident_id, for_update=True)
        old = inc.oncall_agent_id
        inc.oncall_agent_id = oncall_id
        inc.escalated_at = now
        inc.updated_at = now
        _timeline(
            s,
            inc,
            actor,
            "escalated",
            f"escalated to {oncall_name}" + (f": {note}" if note else ""),
        )
        audit.record(
            s,
            actor,
            "incident.escalated",
            object_type="incident",
            object_id=inc.id,
            details={"oncall_agent_id": [old, oncall_id], "note": bool(note)},
        )
        payload = {
            "type": "IncidentEscalated",
            "incident_id": inc.id,
            "oncall_agent_id": oncall_id,
            "title": inc.title,
        }
        _publish(ctx, uow, inc.workspace_id, payload)
        alert = {**payload, "type": "AgentAlert", "alert": "incident_escalated"}
        uow.on_commit(lambda: ctx.bus.publish(f"agent:{oncall_id}", alert))
        mail = _escalation_mail(ctx, inc, oncall_email, actor, note)
        uow.on_commit(lambda: _send_quietly(ctx, mail))
    return inc


def _escalation_mail(
    ctx: AppContext, inc: Incident, to: str, actor: Actor, note: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ctx.settings.mail_from
    msg["To"] = to
    msg["Subject"] = f"[paydesk] {ref(inc.id)} escalated to you: {inc.title}"
    msg.set_content(
        f"{actor.name or actor.kind} escalated {ref(inc.id)} ({inc.severity}) to you.\n\n"
        f"Title: {inc.title}\nAffected service: {inc.affected_service or '-'}\n"
        f"Status: {inc.status}\n"
        + (f"Note: {note}\n" if note else "")
        + f"\n{ctx.settings.base_url.rstrip('/')}/agent/incidents/{inc.id}\n"
    )
    return msg


def _send_quietly(ctx: AppContext, msg: EmailMessage) -> None:
    import logging

    try:
        ctx.mailer.send(msg)
    except Exception:  # the event already reached the console; the mail is best effort
        logging.getLogger(__name__).warning("escalation email to %s failed", msg["To"])
