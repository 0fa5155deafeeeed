"""Live chat use cases: start a chat, visitor and agent messages, the event log, the assistant.

A chat session is a conversation (channel "chat") of a ticket. Visitor messages go through the
intake pipeline (redaction, threading, idempotency by the client's message id); agent messages
through `tickets.add_agent_message`. Hooks of both pipelines append a `ChatEvent` with the next
per-session sequence number inside the same transaction, and publish it on `chat:{session id}`
after commit, so "acknowledged" always means "committed", and the log is the truth a reconnecting
client resumes from. Queueing, presence and agent actions live in `services/presence.py`.
"""

from __future__ import annotations

import contextvars
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from paydesk.domain.inbound import InboundAttachment, InboundMessage
from paydesk.domain.tickets import AuthorType, Channel
from paydesk.services import intake
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.chat import ChatEvent, ChatSession
from paydesk.store.tickets import Attachment, Message, Ticket

TOKEN_MAX_AGE_SECONDS = 7 * 24 * 3600
TOPICS = ("account", "transactions", "technical", "complaint", "general")
TOPIC_LABELS = {
    "account": ("Account", "账户"),
    "transactions": ("Payments and refunds", "支付与退款"),
    "technical": ("Technical problem", "技术问题"),
    "complaint": ("Complaint", "投诉"),
    "general": ("Other question", "其他问题"),
}
TOPIC_CATEGORY = {
    "account": "account",
    "transactions": "transactions",
    "technical": "technical",
    "complaint": "complaint",
}
OPEN_STATES = ("new", "bot", "waiting", "offline", "active")

# set by agent_send so the after-agent-message hook can tie the message to the client's id
_AGENT_SEND: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "chat_agent_send", default=None
)


class ChatAuthError(DomainError):
    code = "unauthenticated"
    status = 401


@dataclass(frozen=True, slots=True)
class SendResult:
    seq: int
    message_id: int | None
    duplicate: bool
    ticket_id: int | None = None


# ---------------------------------------------------------------- visitor tokens


def _serializer(ctx: AppContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.resolved_secret(), salt="paydesk.chat.visitor")


def visitor_token(ctx: AppContext, public_id: str, visitor_id: str) -> str:
    return _serializer(ctx).dumps({"s": public_id, "v": visitor_id})


def verify_visitor_token(
    ctx: AppContext, token: str, max_age: int | None = None
) -> tuple[str, str]:
    """(session public id, visitor id) of a valid token; ChatAuthError when forged or expired."""
    try:
        data = _serializer(ctx).loads(token, max_age=max_age or TOKEN_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ChatAuthError("the chat token has expired") from None
    except BadSignature:
        raise ChatAuthError("invalid chat token") from None
    if not isinstance(data, dict) or not isinstance(data.get("s"), str):
        raise ChatAuthError("invalid chat token")
    return data["s"], str(data.get("v", ""))


def load_visitor_session(ctx: AppContext, token: str) -> ChatSession:
    """The session a visitor token opens (the token names exactly one session)."""
    public_id, visitor_id = verify_visitor_token(ctx, token)
    with ctx.read() as s:
        sess = s.scalar(select(ChatSession).where(ChatSession.public_id == public_id))
        if sess is None or not secrets.compare_digest(sess.visitor_id, visitor_id):
            raise ChatAuthError("invalid chat token")
        s.expunge(sess)
        return sess


# ---------------------------------------------------------------- starting a chat


def start_chat(
    ctx: AppContext,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    topic: str,
    locale: str,
    workspace_id: int = 1,
) -> tuple[ChatSession, str]:
    """Open a chat session from the pre-chat form; returns it and the visitor's signed token.

    The ticket is opened with the first message (so an abandoned form leaves no empty ticket).
    """
    name = (name or "").strip()[:200]
    email = (email or "").strip().lower()[:254] or None
    phone = "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")[:40] or None
    if not name:
        raise InvalidInput("please tell us your name", field="name")
    if email is None and phone is None:
        raise InvalidInput("an email address or a phone number is required", field="email")
    if email is not None and ("@" not in email or " " in email or len(email) < 3):
        raise InvalidInput("invalid email address", field="email")
    if phone is not None and len(phone.lstrip("+")) < 5:
        raise InvalidInput("invalid phone number", field="phone")
    if topic not in TOPICS:
        raise InvalidInput(f"unknown topic {topic!r}", field="topic")
    locale = locale if locale in ("en", "zh-CN") else ctx.settings.default_locale
    sess = ChatSession(
        public_id=secrets.token_urlsafe(18),
        workspace_id=workspace_id,
        status="new",
        visitor_id="v_" + secrets.token_urlsafe(18),
        name=name,
        email=email,
        phone=phone,
        topic=topic,
        locale=locale,
        created_at=utcnow(),
    )
    with ctx.uow() as uow:
        uow.session.add(sess)
        uow.session.flush()
        uow.session.expunge(sess)
    return sess, visitor_token(ctx, sess.public_id, sess.visitor_id)


