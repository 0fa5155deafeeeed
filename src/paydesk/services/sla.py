"""SLA clocks of tickets: started by intake, moved by agent replies and status changes,
complaint deadlines with a holding-reply extension, escalation levels.

The rules are in `domain/sla.py`; this module loads the workspace's configuration (calendars,
policies) into a per-process cache and writes the `tickets` clock columns. Intake pays no extra
query per ticket: the configuration comes from the cache (loaded once per workspace, dropped
when an admin changes it in this process and after `CACHE_SECONDS` in every other process), and
the clock values go into the ticket INSERT / the follow-up UPDATE intake already runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, or_, select

from paydesk.domain import sla as rules
from paydesk.domain.errors import Conflict, InvalidInput, NotFound
from paydesk.domain.events import TicketUpdated
from paydesk.domain.permissions import Perm, Role
from paydesk.domain.sla import BusinessCalendar, ComplaintRule, SlaPolicy, TicketClocks
from paydesk.domain.tickets import OPEN_STATUSES, Category, Status
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.sla import BusinessCalendarRow, SlaPolicyRow
from paydesk.store.tickets import Ticket

CACHE_SECONDS = 30.0
READ_ROLES = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value, Role.AUDITOR.value})
_T = Ticket.__table__

# the clock columns intake reads with a follow-up's ticket and writes back
CLOCK_FIELDS = (
    "sla_policy_id",
    "sla_due_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "resolution_left_seconds",
)
CLOCK_COLUMNS = (*(_T.c[f] for f in CLOCK_FIELDS), _T.c.first_response_at)
CLOCK_BINDS: dict[str, Any] = {f: bindparam(f"sla_{f}") for f in CLOCK_FIELDS}


# --- configuration cache ------------------------------------------------------------------


@dataclass(slots=True)
class SlaConfig:
    policies: list[SlaPolicy] = field(default_factory=list)
    calendars: dict[int, tuple[BusinessCalendar, ComplaintRule]] = field(default_factory=dict)
    default_calendar_id: int | None = None
    loaded_at: float = 0.0

    def calendar_for(self, policy: SlaPolicy | None) -> tuple[BusinessCalendar, ComplaintRule]:
        """The policy's calendar, else the workspace default, else 24/7 with the default rule."""
        for cid in (policy.calendar_id if policy else None, self.default_calendar_id):
            if cid is not None and cid in self.calendars:
                return self.calendars[cid]
        return rules.always_open(), ComplaintRule()

    def clock_calendar(self, policy: SlaPolicy | None) -> BusinessCalendar | None:
        """The calendar a policy's clocks count in (None: calendar time)."""
        if policy is None or not policy.business_hours:
            return None
        return self.calendar_for(policy)[0]

    def policy(self, policy_id: int | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None)


_CACHE_LOCK = threading.Lock()


def calendar_from_row(row: BusinessCalendarRow) -> tuple[BusinessCalendar, ComplaintRule]:
    hours = tuple(tuple((int(a), int(b)) for a, b in day) for day in row.hours)
    return (
        BusinessCalendar(
            row.timezone,
            hours,
            frozenset(date.fromisoformat(d) for d in row.holidays),
            frozenset(date.fromisoformat(d) for d in row.extra_days),
        ),
        ComplaintRule(row.complaint_days, row.complaint_extended_days),
    )


def policy_from_row(row: SlaPolicyRow) -> SlaPolicy:
    return SlaPolicy(
        id=row.id,
        name=row.name,
        targets={str(p): {str(m): int(v) for m, v in t.items()} for p, t in row.targets.items()},
        business_hours=row.business_hours,
        calendar_id=row.calendar_id,
        queue_id=row.queue_id,
        category=row.category,
        priority=row.priority,
        position=row.position,
    )


