"""Visitor side of /ws/chat over a real server: ack after commit, idempotent retries, resume by
seq, bad input (forged/expired token, another conversation, junk frames, oversize, flood)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from tests.channels.chat.conftest import Client, agent, agent_cookie, start_chat, visitor, ws_url

from paydesk.services.context import AppContext
from paydesk.store.chat import ChatEvent
from paydesk.store.tickets import Message, Ticket


def count_messages(ctx: AppContext, ticket_id: int | None = None) -> int:
    with ctx.read() as s:
        stmt = select(func.count()).select_from(Message)
        if ticket_id is not None:
            stmt = stmt.where(Message.ticket_id == ticket_id)
        return int(s.scalar(stmt) or 0)


async def closed_with(c: Client) -> int:
    with pytest.raises(websockets.ConnectionClosed) as info:
        for _ in range(20):
            await c.recv()
    assert info.value.rcvd is not None
    return int(info.value.rcvd.code)


def test_send_ack_after_commit_and_retry_never_duplicates(ctx: AppContext, live: str) -> None:
    chat = start_chat(live)

    async def run() -> None:
        v = await visitor(live, chat["token"])
        welcome = await v.expect("welcome")
        assert welcome["session"] == chat["session"] and welcome["last_seq"] == 0
        await v.send(type="send", client_id="m-1", body="My refund has not arrived")
        ack = await v.expect("ack")
        assert ack["client_id"] == "m-1" and ack["seq"] >= 1 and not ack["duplicate"]
        # committed before the ack: the ticket and its chat message exist
        with ctx.read() as s:
            msg = s.get(Message, ack["message_id"])
            assert msg is not None and msg.channel == "chat"
            t = s.get(Ticket, msg.ticket_id)
            assert t is not None and t.channel == "chat"
        await v.send(type="send", client_id="m-1", body="My refund has not arrived")
        again = await v.expect("ack")
        assert (again["seq"], again["message_id"], again["duplicate"]) == (
            ack["seq"],
            ack["message_id"],
            True,
        )
        await v.close()
        # a reconnect with the same id after a drop: still one message
        v2 = await visitor(live, chat["token"], last_seq=ack["seq"])
        await v2.expect("welcome")
        await v2.send(type="send", client_id="m-1", body="My refund has not arrived")
        assert (await v2.expect("ack"))["duplicate"] is True
        await v2.close()
        assert count_messages(ctx, msg.ticket_id) == 2  # the message + the offline promise

    asyncio.run(run())


def test_resume_delivers_exactly_what_was_missed(ctx: AppContext, live: str) -> None:
    _, cookie = agent_cookie(ctx, role="supervisor")
    chat = start_chat(live)

    async def run() -> None:
        a = await agent(live, cookie)
        await a.expect("welcome")
        v = await visitor(live, chat["token"])
        await v.expect("welcome")
        await v.send(type="send", client_id="c1", body="hello")
        await v.expect("ack")
        offer = await a.expect("offer", session=chat["session"])
        assert offer["status"] == "waiting"
        await a.send(type="accept", session=chat["session"])
        await a.expect("accepted")
        joined = await v.expect("joined")
        seen = joined["seq"]
        await v.close()  # the visitor drops; the agent keeps writing
        for i in range(5):
            await a.send(type="send", session=chat["session"], client_id=f"a{i}", body=f"reply {i}")
            await a.expect("ack", client_id=f"a{i}")
        v = await visitor(live, chat["token"], last_seq=seen)
        w = await v.expect("welcome")
        got = [await v.expect("message") for _ in range(5)]
        assert [e["body"] for e in got] == [f"reply {i}" for i in range(5)]
        assert (
            [e["seq"] for e in got]
            == list(range(seen + 1, seen + 6))
            == list(range(seen + 1, w["last_seq"] + 1))
        )
        # live from here on, no repeats of what was replayed
        await a.send(type="send", session=chat["session"], client_id="a-live", body="live")
        nxt = await v.expect("message")
        assert (nxt["body"], nxt["seq"]) == ("live", seen + 6)
        await a.close()
        await v.close()

    asyncio.run(run())


def test_forged_expired_and_foreign_tokens_are_refused(ctx: AppContext, live: str) -> None:
    mine = start_chat(live)
    other = start_chat(live, name="Bob", email="bob@example.com")
    old = URLSafeTimedSerializer(
        ctx.settings.resolved_secret(),
        salt="paydesk.chat.visitor",
        signer=type(
            "Old", (TimestampSigner,), {"get_timestamp": lambda self: int(time.time()) - 8 * 86400}
        ),
    )
    import paydesk.services.chat as chat_svc

    sess = chat_svc.get_session(ctx, mine["session"])
    expired = old.dumps({"s": sess.public_id, "v": sess.visitor_id})

    async def run() -> None:
        c = await visitor(live, mine["token"][:-3] + "abc")
        assert (await c.expect("error"))["code"] == "unauthenticated"
        assert await closed_with(c) == 4401
        c = await visitor(live, expired)
        err = await c.expect("error")
        assert "expired" in err["message"]
        assert await closed_with(c) == 4401
        c = await visitor(live, mine["token"], session=other["session"])
        assert (await c.expect("error"))["code"] == "forbidden"
        assert await closed_with(c) == 4403
        # the first frame must be hello
        ws = await websockets.connect(ws_url(live, "/ws/chat"))
        c = Client(ws)
        await c.send(type="send", client_id="x", body="hi")
        assert (await c.expect("error"))["code"] == "hello_first"
        assert await closed_with(c) == 1008

    asyncio.run(run())
    assert count_messages(ctx) == 0


def test_junk_frames_and_flood(ctx: AppContext, live: str) -> None:
    chat = start_chat(live)
    bystander = start_chat(live, name="Bob", email="bob@example.com")

    async def run() -> None:
        b = await visitor(live, bystander["token"])
        await b.expect("welcome")
        v = await visitor(live, chat["token"])
        await v.expect("welcome")
        await v.ws.send("{oops")
        assert (await v.expect("error"))["code"] == "bad_json"
        await v.send(type="subscribe", session=bystander["session"])
        assert (await v.expect("error"))["code"] == "unknown_type"
        await v.send(type="ping")
        await v.expect("pong")  # still connected
        # flood: 40 sends at once; the bucket lets a burst through, refuses the rest clearly
        for i in range(40):
            await v.send(type="send", client_id=f"f{i}", body=f"flood {i}")
        acks, limited = set(), set()
        while len(acks) + len(limited) < 40:
            ev = await v.recv()
            if ev["type"] == "ack":
                acks.add(ev["client_id"])
            elif ev["type"] == "error" and ev["code"] == "rate_limited":
                limited.add(ev["client_id"])
        assert limited and len(acks) >= 10
        # oversize frame: closed with 1009, the bystander unaffected
        await v.ws.send('{"type":"send","client_id":"big","body":"' + "x" * 20000 + '"}')
        assert await closed_with(v) == 1009
        await b.send(type="send", client_id="b1", body="still here")
        assert (await b.expect("ack"))["client_id"] == "b1"
        await b.close()
        return acks

    acks = asyncio.run(run())
    with ctx.read() as s:
        rows = s.scalars(
            select(ChatEvent.client_id).where(
                ChatEvent.type == "message", ChatEvent.author_type == "customer"
            )
        )
        stored = [r for r in rows if r and r.startswith("f")]
    assert sorted(stored) == sorted(acks)  # exactly the acknowledged ones, once each


def test_start_validation_and_offline_email_path(ctx: AppContext, live: str) -> None:
    r = httpx.post(live + "/chat/start", json={"name": "A", "topic": "general"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "email"
    r = httpx.post(live + "/chat/start", json={"name": "A", "email": "a@x.io", "topic": "nope"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "topic"
    r = httpx.post(live + "/chat/start", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    pre = httpx.options(live + "/chat/start", headers={"Origin": "https://shop.example"})
    assert pre.headers["access-control-allow-origin"] == "*"
    r = httpx.post(
        live + "/chat/offline",
        json={"name": "Li", "email": "li@example.cn", "body": "请回电", "locale": "zh-CN"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["ticket_number"] and "邮件" in body["promise"]["zh-CN"]
    assert "email" in body["promise"]["en"]


def test_sockets_that_take_only_the_socket_skip_the_routing_stack(
    ctx: AppContext, live: str
) -> None:
    """/ws/chat, /ws/agent-chat and /ws/agent go straight to their endpoints (fewer frames and
    objects held per open socket); any other WebSocket path still meets the router."""
    from paydesk.web.app import create_app

    assert set(create_app(ctx=ctx).websocket_lane) == {"/ws/chat", "/ws/agent-chat", "/ws/agent"}

    async def run() -> None:
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(ws_url(live, "/ws/nowhere"))
        assert info.value.response.status_code == 403
        chat = start_chat(live)
        v = await visitor(live, chat["token"])
        assert (await v.expect("welcome"))["session"] == chat["session"]
        await v.ws.close()

    asyncio.run(run())
