"""Live-chat WebSockets: /ws/chat (visitors, signed token) and /ws/agent-chat (console session).

One writer task per socket drains an outbox, so frames from the reader (acks, errors) and from
the bus (events) never interleave mid-write. Durable events are delivered in seq order with no
gap and no repeat: on (re)connect the socket subscribes first, then replays the log after the
client's last seq, then forwards live events, skipping seqs already sent and re-reading the log
when it sees a gap. The protocol is documented in docs/subsystems/live-chat.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from paydesk.channels.chat import Frame, ProtocolError, error_event, parse_frame
from paydesk.domain.errors import DomainError
from paydesk.realtime.bus import Subscription
from paydesk.services import chat as chat_svc
from paydesk.services import presence as presence_svc
from paydesk.services.context import AppContext
from paydesk.web.pools import intake_pool
from paydesk.web.sessions import STAFF_COOKIE

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT = 10.0
HEARTBEAT_SECONDS = 25.0
QUEUE_POLL_SECONDS = 10.0
RATE = 5.0  # visitor messages per second, sustained
BURST = 20.0
MAX_STRIKES = 30  # refused frames before the socket is closed (4429)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_RATE = 4429


class Bucket:
    """Token bucket per visitor (shared by that visitor's sockets on this process)."""

    def __init__(self) -> None:
        self.tokens = BURST
        self.at = time.monotonic()

    def take(self) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) * RATE)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / RATE


class Stream:
    """Gap-free, duplicate-free delivery of one chat's durable events to one socket."""

    def __init__(self, ctx: AppContext, sess_id: int, public_id: str, upto: int) -> None:
        self.ctx, self.sess_id, self.public_id, self.upto = ctx, sess_id, public_id, upto

    async def catch_up(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            batch = await asyncio.to_thread(
                chat_svc.events_after, self.ctx, self.sess_id, self.public_id, self.upto
            )
            out.extend(batch)
            if batch:
                self.upto = batch[-1]["seq"]
            if len(batch) < 500:
                return out

    def offer(self, ev: dict[str, Any]) -> list[dict[str, Any]] | None:
        """What to send for a live event, or None when it reveals a gap (then `catch_up`)."""
        seq = ev.get("seq")
        if not isinstance(seq, int):
            return [ev]  # ephemeral (typing, read, queue): no seq, delivered as is
        if seq <= self.upto:
            return []
        if seq == self.upto + 1:
            self.upto = seq
            return [ev]
        return None

    async def accept(self, ev: dict[str, Any]) -> list[dict[str, Any]]:
        got = self.offer(ev)
        return await self.catch_up() if got is None else got  # a gap: the log has it


class Conn:
    """Outbox of one socket. Frames go out in order from a flush task that exists only while
    there is something to send, so an idle socket costs no task. `close()` stops the socket's
    own task (which reads the socket): it then sends what is queued and closes."""

    __slots__ = ("ws", "out", "flushing", "closed", "close_code", "owner")

    LIMIT = 2000  # frames queued for a client that does not read: cut it, it will resume

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        # frames waiting for the socket; made when there is one (an idle socket holds none)
        self.out: deque[dict[str, Any]] | None = None
        self.flushing: asyncio.Task[None] | None = None
        self.closed = False
        self.close_code = 1000
        self.owner: asyncio.Task[Any] | None = None

    def send(self, ev: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.out is None:
            self.out = deque()
        elif len(self.out) >= self.LIMIT:
            self.close(1013)
            return
        self.out.append(ev)
        if self.flushing is None:
            self.flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.out:
                await self.ws.send_text(orjson.dumps(self.out.popleft()).decode())
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.close(self.close_code)  # the peer is gone
        finally:
            self.out = None
            self.flushing = None

    def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed, self.close_code = True, code
        owner = self.owner
        if owner is not None and owner is not asyncio.current_task():
            owner.cancel()


async def _pump(sub: Subscription, fn: Any) -> None:
    while True:
        await fn(await sub.get())


async def _run(conn: Conn, reader: Any, extra: Sequence[asyncio.Task[Any]] = ()) -> None:
    """Read the socket in this (its own) task until it ends or `conn.close()`; then send what
    is queued (an error before a close code) and close."""
    me = asyncio.current_task()
    conn.owner = me
    try:
        if not conn.closed:  # closed already while it was being set up
            await reader()
    except asyncio.CancelledError:
        if not conn.closed or me is None:
            raise  # not ours: the server is stopping
        me.uncancel()
    finally:
        conn.owner = None
        for t in extra:
            t.cancel()
        code = conn.close_code
        conn.closed = True
        if conn.flushing is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.flushing), 2)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)