def config(ctx: AppContext, workspace_id: int, conn: Connection | None = None) -> SlaConfig:
    """The workspace's SLA configuration (cached; `conn` is used on a miss, inside the
    caller's transaction, so intake needs no second connection)."""
    cache: dict[int, SlaConfig] = ctx.extras.setdefault("sla_config", {})
    cfg = cache.get(workspace_id)
    if cfg is not None and time.monotonic() - cfg.loaded_at < CACHE_SECONDS:
        return cfg
    if conn is None:
        with ctx.read() as s:
            cfg = _load(s.connection(), workspace_id)
    else:
        cfg = _load(conn, workspace_id)
    with _CACHE_LOCK:
        cache[workspace_id] = cfg
    return cfg


def invalidate(ctx: AppContext, workspace_id: int) -> None:
    ctx.extras.setdefault("sla_config", {}).pop(workspace_id, None)


def _load(conn: Connection, workspace_id: int) -> SlaConfig:
    from sqlalchemy.orm import Session

    with Session(bind=conn) as s:
        cals = s.scalars(
            select(BusinessCalendarRow).where(BusinessCalendarRow.workspace_id == workspace_id)
        ).all()
        pols = s.scalars(
            select(SlaPolicyRow).where(
                SlaPolicyRow.workspace_id == workspace_id, SlaPolicyRow.active.is_(True)
            )
        ).all()
        cfg = SlaConfig(
            policies=[policy_from_row(p) for p in pols],
            calendars={c.id: calendar_from_row(c) for c in cals},
            default_calendar_id=next((c.id for c in cals if c.is_default), None),
            loaded_at=time.monotonic(),
        )
        s.expunge_all()
    return cfg


# --- clocks -------------------------------------------------------------------------------


def _clocks_of(t: Any) -> TicketClocks:
    return TicketClocks(
        policy_id=t.sla_policy_id,
        first_response_due_at=t.first_response_due_at,
        first_response_at=t.first_response_at,
        next_response_due_at=t.next_response_due_at,
        resolution_due_at=t.resolution_due_at,
        resolution_left_seconds=t.resolution_left_seconds,
        due_at=t.sla_due_at,
    )


def _columns(c: TicketClocks) -> dict[str, Any]:
    return {
        "sla_policy_id": c.policy_id,
        "sla_due_at": c.due_at,
        "first_response_due_at": c.first_response_due_at,
        "next_response_due_at": c.next_response_due_at,
        "resolution_due_at": c.resolution_due_at,
        "resolution_left_seconds": c.resolution_left_seconds,
    }


def _write(ticket: Ticket, c: TicketClocks) -> None:
    for k, v in _columns(c).items():
        setattr(ticket, k, v)


