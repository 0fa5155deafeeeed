"""Two real app processes on PostgreSQL + Redis: a visitor on one and an agent on the other see
each other at once; presence and the waiting queue are shared; resume works across processes."""

from __future__ import annotations

import asyncio
import time

from tests.channels.chat.conftest import agent, start_chat, visitor
from tests.factories import PASSWORD
from tests.scaleout.conftest import Cluster

from paydesk.services.auth import create_session
from paydesk.services.staff import create_agent


def test_visitor_and_agent_on_different_processes(cluster: Cluster) -> None:
    a1, a2 = cluster.urls
    who = create_agent(
        cluster.ctx,
        email="wang@topay.example",
        name="Wang Fang",
        password=PASSWORD,
        role="supervisor",
        languages=["en", "zh-CN"],
    )
    cookie = create_session(cluster.ctx, agent_id=who.id, workspace_id=1)

    async def run() -> None:
        ag = await agent(a2, cookie)  # the agent is on process 2 ...
        await ag.expect("welcome")
        chat = start_chat(a1)  # ... the visitor on process 1
        v = await visitor(a1, chat["token"])
        await v.expect("welcome")
        await v.send(type="send", client_id="c1", body="Where is my refund?")
        await v.expect("ack")
        # presence is shared: process 1 knows the agent on process 2 is online → queued, offered
        offer = await ag.expect("offer", session=chat["session"])
        assert offer["status"] == "waiting" and offer["agents"] == [who.id]
        await ag.send(type="accept", session=chat["session"])
        first = await ag.expect("message", author="customer")
        assert first["body"] == "Where is my refund?"
        await v.expect("joined")
        # both directions, live, across processes
        for i in range(5):
            t0 = time.perf_counter()
            await v.send(type="send", client_id=f"v{i}", body=f"customer {i}")
            got = await ag.expect("message", author="customer", timeout=3)
            assert got["body"] == f"customer {i}"
            await ag.send(
                type="send", session=chat["session"], client_id=f"a{i}", body=f"agent {i}"
            )
            back = await v.expect("message", author="agent", timeout=3)
            assert back["body"] == f"agent {i}"
            assert time.perf_counter() - t0 < 2.0
        # the visitor drops and resumes on the *other* process: exactly what was missed
        seen = back["seq"]
        await v.close()
        await ag.send(type="send", session=chat["session"], client_id="gap", body="while away")
        await ag.expect("ack", client_id="gap")
        v2 = await visitor(a2, chat["token"], last_seq=seen)
        await v2.expect("welcome")
        missed = await v2.expect("message")
        assert (missed["body"], missed["seq"]) == ("while away", seen + 1)
        # typing crosses processes too
        await v2.send(type="typing", on=True)
        assert (await ag.expect("typing"))["author"] == "customer"
        await ag.close()
        await v2.close()

    asyncio.run(run())
