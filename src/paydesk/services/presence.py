"""Live chat routing: agent presence and capacity, the waiting queue, offers, accept / transfer /
end, and the "no agent available" promise.

Presence (online/away/offline + the agent's languages, queues and capacity) lives in the
realtime presence store (memory or Redis, shared by every app process). Queue state lives in the
database (chat_sessions.status), so every process sees the same queue. Accepting a chat is an
atomic UPDATE ... WHERE status IN (waiting, offline): of two agents clicking at once, one wins.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from paydesk.domain.errors import Conflict, InvalidInput, NotFound
from paydesk.domain.permissions import Perm
from paydesk.domain.tickets import AuthorType
from paydesk.realtime.presence import PresenceStore
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.chat import append_event, bot_message, get_session, publish_on_commit
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.agents import Agent
from paydesk.store.base import utcnow
from paydesk.store.chat import ChatSession
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue, QueueMember

WAITING = ("waiting", "offline")
DEFAULT_WAIT_SECONDS = 90
HOURS = (time(8, 0), time(22, 0))  # agents' service hours, local time (see portal contact page)


def presence_store(ctx: AppContext) -> PresenceStore:
    return ctx.extras["presence"]  # type: ignore[no-any-return]


def queue_topic(workspace_id: int) -> str:
    return f"chatq:{workspace_id}"


# ---------------------------------------------------------------- presence


def set_presence(
    ctx: AppContext, actor: Actor, status: str, capacity: int | None = None
) -> dict[str, Any]:
    """Publish the agent's presence (with languages, queues, capacity) for every app process."""
    if status not in ("online", "away", "offline"):
        raise InvalidInput("status must be online, away or offline", field="status")
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, actor.id)
        if agent is None:
            raise NotFound("agent not found")
        if capacity is not None:
            if not 0 <= capacity <= 50:
                raise InvalidInput("capacity must be 0-50", field="capacity")
            if capacity != agent.capacity:
                audit.record(
                    uow.session,
                    actor,
                    "agent.chat_capacity",
                    object_type="agent",
                    object_id=agent.id,
                    details={"old": agent.capacity, "new": capacity},
                )
            agent.capacity = capacity
        queues = sorted(actor.queue_ids)
        info = {
            "status": status,
            "name": agent.name,
            "languages": list(agent.languages or []),
            "queues": queues,
            "all_queues": actor.can(Perm.TICKET_READ_ALL),
            "can_chat": actor.can(Perm.TICKET_WRITE),
            "capacity": agent.capacity,
        }
    store = presence_store(ctx)
    if status == "offline":
        store.remove(actor.workspace_id, int(actor.id or 0))
    else:
        store.set(actor.workspace_id, int(actor.id or 0), info)
    ctx.bus.publish(
        queue_topic(actor.workspace_id),
        {"type": "presence", "agent_id": actor.id, "status": status, "capacity": info["capacity"]},
    )
    return info


def active_counts(ctx: AppContext, workspace_id: int) -> dict[int, int]:
    with ctx.read() as s:
        rows = s.execute(
            select(ChatSession.agent_id, func.count())
            .where(ChatSession.workspace_id == workspace_id, ChatSession.status == "active")
            .group_by(ChatSession.agent_id)
        ).all()
    return {int(a): int(n) for a, n in rows if a is not None}


def eligible_agents(
    ctx: AppContext, workspace_id: int, queue_id: int | None, locale: str, *, with_room: bool = True
) -> list[int]:
    """Online agents who serve this queue and language and (optionally) have free capacity."""
    present = presence_store(ctx).all(workspace_id)
    counts = active_counts(ctx, workspace_id) if with_room else {}
    out = []
    for agent_id, info in present.items():
        if info.get("status") != "online" or not info.get("can_chat"):
            continue
        langs = info.get("languages") or []
        if langs and locale not in langs:
            continue
        if (
            queue_id is not None
            and not info.get("all_queues")
            and queue_id not in info.get("queues", [])
        ):
            continue
        if with_room and counts.get(agent_id, 0) >= int(info.get("capacity", 0)):
            continue
        out.append(agent_id)
    return sorted(out, key=lambda a: (counts.get(a, 0), a))


# ---------------------------------------------------------------- queueing


def route_new_chat(ctx: AppContext, uow: UnitOfWork, sess: ChatSession, ticket: Ticket) -> None:
    """First message of a chat (inside the intake transaction): to the assistant if one is
    registered, else to the human queue (or the offline promise)."""
    sess.queue_id = ticket.queue_id
    if ctx.extras.get("assistant_answer") is not None:
        sess.status = "bot"
        return
    queue_for_human(ctx, uow, sess)