def intake_columns(
    ctx: AppContext, conn: Connection, row: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Clock columns of a ticket intake is about to INSERT (`row`: its column values).
    No query unless the workspace's configuration is not cached yet."""
    cfg = config(ctx, row["workspace_id"], conn)
    policy = rules.select_policy(cfg.policies, row["queue_id"], row["category"], row["priority"])
    cols = _columns(
        rules.start_clocks(policy, cfg.clock_calendar(policy), row["priority"], now, row["status"])
    )
    # every row has the column (None but for complaints): the rows of an intake batch then share
    # one set of keys, which its multi-row INSERT needs (store/bulk.py; a batch with a complaint
    # otherwise fell back to SQLAlchemy's row-by-row RETURNING while holding the write lock)
    cols["final_answer_due_at"] = None
    if row["category"] == Category.COMPLAINT.value:
        cal, rule = cfg.calendar_for(policy)
        cols["final_answer_due_at"] = rules.complaint_due(cal, now, rule)
    return cols


def follow_up_columns(
    ctx: AppContext, conn: Connection, row: Any, status: str, now: datetime
) -> dict[str, Any]:
    """Bind values (`sla_<column>`) for intake's UPDATE of a ticket the customer wrote to:
    a paused resolution clock resumes when the ticket reopens; next response starts."""
    clocks = _clocks_of(row)
    if row.sla_policy_id is not None:
        cfg = config(ctx, row.workspace_id, conn)
        policy = cfg.policy(row.sla_policy_id)
        cal = cfg.clock_calendar(policy)
        clocks = rules.on_status(clocks, status, cal, now)
        clocks = rules.on_customer_message(clocks, policy, cal, row.priority, now)
    return {f"sla_{k}": v for k, v in _columns(clocks).items()}


def after_agent_message(ctx: AppContext, uow: UnitOfWork, ticket: Ticket, msg: Any) -> None:
    """Hook of `tickets.add_agent_message`: a public reply meets first/next response; the
    status it leaves (pending) pauses resolution."""
    if msg.internal or msg.author_type != "agent":
        return
    cfg = config(ctx, ticket.workspace_id, uow.session.connection())
    cal = cfg.clock_calendar(cfg.policy(ticket.sla_policy_id))
    clocks = rules.on_agent_reply(_clocks_of(ticket), msg.created_at)
    if ticket.sla_policy_id is not None:
        clocks = rules.on_status(clocks, ticket.status, cal, msg.created_at)
    _write(ticket, clocks)


def after_ticket_update(
    ctx: AppContext, uow: UnitOfWork, ticket: Ticket, diff: dict[str, list[Any]], now: datetime
) -> None:
    """Hook of `tickets.update_ticket` (inside its transaction, after the changes)."""
    cfg = config(ctx, ticket.workspace_id, uow.session.connection())
    clocks = _clocks_of(ticket)
    if {"priority", "queue_id", "category"} & diff.keys():
        old = cfg.policy(ticket.sla_policy_id)
        old_priority = diff.get("priority", [ticket.priority])[0]
        used = rules.consumed_seconds(clocks, old, cfg.clock_calendar(old), old_priority, now)
        policy = rules.select_policy(
            cfg.policies, ticket.queue_id, ticket.category, ticket.priority
        )
        clocks = rules.retarget(
            clocks,
            policy,
            cfg.clock_calendar(policy),
            ticket.priority,
            ticket.created_at,
            ticket.status,
            now,
            used,
        )
    if "status" in diff and clocks.policy_id is not None:
        clocks = rules.on_status(
            clocks, ticket.status, cfg.clock_calendar(cfg.policy(clocks.policy_id)), now
        )
    _write(ticket, clocks)
    if "category" in diff:
        if ticket.category == Category.COMPLAINT.value and ticket.final_answer_due_at is None:
            cal, rule = cfg.calendar_for(cfg.policy(ticket.sla_policy_id))
            ticket.final_answer_due_at = rules.complaint_due(
                cal, ticket.created_at, rule, extended=ticket.holding_reply_at is not None
            )
        elif ticket.category != Category.COMPLAINT.value and ticket.final_answer_at is None:
            ticket.final_answer_due_at = None
    if "status" in diff and ticket.final_answer_due_at is not None:
        if ticket.status in (Status.SOLVED.value, Status.CLOSED.value):
            ticket.final_answer_at = ticket.final_answer_at or now
        elif diff["status"][0] in (Status.SOLVED.value, Status.CLOSED.value):
            ticket.final_answer_at = None  # reopened: the answer was not final after all


# --- complaint actions --------------------------------------------------------------------


def send_holding_reply(ctx: AppContext, actor: Actor, ticket_id: int, body: str) -> Ticket:
    """Send the customer a holding reply (why the final answer takes longer) and extend the
    complaint's deadline to the jurisdiction's longer bound. Only before the first deadline,
    once, and while no final answer was given."""
    actor.require(Perm.TICKET_WRITE)
    with ctx.read() as s:
        _check_extendable(access_ticket(s, actor, ticket_id), utcnow())
    from paydesk.services.tickets import add_agent_message

    msg = add_agent_message(ctx, actor, ticket_id, body)
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        now = utcnow()
        _check_extendable(ticket, msg.created_at)
        cfg = config(ctx, ticket.workspace_id, s.connection())
        cal, rule = cfg.calendar_for(cfg.policy(ticket.sla_policy_id))
        old = ticket.final_answer_due_at
        ticket.final_answer_due_at = rules.complaint_due(
            cal, ticket.created_at, rule, extended=True
        )
        ticket.holding_reply_at = now
        ticket.updated_at = now
        audit.record(
            s,
            actor,
            "ticket.complaint_extended",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={
                "message_id": msg.id,
                "final_answer_due_at": [_iso(old), _iso(ticket.final_answer_due_at)],
            },
        )
        _publish(ctx, uow, ticket, ("final_answer_due_at",))
    return ticket


def _check_extendable(ticket: Ticket, now: datetime) -> None:
    if ticket.final_answer_due_at is None:
        raise InvalidInput("this ticket is not a complaint", field="holding_reply")
    if ticket.holding_reply_at is not None:
        raise Conflict(
            "the deadline was already extended by a holding reply", field="holding_reply"
        )
    if ticket.final_answer_at is not None:
        raise Conflict("a final answer was already given", field="holding_reply")
    if now > ticket.final_answer_due_at:
        raise Conflict(
            "the final-answer deadline has passed; a holding reply can no longer extend it",
            field="holding_reply",
        )


def set_escalation(
    ctx: AppContext, actor: Actor, ticket_id: int, level: Any, reason: str
) -> Ticket:
    """Raise or lower a ticket's escalation level (0 none … 3 management/regulator), audited
    with the reason."""
    actor.require(Perm.TICKET_WRITE)
    try:
        new = int(level)
    except (TypeError, ValueError):
        raise InvalidInput("escalation level must be 0, 1, 2 or 3", field="level") from None
    if new not in rules.ESCALATION_LEVELS:
        raise InvalidInput("escalation level must be 0, 1, 2 or 3", field="level")
    reason = " ".join(str(reason or "").split())[:500]
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        if new == ticket.escalation_level:
            return ticket
        if new > ticket.escalation_level and not reason:
            raise InvalidInput("say why the ticket is escalated", field="reason")
        old, ticket.escalation_level = ticket.escalation_level, new
        ticket.updated_at = utcnow()
        audit.record(
            s,
            actor,
            "ticket.escalated" if new > old else "ticket.deescalated",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"level": [old, new], "reason": reason},
        )
        _publish(ctx, uow, ticket, ("escalation_level",))
    return ticket


