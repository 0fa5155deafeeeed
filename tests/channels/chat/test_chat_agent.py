"""Agent side of live chat: offers by queue and language, accept races, capacity, typing and read
state, transfer, end, the assistant's handoff, and the chat in the ticket's timeline."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select
from tests.channels.chat.conftest import agent, agent_cookie, start_chat, visitor

from paydesk.services.actors import system_actor
from paydesk.services.context import AppContext
from paydesk.services.queries import ticket_detail
from paydesk.store.tickets import Ticket


def test_offer_accept_chat_typing_read_end(ctx: AppContext, live: str) -> None:
    _, wang = agent_cookie(ctx, queues=["transactions-en"], languages=["en"])
    _, zhao = agent_cookie(
        ctx,
        email="zhao@topay.example",
        name="Zhao Lei",
        queues=["transactions-zh"],
        languages=["zh-CN"],
    )
    chat = start_chat(live)

    async def run() -> int:
        a = await agent(live, wang)
        await a.expect("welcome")
        z = await agent(live, zhao)
        await z.expect("welcome")
        v = await visitor(live, chat["token"])
        await v.expect("welcome")
        await v.send(type="send", client_id="c1", body="My transfer to a bank card failed")
        await v.expect("ack")
        offer = await a.expect("offer", session=chat["session"])
        assert offer["status"] == "waiting"
        wang_id = await _presence(a)
        assert offer["agents"] == [wang_id]  # the zh queue's agent is not offered an en chat
        # the other agent cannot take a chat outside their queues
        await z.send(type="accept", session=chat["session"])
        assert (await z.expect("error"))["code"] == "not_found"
        await a.send(type="accept", session=chat["session"])
        await a.expect("accepted")
        first = await a.expect("message", author="customer")
        assert first["body"] == "My transfer to a bank card failed"
        joined = await v.expect("joined")
        assert joined["agent_name"] == "Wang Fang"
        # typing both ways (not echoed to the typer), read markers
        await v.send(type="typing", on=True)
        t = await a.expect("typing")
        assert t["author"] == "customer" and t["on"] is True
        await a.send(type="typing", session=chat["session"], on=True)
        assert (await v.expect("typing"))["author"] == "agent"
        await a.send(type="read", session=chat["session"], seq=first["seq"])
        assert (await v.expect("read"))["upto"] == first["seq"]
        await a.send(
            type="send",
            session=chat["session"],
            client_id="r1",
            body="Let me check that transfer for you.",
        )
        ack = await a.expect("ack")
        msg = await v.expect("message", author="agent")
        assert msg["seq"] == ack["seq"] and msg["author_name"] == "Wang Fang"
        await v.send(type="read", seq=msg["seq"])
        assert (await a.expect("read"))["upto"] == msg["seq"]
        await a.send(type="end", session=chat["session"])
        await v.expect("ended")
        await v.send(type="send", client_id="late", body="hello?")
        assert (await v.expect("error"))["code"] == "conflict"
        for c in (a, z, v):
            await c.close()
        return int(ack["message_id"])

    asyncio.run(run())
    # the chat is a conversation of a ticket: one timeline with the agent's reply
    with ctx.read() as s:
        ticket_id = s.scalar(select(Ticket.id).where(Ticket.channel == "chat"))
    assert ticket_id is not None
    detail = ticket_detail(ctx, system_actor(), ticket_id, record_view=False)
    bodies = [(m["author_type"], m["channel"], m["body"]) for m in detail["messages"]]
    assert ("customer", "chat", "My transfer to a bank card failed") in bodies
    assert ("agent", "chat", "Let me check that transfer for you.") in bodies
    assert detail["assignee_id"] is not None


async def _presence(a: Any) -> int:
    await a.send(type="presence", status="online")
    ev = await a.expect("presence_set")
    assert ev["status"] == "online"
    welcome_id = ev.get("agent_id")
    return int(welcome_id) if welcome_id else 0


def test_accept_race_capacity_and_transfer(ctx: AppContext, live: str) -> None:
    wang_id, wang = agent_cookie(ctx, role="supervisor")
    li_id, li = agent_cookie(ctx, email="li@topay.example", name="Li Ming", role="supervisor")
    chats = [start_chat(live, name=f"V{i}", email=f"v{i}@example.com") for i in range(2)]

    async def run() -> None:
        a = await agent(live, wang)
        await a.expect("welcome")
        b = await agent(live, li)
        await b.expect("welcome")
        vs = []
        for i, ch in enumerate(chats):
            v = await visitor(live, ch["token"])
            await v.expect("welcome")
            await v.send(type="send", client_id="x", body=f"question {i}")
            await v.expect("ack")
            vs.append(v)
        # both click accept at once: exactly one wins
        await a.send(type="accept", session=chats[0]["session"])
        await b.send(type="accept", session=chats[0]["session"])
        results = [await _accept_result(a), await _accept_result(b)]
        assert sorted(results) == ["accepted", "conflict"]
        winner, other = (a, b) if results[0] == "accepted" else (b, a)
        # capacity 1 for the winner: a second chat is refused
        await winner.send(type="capacity", value=1)
        await winner.expect("presence_set", capacity=1)
        await winner.send(type="accept", session=chats[1]["session"])
        err = await winner.expect("error")
        assert err["code"] == "conflict" and "capacity" in err["message"]
        # transfer the first chat to the other agent: they are told and see it
        other_id = li_id if winner is a else wang_id
        await winner.send(type="transfer", session=chats[0]["session"], agent_id=other_id)
        await winner.expect("transferred_away")
        note = await other.expect("transferred_to_you")
        assert note["session"] == chats[0]["session"]
        await other.expect("watching", session=chats[0]["session"])
        tr = await vs[0].expect("transferred")
        assert tr["to_agent_id"] == other_id
        await other.send(type="send", session=chats[0]["session"], client_id="o1", body="Hi!")
        await other.expect("ack")
        assert (await vs[0].expect("message", author="agent"))["body"] == "Hi!"
        for c in (a, b, *vs):
            await c.close()

    asyncio.run(run())


async def _accept_result(c: Any) -> str:
    while True:
        ev = await c.recv()
        if ev["type"] == "accepted":
            return "accepted"
        if ev["type"] == "error":
            return str(ev["code"])


def test_assistant_answers_first_then_hands_off(ctx: AppContext, live: str) -> None:
    _, cookie = agent_cookie(ctx, role="supervisor")
    calls: list[tuple[str, str]] = []

    def answer(_ctx: Any, message: str, locale: str) -> dict[str, Any]:
        calls.append((message, locale))
        if "human" in message or "人工" in message:
            return {"handoff": True, "reply": "", "articles": [], "intent": "agent_request"}
        return {
            "handoff": False,
            "reply": "您可以在“我的”→“安全”中重置密码。",
            "articles": [{"id": "reset", "title": "重置密码", "score": 0.9}],
            "intent": "password_reset",
        }

    ctx.extras["assistant_answer"] = answer
    chat = start_chat(live, locale="zh-CN", topic="account", name="李娜", email="li.na@example.cn")

    async def run() -> None:
        a = await agent(live, cookie)
        await a.expect("welcome")
        v = await visitor(live, chat["token"])
        await v.expect("welcome")
        await v.send(type="send", client_id="q1", body="怎么重置密码")
        await v.expect("ack")
        bot = await v.expect("message", author="bot")
        assert "重置密码" in bot["body"] and bot["articles"][0]["id"] == "reset"
        await v.send(type="send", client_id="q2", body="我要人工")
        await v.expect("ack")
        await v.expect("queued")
        offer = await a.expect("offer", session=chat["session"])
        assert offer["locale"] == "zh-CN"
        await a.close()
        await v.close()

    asyncio.run(run())
    assert [c[1] for c in calls] == ["zh-CN", "zh-CN"]


def test_no_agent_online_gives_bilingual_promise(ctx: AppContext, live: str) -> None:
    chat = start_chat(live, locale="zh-CN", name="李娜", email="li.na@example.cn")

    async def run() -> None:
        v = await visitor(live, chat["token"])
        await v.expect("welcome")
        await v.send(type="send", client_id="q1", body="我的转账失败了")
        promise = await v.expect("message", author="bot")  # committed with the message
        await v.expect("ack")
        assert promise["offline"] is True
        assert "工单" in promise["body"] and "ticket" in promise["promise"]["en"]
        await v.close()

    asyncio.run(run())
    r = httpx.get(live + "/chat-demo")
    assert r.status_code == 200 and "/widget.js" in r.text
    js = httpx.get(live + "/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_promise_follows_service_hours(ctx: AppContext) -> None:
    from datetime import UTC, datetime

    from paydesk.services.presence import promise_text

    # 23:30 in Beijing: agents are off until 08:00 the next morning
    en, zh = promise_text(ctx, datetime(2026, 11, 26, 15, 30, tzinfo=UTC))
    assert "08:00 tomorrow" in en and "明天 08:00" in zh
    # 03:00 in Beijing: the same morning
    en, zh = promise_text(ctx, datetime(2026, 11, 25, 19, 0, tzinfo=UTC))
    assert "08:00 today" in en and "今天 08:00" in zh
    # 10:00 in Beijing: within service hours
    en, zh = promise_text(ctx, datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    assert "2 hours" in en and "2 小时" in zh


def test_waiting_visitors_hear_of_a_new_place_in_the_queue_not_the_same_one_again(
    ctx: AppContext, live: str, monkeypatch: Any
) -> None:
    from paydesk.services import presence
    from paydesk.web import chat_ws

    monkeypatch.setattr(chat_ws._Ticker, "TICK", 0.05)
    monkeypatch.setattr(chat_ws, "QUEUE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(chat_ws, "HEARTBEAT_SECONDS", 0.3)
    monkeypatch.setattr(presence, "QUEUE_SNAPSHOT_SECONDS", 0.0)
    _, wang = agent_cookie(ctx, queues=["transactions-en"], languages=["en"])
    first, second = start_chat(live), start_chat(live, email="bob@example.com", name="Bob")

    async def frames(c: Any, seconds: float, until: str | None = None) -> list[dict[str, Any]]:
        """Frames for `seconds`, or until one of type `until` arrives."""
        got: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                got.append(await c.recv(left))
            except TimeoutError:
                break
            if until is not None and got[-1]["type"] == until:
                break
        return got

    async def run() -> None:
        a = await agent(live, wang)
        await a.expect("welcome")
        v1 = await visitor(live, first["token"])
        await v1.expect("welcome")
        await v1.send(type="send", client_id="c1", body="My refund has not arrived")
        await v1.expect("queued")
        v2 = await visitor(live, second["token"])
        await v2.expect("welcome")
        await v2.send(type="send", client_id="c1", body="My transfer is pending")
        await v2.expect("queued")
        assert (await v1.expect("queue"))["position"] == 1
        assert (await v2.expect("queue", position=2))["expected_wait_seconds"] >= 15
        # an unchanged place is not repeated; the socket still hears a heartbeat (every 0.3 s
        # here; up to 5.8 s allowed, as a loaded CI machine stretches the 0.05 s ticks)
        quiet = await frames(v1, 0.8)
        if not any(f["type"] == "ping" for f in quiet):
            quiet += await frames(v1, 5.0, until="ping")
        assert [f for f in quiet if f["type"] == "queue"] == []
        assert any(f["type"] == "ping" for f in quiet)
        # the first chat is taken: the second visitor moves up, and is told so
        await a.send(type="accept", session=first["session"])
        await a.expect("accepted")
        await v2.expect("queue", position=1)
        for c in (a, v1, v2):
            await c.close()

    asyncio.run(run())