def queue_for_human(ctx: AppContext, uow: UnitOfWork, sess: ChatSession) -> None:
    """Put the chat in the waiting queue and offer it to available agents; when no agent can
    take it, the chat stays a ticket and the customer gets a bilingual promise."""
    now = utcnow()
    sess.queued_at = now
    offered = eligible_agents(ctx, sess.workspace_id, sess.queue_id, sess.locale)
    if offered:
        sess.status = "waiting"
        ev = append_event(
            uow.session, sess.id, sess.public_id, "queued", AuthorType.SYSTEM.value, {}
        )
    else:
        sess.status = "offline"
        en, zh = promise_text(ctx, now)
        ev = bot_message(
            ctx,
            uow,
            sess,
            zh if sess.locale == "zh-CN" else en,
            {"promise": {"en": en, "zh-CN": zh}, "offline": True},
        )
    uow.session.flush()
    if ev["type"] == "queued":
        publish_on_commit(ctx, uow, sess.public_id, ev)
    offer = {
        "type": "offer",
        "session": sess.public_id,
        "name": sess.name,
        "topic": sess.topic,
        "locale": sess.locale,
        "queue_id": sess.queue_id,
        "status": sess.status,
        "agents": offered,
    }
    ws = sess.workspace_id
    uow.on_commit(lambda: ctx.bus.publish(queue_topic(ws), offer))


def promise_text(ctx: AppContext, now: datetime) -> tuple[str, str]:
    """(en, zh-CN) promise of when a human answers, from the agents' service hours."""
    tz = ZoneInfo(ctx.settings.timezone)
    local = now.astimezone(tz)
    if HOURS[0] <= local.time() < HOURS[1]:
        return (
            "All our agents are busy right now. Your chat is saved as a ticket and we will answer "
            "you by email within 2 hours. You can also keep writing here.",
            "目前所有客服都在忙。您的会话已保存为工单，我们会在 2 小时内通过邮件回复您。"
            "您也可以继续在这里留言。",
        )
    start = local.replace(hour=HOURS[0].hour, minute=0, second=0, microsecond=0)
    if local.time() >= HOURS[1]:
        start += timedelta(days=1)
    hhmm = start.strftime("%H:%M")
    day_en = "today" if start.date() == local.date() else "tomorrow"
    day_zh = "今天" if start.date() == local.date() else "明天"
    return (
        f"Our agents are offline (service hours 08:00-22:00 Beijing time). Your chat is saved "
        f"as a ticket and we will answer you by email by {hhmm} {day_en} (Beijing time) at the "
        "latest.",
        f"人工客服已下班（服务时间为北京时间 08:00-22:00）。您的会话已保存为工单，我们最迟会在"
        f"{day_zh} {hhmm}（北京时间）前通过邮件回复您。",
    )


def queue_position(ctx: AppContext, sess_id: int) -> dict[str, Any] | None:
    """1-based position among waiting chats of the same queue, and the expected wait.

    Served from a per-process snapshot refreshed at most every QUEUE_SNAPSHOT_SECONDS: with
    thousands of waiting visitors polling, the database sees one query per interval, not one
    per visitor."""
    snap = _queue_snapshot(ctx)
    pos = snap["positions"].get(sess_id)
    if pos is None:
        return None
    return {"position": pos, "expected_wait_seconds": int(max(15, snap["avg_wait"] * pos))}


QUEUE_SNAPSHOT_SECONDS = 3.0


def cached_queue_position(ctx: AppContext, sess_id: int) -> dict[str, Any] | None | bool:
    """Like queue_position but never queries: False when the snapshot is stale (the caller then
    refreshes it once for everybody, off the event loop)."""
    import time as _time

    snap = ctx.extras.get("_queue_snapshot")
    if snap is None or _time.monotonic() - snap["at"] >= QUEUE_SNAPSHOT_SECONDS:
        return False
    pos = snap["positions"].get(sess_id)
    if pos is None:
        return None
    return {"position": pos, "expected_wait_seconds": int(max(15, snap["avg_wait"] * pos))}


def _queue_snapshot(ctx: AppContext) -> dict[str, Any]:
    import threading
    import time as _time

    lock = ctx.extras.setdefault("_queue_snapshot_lock", threading.Lock())
    with lock:
        snap = ctx.extras.get("_queue_snapshot")
        if snap is not None and _time.monotonic() - snap["at"] < QUEUE_SNAPSHOT_SECONDS:
            return snap  # type: ignore[no-any-return]
        with ctx.read() as s:
            rows = s.execute(
                select(ChatSession.id, ChatSession.queue_id)
                .where(ChatSession.status.in_(WAITING), ChatSession.queued_at.is_not(None))
                .order_by(ChatSession.queued_at, ChatSession.id)
                .limit(20000)
            ).all()
            recent = s.execute(
                select(ChatSession.queued_at, ChatSession.accepted_at)
                .where(ChatSession.accepted_at.is_not(None), ChatSession.queued_at.is_not(None))
                .order_by(ChatSession.accepted_at.desc())
                .limit(20)
            ).all()
        counters: dict[int | None, int] = {}
        positions: dict[int, int] = {}
        for sid, qid in rows:
            counters[qid] = counters.get(qid, 0) + 1
            positions[sid] = counters[qid]
        waits = [(a - q).total_seconds() for q, a in recent if a and q and a >= q]
        snap = {
            "at": _time.monotonic(),
            "positions": positions,
            "avg_wait": sum(waits) / len(waits) if waits else DEFAULT_WAIT_SECONDS,
        }
        ctx.extras["_queue_snapshot"] = snap
        return snap