def _publish(ctx: AppContext, uow: UnitOfWork, ticket: Ticket, fields: tuple[str, ...]) -> None:
    ws, tid = ticket.workspace_id, ticket.id
    payload = {**TicketUpdated(tid, fields).payload(), "ticket_id": tid}

    def go() -> None:
        ctx.bus.publish(f"ticket:{tid}", payload)
        ctx.bus.publish(f"inbox:{ws}", payload)

    uow.on_commit(go)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- read model ---------------------------------------------------------------------------


def _clock(
    due: datetime | None, met: datetime | None, left: int | None, now: datetime
) -> dict[str, Any] | None:
    state = rules.clock_state(due, met, left, now)
    if state is rules.ClockState.NONE:
        return None
    out: dict[str, Any] = {"state": state.value, "due_at": due, "met_at": met}
    if due is not None and met is None:
        out["seconds_left"] = round((due - now).total_seconds())
        out["due_soon"] = rules.is_due_soon(due, now)
    if left is not None:
        out["paused_seconds_left"] = left
    return out


def sla_public(t: Any, now: datetime) -> dict[str, Any]:
    """The `sla` object of a ticket (API, console): each clock with its state, the nearest
    due time, breached / due-soon flags, the complaint deadline and the escalation level."""
    fr = _clock(t.first_response_due_at, t.first_response_at, None, now)
    nr = _clock(t.next_response_due_at, None, None, now)
    stopped = t.status in (Status.SOLVED.value, Status.CLOSED.value)
    res = _clock(t.resolution_due_at, None, t.resolution_left_seconds, now)
    if res is not None and stopped and t.resolution_left_seconds is not None:
        res["state"] = "met" if t.resolution_left_seconds >= 0 else "breached"
        res["met_at"] = t.solved_at
    complaint = None
    if t.final_answer_due_at is not None:
        complaint = _clock(t.final_answer_due_at, t.final_answer_at, None, now) or {}
        complaint["extended"] = t.holding_reply_at is not None
        complaint["holding_reply_at"] = t.holding_reply_at
    # breached now: a running target is overdue, or resolution was overdue when it paused
    breached = not stopped and (
        (t.sla_due_at is not None and t.sla_due_at < now)
        or (t.resolution_left_seconds is not None and t.resolution_left_seconds < 0)
    )
    return {
        "policy_id": t.sla_policy_id,
        "due_at": t.sla_due_at,
        "breached": breached,
        "due_soon": not stopped and rules.is_due_soon(t.sla_due_at, now),
        "first_response": fr,
        "next_response": nr,
        "resolution": res,
        "complaint": complaint,
        "escalation_level": t.escalation_level or 0,
    }


