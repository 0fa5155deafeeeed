"""Live-chat fixtures: the real app on a real uvicorn (thread) and `websockets` clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
import websockets
from tests import factories

from paydesk.services.auth import create_session
from paydesk.services.context import AppContext
from paydesk.services.staff import create_agent
from paydesk.web.ws_protocol import LeanWebSocketProtocol


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(ctx: AppContext) -> Iterator[str]:
    """Base URL of the real app (this test's database) served by uvicorn on a free port.

    Without an assistant (tests that want one register their own answer function)."""
    from paydesk.web.app import create_app

    ctx.extras.pop("assistant_answer", None)

    port = free_port()
    config = uvicorn.Config(
        create_app(ctx=ctx),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws=LeanWebSocketProtocol,  # what `paydesk serve` runs
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def start_chat(base: str, **kw: Any) -> dict[str, Any]:
    body = {
        "name": "Alice Morgan",
        "email": "alice@example.com",
        "topic": "transactions",
        "locale": "en",
        **kw,
    }
    r = httpx.post(base + "/chat/start", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


DEBUG = False


class Client:
    """A small protocol client with timeouts, so a missing event fails instead of hanging."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))  # type: ignore[no-any-return]

    async def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next event of this type (others are skipped) matching the given fields."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event {match}")
            ev = await self.recv(left)
            if DEBUG:
                print(id(self) % 1000, ev)
            if ev.get("type") == kind and all(ev.get(k) == v for k, v in match.items()):
                return ev

    async def close(self) -> None:
        await self.ws.close()


async def visitor(base: str, token: str, last_seq: int = 0, **extra: Any) -> Client:
    ws = await websockets.connect(ws_url(base, "/ws/chat"), max_size=2**22)
    c = Client(ws)
    await c.send(type="hello", token=token, last_seq=last_seq, **extra)
    return c


async def agent(base: str, cookie: str, status: str = "online") -> Client:
    ws = await websockets.connect(
        ws_url(base, "/ws/agent-chat"), additional_headers={"Cookie": f"pd_staff={cookie}"}
    )
    c = Client(ws)
    await c.send(type="hello", status=status)
    return c


def agent_cookie(
    ctx: AppContext,
    email: str = "wang@topay.example",
    *,
    name: str = "Wang Fang",
    role: str = "agent",
    queues: list[str] | None = None,
    languages: list[str] | None = None,
) -> tuple[int, str]:
    """A staff member and a console session cookie for them."""
    a = create_agent(
        ctx,
        email=email,
        name=name,
        password=factories.PASSWORD,
        role=role,
        queues=queues or [],
        languages=languages or ["en", "zh-CN"],
    )
    return a.id, create_session(ctx, agent_id=a.id, workspace_id=1)