class _Ticker:
    """One task per event loop for every visitor socket's heartbeat and queue updates (instead
    of a sleeping task per socket): waiting visitors hear of a new queue position (checked every
    QUEUE_POLL_SECONDS against the per-process snapshot), every socket gets a ping every
    HEARTBEAT_SECONDS. An unchanged position is not sent again: with thousands of waiting
    visitors that was a burst of thousands of frames every interval. Each socket has its own
    phase (from its identity), so every tick serves an even share of the sockets instead of all
    of them every Nth tick (5,000 pings at once stalled the loop's messages)."""

    TICK = 1.0
    SLICE = 256  # sockets served per turn of the event loop
    _by_loop: dict[asyncio.AbstractEventLoop, _Ticker] = {}

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.members: dict[int, tuple[Conn, dict[str, Any], int]] = {}
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def join(cls, ctx: AppContext, conn: Conn, state: dict[str, Any], sess_id: int) -> None:
        loop = asyncio.get_running_loop()
        ticker = cls._by_loop.get(loop)
        if ticker is None or ticker.ctx is not ctx:
            ticker = cls._by_loop[loop] = cls(ctx)
        ticker.members[id(conn)] = (conn, state, sess_id)
        if ticker.task is None:
            ticker.task = loop.create_task(ticker._loop())

    @classmethod
    def leave(cls, conn: Conn) -> None:
        with contextlib.suppress(RuntimeError):
            ticker = cls._by_loop.get(asyncio.get_running_loop())
            if ticker is not None:
                ticker.members.pop(id(conn), None)

    async def _loop(self) -> None:
        n = 0
        queue_every = max(1, round(QUEUE_POLL_SECONDS / self.TICK))
        ping_every = max(1, round(HEARTBEAT_SECONDS / self.TICK))
        try:
            while self.members:
                await asyncio.sleep(self.TICK)
                n += 1
                for k, (conn, state, sess_id) in enumerate(list(self.members.values())):
                    if k % self.SLICE == self.SLICE - 1:
                        await asyncio.sleep(0)  # thousands of sockets: let messages through
                    if conn.closed:
                        continue
                    phase = n + (id(conn) >> 4)  # objects are 16-byte aligned
                    try:
                        if state["status"] in presence_svc.WAITING and phase % queue_every == 0:
                            pos = await _queue_position(self.ctx, sess_id)
                            # a new position (or wait) is news; an unchanged one only a heartbeat
                            if pos is not None and pos != state.get("queue"):
                                state["queue"] = pos
                                conn.send({"type": "queue", **pos})
                                continue
                        if phase % ping_every == 0:
                            conn.send({"type": "ping", "at": time.time()})
                    except Exception:  # one socket's trouble never stops the others' heartbeat
                        log.exception("chat heartbeat failed for one socket")
        finally:
            self.task = None
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                if self._by_loop.get(loop) is self and not self.members:
                    del self._by_loop[loop]


async def _first_frame(ws: WebSocket, role: str) -> Frame | None:
    try:
        raw = await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT)
        frame = parse_frame(raw, role)
    except ProtocolError as err:
        await ws.send_text(orjson.dumps(error_event(err)).decode())
        await ws.close(code=err.close_code if err.fatal else 1008)
        return None
    except (TimeoutError, WebSocketDisconnect, RuntimeError, KeyError):
        with contextlib.suppress(Exception):
            await ws.close(code=1008)
        return None
    if frame.type != "hello":
        await ws.send_text(
            orjson.dumps(
                {"type": "error", "code": "hello_first", "message": "the first frame must be hello"}
            ).decode()
        )
        await ws.close(code=1008)
        return None
    return frame


