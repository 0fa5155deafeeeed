"""Automatic assignment of new tickets (optional per queue), after the intake commit.

A queue's mode is `off` (default), `round_robin` or `least_loaded`. Intake only marks a new
ticket of such a queue as pending (`ticket_routing.assign_pending`, written with the batch) and
nudges this module after the commit; the assignment itself runs outside the intake transaction:
in the server's background loop (woken by the nudge, and every few seconds for agents who come
online later) or by calling `assign_pending()` (CLI, tests).

Candidates: active staff who may work tickets, members of the ticket's queue (and of the rule's
team when a rule named one), online in the presence store, speaking the ticket's language (an
agent with no languages set takes any) and below the queue's limit of open tickets (new, open,
pending, on-hold assigned to them). The claim is `UPDATE ... WHERE assignee_id IS NULL`, so two
processes never both assign one ticket, and an agent's manual assignment always wins.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from sqlalchemy import func, select, update

from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.events import TicketUpdated
from paydesk.domain.permissions import Perm, has_perm
from paydesk.domain.tickets import OPEN_STATUSES, Status
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.staff import require_admin, require_admin_read
from paydesk.store.agents import Agent
from paydesk.store.routing import QueueAssignment, RoutingSettings, TicketRouting
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue, QueueMember, TeamMember

MODES = ("off", "round_robin", "least_loaded")
MAX_OPEN_LIMIT = 500
LOOP_SECONDS = 5.0  # background sweep (agents coming online pick up waiting tickets)
BATCH = 200
_OPEN = sorted(s.value for s in OPEN_STATUSES)

log = logging.getLogger(__name__)


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("background", []).append(_loop)


def nudge(ctx: AppContext) -> None:
    """Wake the background step (called after an intake commit with pending tickets)."""
    ev = ctx.extras.get("assign_wake")
    if ev is not None:
        ev.set()


async def _loop(ctx: AppContext) -> None:
    wake = ctx.extras.setdefault("assign_wake", threading.Event())
    while True:
        # short polls of a thread-safe flag: the nudge comes from the committer's thread
        for _ in range(int(LOOP_SECONDS / 0.2)):
            if wake.is_set():
                break
            await asyncio.sleep(0.2)
        wake.clear()
        try:
            await asyncio.to_thread(assign_pending, ctx)
        except Exception:  # noqa: BLE001 - the next sweep retries; never kill the loop
            log.exception("automatic assignment failed")


# --- settings -----------------------------------------------------------------------------------


def queue_settings(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    """Every queue of the workspace with its assignment mode and limit."""
    require_admin_read(actor)
    with ctx.read() as s:
        rows = s.execute(
            select(Queue.id, Queue.slug, Queue.name, QueueAssignment.mode, QueueAssignment.max_open)
            .outerjoin(QueueAssignment, QueueAssignment.queue_id == Queue.id)
            .where(Queue.workspace_id == actor.workspace_id)
            .order_by(Queue.id)
        ).all()
        return [
            {
                "id": r.id,
                "slug": r.slug,
                "name": r.name,
                "mode": r.mode or "off",
                "max_open": r.max_open or 10,
            }
            for r in rows
        ]


def set_queue_assignment(
    ctx: AppContext, actor: Actor, queue_id: int, mode: str, max_open: Any = 10
) -> bool:
    """Set a queue's automatic assignment; False when nothing changed. Audited."""
    require_admin(actor)
    if mode not in MODES:
        raise InvalidInput("mode is off, round_robin or least_loaded", field="mode")
    try:
        limit = int(str(max_open).strip())
    except ValueError:
        raise InvalidInput("the limit is a whole number", field="max_open") from None
    if not 1 <= limit <= MAX_OPEN_LIMIT:
        raise InvalidInput(f"the limit is 1-{MAX_OPEN_LIMIT}", field="max_open")
    with ctx.uow() as uow:
        s = uow.session
        q = s.get(Queue, queue_id)
        if q is None or q.workspace_id != actor.workspace_id:
            raise NotFound(f"queue {queue_id} not found")
        row = s.get(QueueAssignment, queue_id)
        old = (row.mode, row.max_open) if row else ("off", 10)
        if old == (mode, limit):
            return False
        if row is None:
            s.add(QueueAssignment(queue_id=queue_id, mode=mode, max_open=limit))
        else:
            row.mode, row.max_open = mode, limit
        audit.record(
            s,
            actor,
            "queue.assignment_changed",
            object_type="queue",
            object_id=queue_id,
            details={"slug": q.slug, "mode": [old[0], mode], "max_open": [old[1], limit]},
        )
        # intake caches which queues assign automatically with the compiled rules
        s.execute(
            update(RoutingSettings)
            .where(RoutingSettings.workspace_id == actor.workspace_id)
            .values(version=RoutingSettings.version + 1)
        )
        from paydesk.services.routing import invalidate

        uow.on_commit(lambda: invalidate(ctx, actor.workspace_id))
        return True


# --- load ---------------------------------------------------------------------------------------


def open_loads(s: Any, workspace_id: int) -> dict[int, int]:
    """Open tickets (new/open/pending/on-hold) assigned to each agent."""
    return {
        int(a): int(n)
        for a, n in s.execute(
            select(Ticket.assignee_id, func.count())
            .where(
                Ticket.workspace_id == workspace_id,
                Ticket.assignee_id.is_not(None),
                Ticket.status.in_(_OPEN),
            )
            .group_by(Ticket.assignee_id)
        )
    }