def breached_condition(now: datetime) -> ColumnElement[bool]:
    """SQL: an unsolved ticket with an overdue running target, or a resolution clock that was
    overdue when it paused (the same rule as `sla_public`'s "breached")."""
    return and_(
        _T.c.status.in_([s.value for s in OPEN_STATUSES]),
        or_(_T.c.sla_due_at < now, _T.c.resolution_left_seconds < 0),
    )


def due_soon_condition(now: datetime) -> ColumnElement[bool]:
    return and_(
        _T.c.status.in_([s.value for s in OPEN_STATUSES]),
        _T.c.sla_due_at >= now,
        _T.c.sla_due_at <= now + timedelta(seconds=rules.DUE_SOON_SECONDS),
    )


def sla_filter(name: str, now: datetime) -> ColumnElement[bool]:
    if name == "breached":
        return breached_condition(now)
    if name == "due_soon":
        return due_soon_condition(now)
    raise InvalidInput(f"unknown sla filter {name!r} (allowed: breached, due_soon)", field="sla")


def require_supervisor_read(actor: Actor) -> None:
    """Supervisors, admins and auditors see SLA dashboards; everyone else gets NotFound."""
    if not (actor.is_staff and (actor.kind == "system" or actor.role in READ_ROLES)):
        raise NotFound("page not found")


# --- breach watch -----------------------------------------------------------------------

BREACH_WATCH_SECONDS = 30.0


def publish_breaches(ctx: AppContext, since: datetime, until: datetime) -> int:
    """Publish `SlaBreached` for every unsolved ticket whose nearest target fell in
    (since, until]; the inbox and dashboards re-fetch on it. Uses the (workspace, sla_due_at)
    index, one range query per workspace. Returns the number of events."""
    from paydesk.store.workspace import Workspace

    found: list[tuple[int, int, datetime]] = []
    with ctx.read() as s:
        for ws in s.scalars(select(Workspace.id)).all():
            found += [
                (ws, r.id, r.sla_due_at)
                for r in s.execute(
                    select(_T.c.id, _T.c.sla_due_at).where(
                        _T.c.workspace_id == ws,
                        _T.c.sla_due_at > since,
                        _T.c.sla_due_at <= until,
                        _T.c.status.in_([x.value for x in OPEN_STATUSES]),
                    )
                )
            ]
    for ws, tid, due in found:
        payload = rules.SlaBreached(tid, due.isoformat()).payload()
        ctx.bus.publish(f"ticket:{tid}", payload)
        ctx.bus.publish(f"inbox:{ws}", payload)
    return len(found)


async def breach_watch(ctx: AppContext) -> None:
    """The server's background loop: every `BREACH_WATCH_SECONDS`, the breaches since the last
    round. Every process runs it; a duplicate "ticket changed" only costs a re-fetch."""
    import asyncio
    import logging

    last = utcnow()
    while True:
        await asyncio.sleep(BREACH_WATCH_SECONDS)
        now = utcnow()
        try:
            await asyncio.to_thread(publish_breaches, ctx, last, now)
            last = now
        except Exception:
            logging.getLogger(__name__).exception("SLA breach watch failed")


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("background", []).append(breach_watch)
    ctx.after_agent_message.append(after_agent_message)
    ctx.after_ticket_update.append(after_ticket_update)
    from paydesk.services.sla_admin import ensure_defaults

    ctx.extras.setdefault("on_prepare", []).append(ensure_defaults)