def request_human(ctx: AppContext, public_id: str) -> None:
    """The visitor asks for a person while the assistant has the chat."""
    sess = get_session(ctx, public_id)
    if sess.status != "bot":
        return
    with ctx.uow() as uow:
        locked = uow.session.get(ChatSession, sess.id)
        if locked is not None and locked.status == "bot":
            queue_for_human(ctx, uow, locked)


def waiting_chats(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    """Chats waiting for a human that this agent may take (their queues; all for supervisors)."""
    with ctx.read() as s:
        stmt = select(ChatSession).where(
            ChatSession.workspace_id == actor.workspace_id, ChatSession.status.in_(WAITING)
        )
        if not actor.can(Perm.TICKET_READ_ALL) and actor.queue_ids:
            stmt = stmt.where(ChatSession.queue_id.in_(sorted(actor.queue_ids)))
        rows = s.scalars(stmt.order_by(ChatSession.queued_at).limit(200)).all()
        return [_summary(r) for r in rows]


def my_chats(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    with ctx.read() as s:
        rows = s.scalars(
            select(ChatSession)
            .where(ChatSession.agent_id == actor.id, ChatSession.status == "active")
            .order_by(ChatSession.accepted_at)
        ).all()
        return [_summary(r) for r in rows]


def _summary(r: ChatSession) -> dict[str, Any]:
    return {
        "session": r.public_id,
        "name": r.name,
        "topic": r.topic,
        "locale": r.locale,
        "status": r.status,
        "ticket_id": r.ticket_id,
        "queue_id": r.queue_id,
        "last_seq": r.last_seq,
        "agent_read_seq": r.agent_read_seq,
        "visitor_read_seq": r.visitor_read_seq,
        "queued_at": r.queued_at.isoformat() if r.queued_at else None,
    }


# ---------------------------------------------------------------- agent actions


def access_chat(ctx: AppContext, actor: Actor, public_id: str) -> ChatSession:
    """The chat if the agent may see it: its ticket is visible to them, or it waits in one of
    their queues. NotFound otherwise (no oracle)."""
    sess = get_session(ctx, public_id)
    if sess.workspace_id != actor.workspace_id or not actor.is_staff:
        raise NotFound("chat not found")
    if sess.agent_id == actor.id:
        return sess
    with ctx.read() as s:
        if sess.ticket_id is not None:
            access_ticket(s, actor, sess.ticket_id)
            return sess
    raise NotFound("chat not found")


def accept_chat(ctx: AppContext, actor: Actor, public_id: str) -> ChatSession:
    """Take a waiting chat: assigns its ticket to the agent. Conflict if someone was faster or
    the agent is at capacity."""
    sess = access_chat(ctx, actor, public_id)
    with ctx.read() as s:
        agent = s.get(Agent, actor.id)
        capacity = agent.capacity if agent else 0
    if active_counts(ctx, actor.workspace_id).get(int(actor.id or 0), 0) >= capacity:
        raise Conflict("you are at your chat capacity", field="capacity")
    with ctx.uow() as uow:
        s = uow.session
        now = utcnow()
        won = s.execute(
            update(ChatSession)
            .where(ChatSession.id == sess.id, ChatSession.status.in_(WAITING))
            .values(status="active", agent_id=actor.id, accepted_at=now)
            .returning(ChatSession.id)
        ).first()
        if not won:
            raise Conflict("this chat was already taken", field="session")
        ticket = access_ticket(s, actor, int(sess.ticket_id or 0), for_update=True)
        ticket.assignee_id = actor.id
        if ticket.status == "new":
            ticket.status = "open"
        ticket.updated_at = now
        audit.record(
            s,
            actor,
            "chat.accepted",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"session": sess.public_id},
        )
        ev = append_event(
            s,
            sess.id,
            sess.public_id,
            "joined",
            AuthorType.SYSTEM.value,
            {"agent_id": actor.id, "agent_name": actor.name},
            agent_id=actor.id,
        )
        publish_on_commit(ctx, uow, sess.public_id, ev)
        ws = actor.workspace_id
        taken = {"type": "taken", "session": sess.public_id, "agent_id": actor.id}
        uow.on_commit(lambda: ctx.bus.publish(queue_topic(ws), taken))
    return get_session(ctx, public_id)


def transfer_chat(
    ctx: AppContext,
    actor: Actor,
    public_id: str,
    *,
    agent_id: int | None = None,
    queue: str | None = None,
) -> ChatSession:
    """Hand the chat to another agent (directly) or back to a queue (offered again)."""
    sess = access_chat(ctx, actor, public_id)
    if sess.status != "active" or (
        sess.agent_id != actor.id and not actor.can(Perm.TICKET_READ_ALL)
    ):
        raise Conflict("only the agent holding the chat can transfer it", field="session")
    with ctx.uow() as uow:
        s = uow.session
        locked = s.get(ChatSession, sess.id)
        assert locked is not None
        ticket = access_ticket(s, actor, int(sess.ticket_id or 0), for_update=True)
        if agent_id is not None:
            target = s.get(Agent, agent_id)
            if target is None or target.workspace_id != actor.workspace_id or not target.active:
                raise NotFound("agent not found")
            locked.agent_id = target.id
            ticket.assignee_id = target.id
            data: dict[str, Any] = {"to_agent_id": target.id, "agent_name": target.name}
        else:
            q = s.scalar(
                select(Queue).where(Queue.workspace_id == actor.workspace_id, Queue.slug == queue)
            )
            if q is None:
                raise NotFound(f"queue {queue!r} not found")
            locked.queue_id = q.id
            locked.agent_id = None
            ticket.queue_id = q.id
            ticket.assignee_id = None
            data = {"to_queue": q.slug}
        audit.record(
            s,
            actor,
            "chat.transferred",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"session": sess.public_id, **data},
        )
        ev = append_event(
            s,
            sess.id,
            sess.public_id,
            "transferred",
            AuthorType.SYSTEM.value,
            {"from_agent_id": actor.id, **data},
            agent_id=actor.id,
        )
        publish_on_commit(ctx, uow, sess.public_id, ev)
        if agent_id is not None:
            note = {"type": "transferred_to_you", "session": sess.public_id, "from": actor.name}
            uow.on_commit(lambda: ctx.bus.publish(f"chatagent:{agent_id}", note))
        else:
            queue_for_human(ctx, uow, locked)
    return get_session(ctx, public_id)