# ---------------------------------------------------------------- the event log


def append_event(
    s: Session,
    sess_id: int,
    public_id: str,
    kind: str,
    author_type: str,
    data: dict[str, Any],
    *,
    client_id: str | None = None,
    message_id: int | None = None,
    agent_id: int | None = None,
) -> dict[str, Any]:
    """Append one durable event (caller's transaction); returns its wire form.

    The sequence number comes from an UPDATE ... RETURNING on the session row, which also
    serialises concurrent writers of one conversation (row lock on PostgreSQL, the write lock on
    SQLite), so seq numbers are gap-free and unique.
    """
    seq = s.execute(
        update(ChatSession)
        .where(ChatSession.id == sess_id)
        .values(last_seq=ChatSession.last_seq + 1)
        .returning(ChatSession.last_seq)
    ).scalar_one()
    ev = ChatEvent(
        session_id=sess_id,
        seq=seq,
        type=kind,
        author_type=author_type,
        author_agent_id=agent_id,
        client_id=client_id,
        message_id=message_id,
        data=data,
        created_at=utcnow(),
    )
    s.add(ev)
    s.flush()
    return wire_event(ev, public_id)


def wire_event(ev: ChatEvent, public_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ev.type,
        "session": public_id,
        "seq": ev.seq,
        "author": ev.author_type,
        "at": ev.created_at.isoformat(),
    }
    if ev.client_id:
        out["client_id"] = ev.client_id
    if ev.message_id:
        out["message_id"] = ev.message_id
    out.update(ev.data)
    return out


def publish_on_commit(ctx: AppContext, uow: UnitOfWork, public_id: str, ev: dict[str, Any]) -> None:
    uow.on_commit(lambda: ctx.bus.publish(f"chat:{public_id}", ev))


def events_after(
    ctx: AppContext, sess_id: int, public_id: str, after: int, limit: int = 500
) -> list[dict[str, Any]]:
    """Durable events with seq > after, in order (what a reconnecting client missed)."""
    with ctx.read() as s:
        rows = s.scalars(
            select(ChatEvent)
            .where(ChatEvent.session_id == sess_id, ChatEvent.seq > after)
            .order_by(ChatEvent.seq)
            .limit(limit)
        ).all()
        return [wire_event(e, public_id) for e in rows]


def _event_by_client_id(ctx: AppContext, sess_id: int, client_id: str) -> ChatEvent | None:
    with ctx.read() as s:
        return s.scalar(
            select(ChatEvent).where(
                ChatEvent.session_id == sess_id, ChatEvent.client_id == client_id
            )
        )


# ---------------------------------------------------------------- visitor messages


def send_visitor_message(
    ctx: AppContext,
    sess: ChatSession,
    client_id: str,
    body: str,
    attachments: list[InboundAttachment] | None = None,
) -> SendResult:
    """Commit one visitor message (intake pipeline) and its chat event; idempotent per client_id.

    Returns the event's seq: the caller acks only after this returns (i.e. after commit).
    """
    if sess.status == "ended":
        raise Conflict("this chat has ended; start a new one", field="session")
    label_en, label_zh = TOPIC_LABELS[sess.topic]
    msg = InboundMessage(
        channel=Channel.CHAT,
        body=body,
        subject=f"Chat: {label_zh if sess.locale == 'zh-CN' else label_en}",
        email=sess.email,
        phone=sess.phone,
        name=sess.name,
        locale=sess.locale,
        visitor_id=sess.visitor_id,
        idempotency_key=f"{sess.public_id}:{client_id}",
        ticket_id=sess.ticket_id,
        category=TOPIC_CATEGORY.get(sess.topic),
        metadata={
            "thread_ref": f"chat:{sess.public_id}",
            "chat_session": sess.id,
            "chat_client_id": client_id,
        },
        attachments=attachments or [],
    )
    try:
        res = intake.receive(ctx, msg)
        seq = _COMMITTED.pop((sess.id, client_id), None)
    finally:
        _COMMITTED.pop((sess.id, client_id), None)
    if res.action == "duplicate" or seq is None:
        ev = _event_by_client_id(ctx, sess.id, client_id)
        if ev is None:  # the message exists but under another session: refuse, never re-store
            raise Conflict("this message id was already used", field="client_id")
        return SendResult(ev.seq, ev.message_id, True, res.ticket_id)
    sess.ticket_id = res.ticket_id
    return SendResult(seq, res.message_id, False, res.ticket_id)