def agent_loads(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    """Every active agent with their open load, presence and languages (admin routing page)."""
    require_admin_read(actor)
    present = _presence(ctx, actor.workspace_id)
    with ctx.read() as s:
        loads = open_loads(s, actor.workspace_id)
        agents = s.scalars(
            select(Agent)
            .where(Agent.workspace_id == actor.workspace_id, Agent.active.is_(True))
            .order_by(Agent.name, Agent.id)
        ).all()
        return [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role,
                "languages": list(a.languages or []),
                "status": present.get(a.id, {}).get("status", "offline"),
                "open": loads.get(a.id, 0),
            }
            for a in agents
            if has_perm(a.role, Perm.TICKET_WRITE)
        ]


def _presence(ctx: AppContext, workspace_id: int) -> dict[int, dict[str, Any]]:
    store = ctx.extras.get("presence")
    return store.all(workspace_id) if store is not None else {}


# --- the assignment step ------------------------------------------------------------------------


def assign_pending(ctx: AppContext, limit: int = BATCH) -> list[tuple[int, int]]:
    """Assign waiting tickets of auto-assign queues; returns (ticket id, agent id) pairs.
    Tickets nobody can take yet stay pending for the next sweep; tickets that were assigned
    by hand, moved to a queue without automatic assignment or closed leave the list."""
    with ctx.read() as s:
        pending = s.execute(
            select(
                TicketRouting.ticket_id,
                TicketRouting.team_id,
                Ticket.workspace_id,
                Ticket.queue_id,
                Ticket.locale,
                Ticket.status,
                Ticket.assignee_id,
                QueueAssignment.mode,
                QueueAssignment.max_open,
            )
            .join(Ticket, Ticket.id == TicketRouting.ticket_id)
            .outerjoin(QueueAssignment, QueueAssignment.queue_id == Ticket.queue_id)
            .where(TicketRouting.assign_pending.is_(True))
            .order_by(TicketRouting.ticket_id)
            .limit(limit)
        ).all()
    if not pending:
        return []
    done: list[tuple[int, int]] = []
    finished: list[int] = []
    by_ws: dict[int, list[Any]] = {}
    for r in pending:
        if (
            r.assignee_id is not None
            or r.status not in _OPEN
            or r.mode in (None, "off")
            or r.queue_id is None
        ):
            finished.append(r.ticket_id)
        else:
            by_ws.setdefault(r.workspace_id, []).append(r)
    for ws, items in by_ws.items():
        done += _assign_workspace(ctx, ws, items, finished)
    if finished:
        with ctx.uow() as uow:
            uow.session.execute(
                update(TicketRouting)
                .where(TicketRouting.ticket_id.in_(finished))
                .values(assign_pending=False)
            )
    return done


def _assign_workspace(
    ctx: AppContext, ws: int, items: list[Any], finished: list[int]
) -> list[tuple[int, int]]:
    online = {a for a, info in _presence(ctx, ws).items() if info.get("status") == "online"}
    if not online:
        return []
    out: list[tuple[int, int]] = []
    with ctx.uow() as uow:
        s = uow.session
        agents = {
            a.id: a
            for a in s.scalars(
                select(Agent).where(
                    Agent.workspace_id == ws, Agent.active.is_(True), Agent.id.in_(sorted(online))
                )
            )
            if has_perm(a.role, Perm.TICKET_WRITE)
        }
        if not agents:
            return []
        members: dict[int, set[int]] = {}
        for qid, aid in s.execute(
            select(QueueMember.queue_id, QueueMember.agent_id).where(
                QueueMember.agent_id.in_(sorted(agents))
            )
        ):
            members.setdefault(qid, set()).add(aid)
        teams: dict[int, set[int]] = {}
        for tid, aid in s.execute(
            select(TeamMember.team_id, TeamMember.agent_id).where(
                TeamMember.agent_id.in_(sorted(agents))
            )
        ):
            teams.setdefault(tid, set()).add(aid)
        loads = open_loads(s, ws)
        cursors = {
            r.queue_id: r
            for r in s.scalars(
                select(QueueAssignment).where(
                    QueueAssignment.queue_id.in_(sorted({i.queue_id for i in items}))
                )
            )
        }
        system = system_actor(ws)
        for it in items:
            pool = sorted(members.get(it.queue_id, set()))
            if it.team_id:
                pool = [a for a in pool if a in teams.get(it.team_id, set())]
            pool = [
                a
                for a in pool
                if (not agents[a].languages or it.locale in agents[a].languages)
                and loads.get(a, 0) < it.max_open
            ]
            if not pool:
                continue
            cursor = cursors[it.queue_id]
            if it.mode == "round_robin":
                after = [
                    a for a in pool if cursor.last_agent_id is None or a > cursor.last_agent_id
                ]
                chosen = (after or pool)[0]
            else:
                chosen = min(pool, key=lambda a: (loads.get(a, 0), a))
            claimed = s.execute(
                update(Ticket)
                .where(Ticket.id == it.ticket_id, Ticket.assignee_id.is_(None))
                .values(
                    assignee_id=chosen,
                    status=Status.OPEN.value if it.status == Status.NEW.value else it.status,
                )
            ).rowcount
            finished.append(it.ticket_id)
            if not claimed:
                continue
            cursor.last_agent_id = chosen
            loads[chosen] = loads.get(chosen, 0) + 1
            audit.record(
                s,
                system,
                "ticket.auto_assigned",
                object_type="ticket",
                object_id=it.ticket_id,
                details={"assignee_id": chosen, "mode": it.mode, "queue_id": it.queue_id},
            )
            out.append((it.ticket_id, chosen))
        events = [
            TicketUpdated(tid, ("assignee_id", "status")).payload() | {"ticket_id": tid}
            for tid, _ in out
        ]

        def publish() -> None:
            for ev in events:
                ctx.bus.publish(f"ticket:{ev['ticket_id']}", ev)
                ctx.bus.publish(f"inbox:{ws}", ev)

        uow.on_commit(publish)
    return out
