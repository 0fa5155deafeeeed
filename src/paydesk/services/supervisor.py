"""The supervisor dashboard's read model: per-queue load and SLA risk, complaint deadlines,
first-response and resolution attainment. Supervisors, admins and auditors only
(`sla.require_supervisor_read`); a few aggregate queries, whatever the ticket count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from paydesk.domain.tickets import OPEN_STATUSES
from paydesk.services.access import visible_tickets
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.sla import (
    breached_condition,
    due_soon_condition,
    require_supervisor_read,
    sla_public,
)
from paydesk.store.base import utcnow
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue

COMPLAINT_LIST_LIMIT = 50
WINDOWS = (7, 30)


def _sum(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0).cast(Integer)


def queue_load(s: Session, actor: Actor, now: datetime) -> list[dict[str, Any]]:
    """Per queue: unsolved, unassigned, breached and at-risk (due within the hour) tickets."""
    open_ = Ticket.status.in_([x.value for x in OPEN_STATUSES])
    rows = s.execute(
        visible_tickets(actor, select(Ticket))
        .where(open_)
        .with_only_columns(
            Ticket.queue_id,
            func.count(),
            _sum(Ticket.assignee_id.is_(None)),
            _sum(breached_condition(now)),
            _sum(due_soon_condition(now)),
        )
        .group_by(Ticket.queue_id)
    ).all()
    by_queue = {r[0]: r for r in rows}
    queues = s.scalars(
        select(Queue).where(Queue.workspace_id == actor.workspace_id).order_by(Queue.id)
    ).all()
    out = []
    for q in queues:
        r = by_queue.pop(q.id, None)
        out.append(_load_row(q.id, q.slug, q.name, getattr(q, "name_zh", "") or q.name, r))
    if None in by_queue:
        out.append(_load_row(None, "", "(no queue)", "（无队列）", by_queue[None]))
    return out


def _load_row(qid: int | None, slug: str, name: str, name_zh: str, r: Any) -> dict[str, Any]:
    return {
        "id": qid,
        "slug": slug,
        "name": name,
        "name_zh": name_zh,
        "open": int(r[1]) if r else 0,
        "unassigned": int(r[2]) if r else 0,
        "breached": int(r[3]) if r else 0,
        "at_risk": int(r[4]) if r else 0,
    }


def complaint_deadlines(s: Session, actor: Actor, now: datetime) -> list[dict[str, Any]]:
    """Unsolved complaints with their final-answer deadline, nearest first."""
    rows = s.scalars(
        visible_tickets(actor, select(Ticket))
        .where(
            Ticket.final_answer_due_at.is_not(None),
            Ticket.final_answer_at.is_(None),
            Ticket.status.in_([x.value for x in OPEN_STATUSES]),
        )
        .order_by(Ticket.final_answer_due_at, Ticket.id)
        .limit(COMPLAINT_LIST_LIMIT)
    ).all()
    out = []
    for t in rows:
        assert t.final_answer_due_at is not None
        out.append(
            {
                "id": t.id,
                "number": t.number,
                "subject": t.subject,
                "status": t.status,
                "due_at": t.final_answer_due_at,
                "seconds_left": round((t.final_answer_due_at - now).total_seconds()),
                "extended": t.holding_reply_at is not None,
                "escalation_level": t.escalation_level,
                "sla": sla_public(t, now),
            }
        )
    return out


def attainment(s: Session, actor: Actor, now: datetime, days: int) -> dict[str, Any]:
    """First response: tickets opened in the window whose target is met or missed (still
    running ones are not counted yet). Resolution: tickets solved in the window."""
    since = now - timedelta(days=days)
    base = visible_tickets(actor, select(Ticket))
    met_fr, missed_fr = s.execute(
        base.where(
            Ticket.created_at >= since, Ticket.first_response_due_at.is_not(None)
        ).with_only_columns(
            _sum(Ticket.first_response_at <= Ticket.first_response_due_at),
            _sum(
                (Ticket.first_response_at > Ticket.first_response_due_at)
                | (Ticket.first_response_at.is_(None) & (Ticket.first_response_due_at < now))
            ),
        )
    ).one()
    met_res, missed_res = s.execute(
        base.where(
            Ticket.solved_at >= since,
            Ticket.status.in_(["solved", "closed"]),
            Ticket.resolution_left_seconds.is_not(None),
        ).with_only_columns(
            _sum(Ticket.resolution_left_seconds >= 0), _sum(Ticket.resolution_left_seconds < 0)
        )
    ).one()
    return {
        "days": days,
        "first_response": _rate(int(met_fr), int(missed_fr)),
        "resolution": _rate(int(met_res), int(missed_res)),
    }


def _rate(met: int, missed: int) -> dict[str, Any]:
    total = met + missed
    return {
        "met": met,
        "missed": missed,
        "percent": round(100 * met / total, 1) if total else None,
    }


def overview(ctx: AppContext, actor: Actor) -> dict[str, Any]:
    require_supervisor_read(actor)
    now = utcnow()
    with ctx.read() as s:
        queues = queue_load(s, actor, now)
        return {
            "now": now,
            "queues": queues,
            "totals": {
                k: sum(q[k] for q in queues) for k in ("open", "unassigned", "breached", "at_risk")
            },
            "complaints": complaint_deadlines(s, actor, now),
            "attainment": [attainment(s, actor, now, d) for d in WINDOWS],
        }