_CHAT_EVENT = ChatEvent.__table__
_CS = ChatSession.__table__
# built once (a statement per message cost more to construct than to run)
_NEXT_SEQ = (
    update(_CS)
    .where(_CS.c.id == bindparam("sid"), _CS.c.status != "ended")
    .values(last_seq=_CS.c.last_seq + 1, ticket_id=bindparam("tid"), customer_id=bindparam("cid"))
    .returning(_CS.c.last_seq, _CS.c.status, _CS.c.public_id, _CS.c.name)
)


def _after_intake(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    message: Any,
    inbound: InboundMessage,
    created: bool,
) -> None:
    """Intake hook: a chat message also becomes the next event of its chat session.

    One statement on the hot path: an UPDATE ... RETURNING (next seq, ticket link, and the
    "ended" check, atomically); the event row is deferred into the batch's multi-row INSERT."""
    sess_id = inbound.metadata.get("chat_session") if inbound.metadata else None
    if inbound.channel != Channel.CHAT or not isinstance(sess_id, int):
        return
    s = uow.session
    row = (
        s.connection()
        .execute(_NEXT_SEQ, {"sid": sess_id, "tid": ticket.id, "cid": ticket.customer_id})
        .first()
    )
    if row is None:  # rolls the whole message back: nothing is stored for an ended chat
        raise Conflict("this chat has ended; start a new one", field="session")
    atts: list[dict[str, Any]] = []
    if inbound.attachments:
        rows = s.scalars(select(Attachment).where(Attachment.message_id == message.id))
        atts = [{"id": a.id, "filename": a.filename, "size": a.size} for a in rows]
    client_id = str(inbound.metadata.get("chat_client_id"))
    now = utcnow()
    data = {"body": message.body, "author_name": row.name, "attachments": atts}
    # written with the batch's other deferred rows in one INSERT just before the commit
    uow.defer_insert(
        _CHAT_EVENT,
        {
            "session_id": sess_id,
            "seq": row.last_seq,
            "type": "message",
            "author_type": AuthorType.CUSTOMER.value,
            "client_id": client_id,
            "message_id": message.id,
            "data": data,
            "created_at": now,
        },
    )
    ev = {
        "type": "message",
        "session": row.public_id,
        "seq": row.last_seq,
        "author": "customer",
        "at": now.isoformat(),
        "client_id": client_id,
        "message_id": message.id,
        **data,
    }
    _COMMITTED[(sess_id, client_id)] = row.last_seq
    publish_on_commit(ctx, uow, row.public_id, ev)
    if row.status == "new":
        from paydesk.services.presence import route_new_chat

        sess = s.get(ChatSession, sess_id)
        assert sess is not None
        route_new_chat(ctx, uow, sess, ticket)


# seq of a visitor message, handed from the intake hook (which may run in intake's batch-writer
# thread) to send_visitor_message; popped by the caller, so it stays small
_COMMITTED: dict[tuple[int, str], int] = {}


# ---------------------------------------------------------------- agent messages


def agent_send(
    ctx: AppContext, actor: Actor, public_id: str, client_id: str, body: str
) -> SendResult:
    """An agent's chat message: a public reply on the chat's ticket plus a chat event.

    Only the agent who holds the chat may write in it; a retry with the same client_id returns
    the first result and stores nothing.
    """
    from paydesk.services.tickets import add_agent_message

    sess = get_session(ctx, public_id)
    ev = _event_by_client_id(ctx, sess.id, client_id)
    if ev is not None:
        return SendResult(ev.seq, ev.message_id, True, sess.ticket_id)
    if sess.status != "active" or sess.agent_id != actor.id or sess.ticket_id is None:
        raise Conflict("accept the chat before writing in it", field="session")
    token = _AGENT_SEND.set((sess.id, client_id))
    try:
        add_agent_message(ctx, actor, sess.ticket_id, body, channel=Channel.CHAT.value)
    except IntegrityError:  # a concurrent retry committed first
        pass
    finally:
        _AGENT_SEND.reset(token)
    ev = _event_by_client_id(ctx, sess.id, client_id)
    if ev is None:
        raise Conflict("the message could not be stored", field="client_id")
    return SendResult(ev.seq, ev.message_id, False, sess.ticket_id)