def end_chat(ctx: AppContext, public_id: str, *, actor: Actor | None = None) -> ChatSession:
    """End the chat (by the agent holding it, or by the visitor when actor is None). The
    transcript stays on the ticket; follow-ups continue there by email."""
    sess = access_chat(ctx, actor, public_id) if actor is not None else get_session(ctx, public_id)
    if sess.status == "ended":
        return sess
    with ctx.uow() as uow:
        s = uow.session
        done = s.execute(
            update(ChatSession)
            .where(ChatSession.id == sess.id, ChatSession.status != "ended")
            .values(status="ended", ended_at=utcnow())
            .returning(ChatSession.id)
        ).first()
        if done:
            by = "agent" if actor is not None else "visitor"
            ev = append_event(
                s, sess.id, sess.public_id, "ended", AuthorType.SYSTEM.value, {"by": by}
            )
            publish_on_commit(ctx, uow, sess.public_id, ev)
            ws = sess.workspace_id
            gone = {"type": "taken", "session": sess.public_id, "agent_id": sess.agent_id}
            uow.on_commit(lambda: ctx.bus.publish(queue_topic(ws), gone))
    return get_session(ctx, public_id)


def agent_queue_ids(ctx: AppContext, agent_id: int) -> list[int]:
    with ctx.read() as s:
        return list(s.scalars(select(QueueMember.queue_id).where(QueueMember.agent_id == agent_id)))


def chat_context(ctx: AppContext, actor: Actor, public_id: str) -> dict[str, Any]:
    """What the agent sees beside the chat: the ticket timeline (all channels) and the
    customer's other recent tickets. The view is audited by ticket_detail."""
    from paydesk.services.queries import ticket_detail, ticket_summary

    sess = access_chat(ctx, actor, public_id)
    out: dict[str, Any] = {"chat": _summary(sess), "ticket": None, "history": []}
    if sess.ticket_id is None:
        return out
    out["ticket"] = ticket_detail(ctx, actor, sess.ticket_id)
    from paydesk.services.access import visible_tickets

    with ctx.read() as s:
        rows = s.scalars(
            visible_tickets(actor, select(Ticket))
            .where(Ticket.customer_id == sess.customer_id, Ticket.id != sess.ticket_id)
            .order_by(Ticket.id.desc())
            .limit(10)
        ).all()
        out["history"] = [ticket_summary(t) for t in rows]  # type: ignore[arg-type]
    return out