# ---------------------------------------------------------------- visitors


@router.websocket("/ws/chat")
async def visitor_socket(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    hello = await _first_frame(websocket, "visitor")
    if hello is None:
        return
    try:
        sess = await asyncio.to_thread(chat_svc.load_visitor_session, ctx, hello.data["token"])
    except DomainError as err:
        await websocket.send_text(
            orjson.dumps(
                {"type": "error", "code": "unauthenticated", "message": err.message}
            ).decode()
        )
        await websocket.close(code=CLOSE_UNAUTHENTICATED)
        return
    if hello.data.get("session") not in (None, sess.public_id):
        # a token opens exactly one conversation: asking for another one is refused
        await websocket.send_text(
            orjson.dumps(
                {"type": "error", "code": "forbidden", "message": "not your conversation"}
            ).decode()
        )
        await websocket.close(code=CLOSE_FORBIDDEN)
        return
    conn = Conn(websocket)
    stream = Stream(ctx, sess.id, sess.public_id, min(hello.data["last_seq"], sess.last_seq))
    buckets: dict[str, Bucket] = ctx.extras.setdefault("_chat_buckets", {})
    if len(buckets) > 20_000:  # bounded: forget visitors whose bucket has refilled anyway
        idle = time.monotonic() - BURST / RATE
        for key in [k for k, b in buckets.items() if b.at < idle]:
            buckets.pop(key, None)
    bucket = buckets.setdefault(sess.visitor_id, Bucket())
    strikes = 0
    state: dict[str, Any] = {"status": sess.status}
    # live events wait here while the log is being read (at connect, or after a gap)
    held: deque[dict[str, Any]] | None = deque()

    def on_event(ev: dict[str, Any]) -> None:  # in the loop, from the bus: no task per socket
        nonlocal held
        if ev.get("type") in ("joined", "ended", "queued", "transferred"):
            state["status"] = {
                "joined": "active",
                "ended": "ended",
                "queued": "waiting",
                "transferred": state["status"],
            }[ev["type"]]
        elif ev.get("offline") is True and ev.get("author") == "bot":
            state["status"] = "offline"  # the promise: no agent now, the assistant has handed off
        if ev.get("type") == "typing" and ev.get("author") == "customer":
            return  # the visitor's own typing is not echoed
        if held is not None:
            held.append(ev)
            return
        got = stream.offer(ev)
        if got is None:  # a gap: read the log (in a task), holding what arrives meanwhile
            held = deque([ev])
            asyncio.get_running_loop().create_task(catch_up())
            return
        for e in got:
            conn.send(e)

    async def catch_up() -> None:
        """Send the log after the last sent seq, then the held live events, in order."""
        nonlocal held
        try:
            for e in await stream.catch_up():
                conn.send(e)
            while held:
                for e in await stream.accept(held.popleft()):
                    conn.send(e)
        except Exception:  # the client resumes from its last seq on reconnect
            log.exception("chat catch-up failed")
            conn.close(1011)
        finally:
            held = None

    # subscribed before the replay: nothing falls between the log and the live events
    sub = ctx.bus.subscribe(f"chat:{sess.public_id}", on_event=on_event)

    async def reader() -> None:
        nonlocal strikes
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                raw = await websocket.receive_text()
                try:
                    frame = parse_frame(raw, "visitor")
                    await handle(frame)
                except ProtocolError as err:
                    conn.send(error_event(err))
                    if err.fatal:
                        conn.close(err.close_code)
                        return
                    strikes += 1
                except DomainError as err:
                    conn.send(
                        {
                            "type": "error",
                            "code": err.code,
                            "message": err.message,
                            "client_id": getattr(err, "client_id", None),
                        }
                    )
                if strikes > MAX_STRIKES:
                    conn.close(CLOSE_RATE)
                    return

    sends: deque[Frame] = deque()
    sender: asyncio.Task[None] | None = None  # exists only while messages wait to be written
    assistant_tasks: set[asyncio.Task[None]] = set()

    def too_fast(cid: str, retry_after: float) -> None:
        nonlocal strikes
        strikes += 1
        conn.send(
            {
                "type": "error",
                "code": "rate_limited",
                "client_id": cid,
                "retry_after": retry_after,
                "message": "you are sending too fast",
            }
        )

    async def handle(frame: Frame) -> None:
        nonlocal sender
        if frame.type == "send":
            wait = bucket.take()
            if wait:
                too_fast(frame.data["client_id"], round(wait, 2))
                return
            # the limit applies when frames arrive, not when their writes finish
            if len(sends) >= BURST:
                too_fast(frame.data["client_id"], 1.0)
                return
            sends.append(frame)
            if sender is None:
                sender = asyncio.get_running_loop().create_task(send_all())
        elif frame.type == "typing":
            ctx.bus.publish(
                f"chat:{sess.public_id}",
                {
                    "type": "typing",
                    "author": "customer",
                    "session": sess.public_id,
                    "on": frame.data["on"],
                },
            )
        elif frame.type == "read":
            seq = await asyncio.to_thread(
                chat_svc.mark_read, ctx, sess.id, "visitor", frame.data["seq"]
            )
            ctx.bus.publish(
                f"chat:{sess.public_id}",
                {"type": "read", "author": "customer", "session": sess.public_id, "upto": seq},
            )
        elif frame.type == "human":  # "talk to a person": leave the assistant for the queue
            await asyncio.to_thread(presence_svc.request_human, ctx, sess.public_id)
        elif frame.type == "end":
            await asyncio.to_thread(presence_svc.end_chat, ctx, sess.public_id)
        elif frame.type == "ping":
            conn.send({"type": "pong", "at": time.time()})
        elif frame.type == "hello":
            raise ProtocolError("already_authenticated", "hello was already received")

    async def send_all() -> None:
        """Commits this visitor's messages one at a time, in order; acks after each commit."""
        nonlocal sender
        try:
            while sends:
                await send_one(sends.popleft())
        finally:
            sender = None

    async def send_one(frame: Frame) -> None:
        cid = frame.data["client_id"]
        try:
            res = await asyncio.get_running_loop().run_in_executor(
                intake_pool(), chat_svc.send_visitor_message, ctx, sess, cid, frame.data["body"]
            )
        except DomainError as err:
            conn.send({"type": "error", "code": err.code, "message": err.message, "client_id": cid})
            return
        sess.ticket_id = res.ticket_id
        conn.send(
            {
                "type": "ack",
                "client_id": cid,
                "seq": res.seq,
                "message_id": res.message_id,
                "duplicate": res.duplicate,
            }
        )
        # only a chat not yet handed to people gets an answer (run_assistant re-checks it
        # in the database); after a handoff no message pays for that read
        if (
            not res.duplicate
            and state["status"] in ("new", "bot")
            and ctx.extras.get("assistant_answer") is not None
        ):
            task = asyncio.create_task(
                asyncio.to_thread(chat_svc.run_assistant, ctx, sess.public_id, frame.data["body"])
            )
            assistant_tasks.add(task)
            task.add_done_callback(assistant_tasks.discard)

    try:
        fresh = await asyncio.to_thread(chat_svc.get_session, ctx, sess.public_id)
        state["status"] = fresh.status
        welcome = {"type": "welcome", **chat_svc.session_public(fresh)}
        welcome.pop("ticket_id", None)
        welcome.pop("queue_id", None)
        pos = await _queue_position(ctx, sess.id)
        if pos:
            welcome["queue"] = state["queue"] = pos
        conn.send(welcome)
        del fresh, welcome, hello  # not needed while the socket stays open
        await catch_up()  # the log after the client's last seq, then what arrived meanwhile
        _Ticker.join(ctx, conn, state, sess.id)
        await _run(conn, reader)
    finally:
        sub.close()
        _Ticker.leave(conn)
        if sender is not None:
            sender.cancel()


# ---------------------------------------------------------------- agents


_AGENT_SOCKETS: dict[int, int] = {}  # agent id -> sockets open on this process


@router.websocket("/ws/agent-chat")
async def agent_socket(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    from paydesk.services.auth import resolve_session

    raw = websocket.cookies.get(STAFF_COOKIE, "")
    info = await asyncio.to_thread(resolve_session, ctx, raw) if raw else None
    if info is None or not info.actor.is_staff or info.mfa_pending or info.actor.id is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED)
        return
    base_actor = info.actor
    await websocket.accept()
    hello = await _first_frame(websocket, "agent")
    if hello is None:
        return
    actor = base_actor
    agent_id = int(actor.id or 0)
    conn = Conn(websocket)
    streams: dict[str, tuple[Stream, Subscription, asyncio.Task[None]]] = {}
    queue_sub = ctx.bus.subscribe(
        presence_svc.queue_topic(actor.workspace_id), f"chatagent:{agent_id}"
    )
    presence: dict[str, Any] = {"status": "online", "capacity": None}
    _AGENT_SOCKETS[agent_id] = _AGENT_SOCKETS.get(agent_id, 0) + 1

    async def watch(public_id: str, after: int) -> None:
        sess = await asyncio.to_thread(presence_svc.access_chat, ctx, actor, public_id)
        if public_id in streams:
            return
        stream = Stream(ctx, sess.id, public_id, min(after, sess.last_seq))
        sub = ctx.bus.subscribe(f"chat:{public_id}")

        async def fwd(ev: dict[str, Any]) -> None:
            if ev.get("type") == "typing" and ev.get("author") != "customer":
                return
            for e in await stream.accept(ev):
                conn.send(e)

        conn.send({"type": "watching", **chat_svc.session_public(sess)})
        for e in await stream.catch_up():
            conn.send(e)
        streams[public_id] = (stream, sub, asyncio.create_task(_pump(sub, fwd)))

    def unwatch(public_id: str) -> None:
        item = streams.pop(public_id, None)
        if item:
            item[1].close()
            item[2].cancel()

    async def on_queue(ev: dict[str, Any]) -> None:
        conn.send(ev)
        if ev.get("type") == "transferred_to_you":
            await watch(ev["session"], 0)

    async def handle(frame: Frame) -> None:
        d = frame.data
        if frame.type == "hello":
            raise ProtocolError("already_authenticated", "hello was already received")
        if frame.type == "ping":
            conn.send({"type": "pong", "at": time.time()})
        elif frame.type == "watch":
            await watch(frame.session, d["after"])
        elif frame.type == "unwatch":
            unwatch(frame.session)
        elif frame.type == "accept":
            sess = await asyncio.to_thread(presence_svc.accept_chat, ctx, actor, frame.session)
            conn.send({"type": "accepted", "session": sess.public_id})
            await watch(sess.public_id, 0)
        elif frame.type == "send":
            res = await asyncio.to_thread(
                chat_svc.agent_send, ctx, actor, frame.session, d["client_id"], d["body"]
            )
            conn.send(
                {
                    "type": "ack",
                    "session": frame.session,
                    "client_id": d["client_id"],
                    "seq": res.seq,
                    "message_id": res.message_id,
                    "duplicate": res.duplicate,
                }
            )
        elif frame.type == "typing":
            if frame.session in streams:
                ctx.bus.publish(
                    f"chat:{frame.session}",
                    {"type": "typing", "author": "agent", "session": frame.session, "on": d["on"]},
                )
        elif frame.type == "read":
            item = streams.get(frame.session)
            if item is not None:
                seq = await asyncio.to_thread(
                    chat_svc.mark_read, ctx, item[0].sess_id, "agent", d["seq"]
                )
                ctx.bus.publish(
                    f"chat:{frame.session}",
                    {"type": "read", "author": "agent", "session": frame.session, "upto": seq},
                )
        elif frame.type == "transfer":
            await asyncio.to_thread(
                presence_svc.transfer_chat,
                ctx,
                actor,
                frame.session,
                agent_id=d.get("agent_id"),
                queue=d.get("queue"),
            )
            conn.send({"type": "transferred_away", "session": frame.session})
        elif frame.type == "end":
            await asyncio.to_thread(presence_svc.end_chat, ctx, frame.session, actor=actor)
        elif frame.type in ("presence", "capacity"):
            if frame.type == "presence":
                presence["status"] = d["status"]
            else:
                presence["capacity"] = d["value"]
            got = await asyncio.to_thread(
                presence_svc.set_presence, ctx, actor, str(presence["status"]), presence["capacity"]
            )
            conn.send({"type": "presence_set", "agent_id": agent_id, **got})

    async def reader() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                raw = await websocket.receive_text()
                try:
                    await handle(parse_frame(raw, "agent"))
                except ProtocolError as err:
                    conn.send(error_event(err))
                    if err.fatal:
                        conn.close(err.close_code)
                        return
                except DomainError as err:
                    conn.send(
                        {
                            "type": "error",
                            "code": err.code,
                            "message": err.message,
                            "session": raw and _session_of(raw),
                        }
                    )

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if presence["status"] != "offline":  # keeps the presence entry from expiring
                await asyncio.to_thread(
                    presence_svc.set_presence, ctx, actor, str(presence["status"]), None
                )
            conn.send({"type": "ping", "at": time.time()})

    try:
        queue_ids = await asyncio.to_thread(presence_svc.agent_queue_ids, ctx, agent_id)
        actor = _with_queues(base_actor, queue_ids)
        wanted = hello.data.get("status", "online")
        presence["status"] = wanted if wanted in ("online", "away", "offline") else "online"
        got = await asyncio.to_thread(
            presence_svc.set_presence, ctx, actor, str(presence["status"]), None
        )
        mine = await asyncio.to_thread(presence_svc.my_chats, ctx, actor)
        waiting = await asyncio.to_thread(presence_svc.waiting_chats, ctx, actor)
        conn.send(
            {
                "type": "welcome",
                "agent_id": agent_id,
                "name": actor.name,
                "presence": got,
                "mine": mine,
                "waiting": waiting,
            }
        )
        pump = asyncio.create_task(_pump(queue_sub, on_queue))
        await _run(conn, reader, [pump, asyncio.create_task(heartbeat())])
    finally:
        queue_sub.close()
        for pid in list(streams):
            unwatch(pid)
        _AGENT_SOCKETS[agent_id] -= 1
        if _AGENT_SOCKETS[agent_id] <= 0:
            _AGENT_SOCKETS.pop(agent_id, None)
            # the agent's last socket on this process: they are gone until they reconnect
            with contextlib.suppress(Exception):
                presence_svc.presence_store(ctx).remove(actor.workspace_id, agent_id)


async def _queue_position(ctx: AppContext, sess_id: int) -> dict[str, Any] | None:
    """From the per-process snapshot; when it is stale one socket refreshes it (in a thread)
    while the others wait, so thousands of waiting visitors cost one query per interval."""
    got = presence_svc.cached_queue_position(ctx, sess_id)
    if got is False:
        lock: asyncio.Lock = ctx.extras.setdefault("_queue_snapshot_alock", asyncio.Lock())
        async with lock:
            got = presence_svc.cached_queue_position(ctx, sess_id)
            if got is False:
                return await asyncio.to_thread(presence_svc.queue_position, ctx, sess_id)
    return got if isinstance(got, dict) else None


def _with_queues(actor: Any, queue_ids: list[int]) -> Any:
    import dataclasses

    return dataclasses.replace(actor, queue_ids=frozenset(queue_ids) | actor.queue_ids)


def _session_of(raw: str) -> str | None:
    with contextlib.suppress(Exception):
        v = orjson.loads(raw).get("session")
        return v if isinstance(v, str) else None
    return None