def _after_agent_message(
    ctx: AppContext, uow: UnitOfWork, ticket: Ticket, message: Message
) -> None:
    """A public agent reply on a ticket with an open chat also goes to the chat (also replies
    written on the ticket page while the visitor is still connected)."""
    if message.internal:
        return
    s = uow.session
    pending = _AGENT_SEND.get()
    if pending is not None:
        sess = s.get(ChatSession, pending[0])
        client_id: str | None = pending[1]
    else:
        if message.channel != Channel.CHAT.value:
            return
        sess = s.scalar(
            select(ChatSession)
            .where(ChatSession.ticket_id == ticket.id, ChatSession.status.in_(OPEN_STATES))
            .order_by(ChatSession.id.desc())
            .limit(1)
        )
        client_id = None
    if sess is None:
        return
    ev = append_event(
        s,
        sess.id,
        sess.public_id,
        "message",
        message.author_type,
        {"body": message.body, "author_name": (message.meta or {}).get("author_name", "")},
        client_id=client_id,
        message_id=message.id,
        agent_id=message.author_agent_id,
    )
    publish_on_commit(ctx, uow, sess.public_id, ev)


# ---------------------------------------------------------------- bot (assistant) messages


def bot_message(
    ctx: AppContext,
    uow: UnitOfWork,
    sess: ChatSession,
    body: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bot/system message: a ticket message (same timeline) and a chat event."""
    s = uow.session
    msg_id = None
    if sess.ticket_id is not None:
        m = Message(
            ticket_id=sess.ticket_id,
            author_type=AuthorType.BOT.value,
            channel=Channel.CHAT.value,
            body=body,
            internal=False,
            meta={"author_name": "TOPAY Assistant"},
            created_at=utcnow(),
        )
        s.add(m)
        s.flush()
        msg_id = m.id
    ev = append_event(
        s,
        sess.id,
        sess.public_id,
        "message",
        AuthorType.BOT.value,
        {"body": body, "author_name": "TOPAY Assistant", **(data or {})},
        message_id=msg_id,
    )
    publish_on_commit(ctx, uow, sess.public_id, ev)
    return ev


def run_assistant(ctx: AppContext, public_id: str, text: str) -> None:
    """While the chat is with the bot, the registered assistant answers; on handoff (or when it
    fails) the chat is queued for a human. No assistant: nothing to do (routing did it)."""
    from paydesk.services.presence import queue_for_human

    fn = ctx.extras.get("assistant_answer")
    sess = get_session(ctx, public_id)
    if fn is None or sess.status != "bot":
        return
    try:
        answer = fn(ctx, text, sess.locale) or {}
    except Exception:  # noqa: BLE001 - a broken assistant must not strand the customer
        answer = {"handoff": True, "reply": ""}
    with ctx.uow() as uow:
        locked = uow.session.get(ChatSession, sess.id)
        assert locked is not None
        if answer.get("reply"):
            arts = [
                {"id": a.get("id"), "title": a.get("title")}
                for a in (answer.get("articles") or [])[:3]
                if isinstance(a, dict)
            ]
            bot_message(ctx, uow, locked, str(answer["reply"])[:4000], {"articles": arts})
        if answer.get("handoff"):
            queue_for_human(ctx, uow, locked)


# ---------------------------------------------------------------- reading


def get_session(ctx: AppContext, public_id: str) -> ChatSession:
    with ctx.read() as s:
        sess = s.scalar(select(ChatSession).where(ChatSession.public_id == public_id))
        if sess is None:
            raise NotFound("chat not found")
        s.expunge(sess)
        return sess


def session_public(sess: ChatSession, agent_name: str | None = None) -> dict[str, Any]:
    return {
        "session": sess.public_id,
        "status": sess.status,
        "name": sess.name,
        "topic": sess.topic,
        "locale": sess.locale,
        "ticket_id": sess.ticket_id,
        "queue_id": sess.queue_id,
        "agent_id": sess.agent_id,
        "agent_name": agent_name,
        "last_seq": sess.last_seq,
        "visitor_read_seq": sess.visitor_read_seq,
        "agent_read_seq": sess.agent_read_seq,
        "created_at": sess.created_at.isoformat(),
    }


def mark_read(ctx: AppContext, sess_id: int, side: str, seq: int) -> int:
    """Move the visitor's or the agent's read marker forward (never back); returns it."""
    col = ChatSession.visitor_read_seq if side == "visitor" else ChatSession.agent_read_seq
    with ctx.uow() as uow:
        uow.session.execute(
            update(ChatSession)
            .where(ChatSession.id == sess_id, col < seq, ChatSession.last_seq >= seq)
            .values({col: seq})
        )
        value = uow.session.scalar(select(col).where(ChatSession.id == sess_id))
    return int(value or 0)


def install(ctx: AppContext) -> None:
    """Plug live chat into the intake and agent-reply pipelines; presence store per process."""
    from paydesk.realtime.presence import make_presence

    ctx.extras["presence"] = make_presence(ctx.settings.redis_url, ctx.settings.redis_prefix)
    ctx.after_intake.append(_after_intake)
    ctx.after_agent_message.append(_after_agent_message)
