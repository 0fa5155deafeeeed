"""Live-chat benchmark: sockets per process, end-to-end latency, reconnect correctness.

    .venv/bin/python bench/chat.py                       # embedded (SQLite) and redis (PG+Redis)
    .venv/bin/python bench/chat.py --mode embedded --sockets 5000 --rate 500 --seconds 10

Starts real `paydesk serve` processes on free ports (embedded: one process on a fresh SQLite
file; redis: two processes on a fresh PostgreSQL database + Redis, visitors on process A and
agents on process B). Chat sessions and supervisor sessions are made through the services; all
traffic goes over WebSockets with the `websockets` client. Prints:

- sockets: visitor sockets held open at once and the server's RSS (from /proc) with them open;
- latency: customer send → agent receive, at a fixed rate spread over those sockets
  (p50/p95/p99/max, lost);
- reconnect: N messages from visitors whose sockets are dropped at random (abruptly, without a
  close frame); unacked messages are resent with the same client id and the socket resumes from
  its last seq. Checked against the database: every message stored exactly once; checked on the
  wire: every visitor saw every seq of its chat exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PG = os.environ.get("PAYDESK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("PAYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Servers:
    def __init__(self, mode: str, tmp: Path) -> None:
        self.mode, self.tmp = mode, tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        self.db_name = ""
        self.env = {
            **os.environ,
            "PAYDESK_DATA_DIR": str(tmp / "data"),
            "PAYDESK_SECRET_KEY": secrets.token_urlsafe(32),
            "PAYDESK_LOG_LEVEL": "warning",
        }
        if mode == "embedded":
            self.env["PAYDESK_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
            self.env.pop("PAYDESK_REDIS_URL", None)
        else:
            from sqlalchemy import create_engine, text

            self.db_name = f"paydesk_bench_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(PG, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            self.env["PAYDESK_DATABASE_URL"] = PG.rsplit("/", 1)[0] + "/" + self.db_name
            self.env["PAYDESK_REDIS_URL"] = REDIS
            self.env["PAYDESK_REDIS_PREFIX"] = f"pdbench-{uuid.uuid4().hex[:8]}:"

    def start(self) -> None:
        n = 1 if self.mode == "embedded" else 2
        for i in range(n):
            port = free_port()
            log = open(self.tmp / f"server{i}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "paydesk"), "serve", "--port", str(port)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=raise_nofile,
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
            self._wait(i)

    def _wait(self, i: int) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise SystemExit((self.tmp / f"server{i}.log").read_text()[-3000:])
            try:
                if httpx.get(self.urls[i] + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not start")

    def context(self) -> Any:
        from paydesk.services.context import build_context
        from paydesk.settings import Settings

        return build_context(
            Settings(
                database_url=self.env["PAYDESK_DATABASE_URL"],
                data_dir=self.tmp / "data",
                secret_key=self.env["PAYDESK_SECRET_KEY"],
                redis_url=self.env.get("PAYDESK_REDIS_URL"),
                redis_prefix=self.env.get("PAYDESK_REDIS_PREFIX", "paydesk:"),
            )
        )

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.db_name:
            from sqlalchemy import text

            with self.admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


class Visitor:
    def __init__(self, base: str, session: str, token: str) -> None:
        self.base, self.session, self.token = base, session, token
        self.ws: Any = None
        self.last_seq = 0
        self.seen: list[int] = []
        self.acked: set[str] = set()
        self.pending: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def connect(self) -> None:
        self.ready.clear()
        self.ws = await websockets.connect(
            ws_url(self.base, "/ws/chat"), open_timeout=60, ping_interval=None, max_queue=None
        )
        await self.ws.send(
            orjson.dumps({"type": "hello", "token": self.token, "last_seq": self.last_seq}).decode()
        )
        self.task = asyncio.create_task(self._read(self.ws))
        await asyncio.wait_for(self.ready.wait(), 60)
        for cid, body in list(self.pending.items()):  # resend what was never acked
            await self.send(cid, body)

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                ev = orjson.loads(raw)
                seq = ev.get("seq")
                if ev["type"] == "welcome":
                    self.ready.set()
                elif ev["type"] == "ack":
                    self.acked.add(ev["client_id"])
                    self.pending.pop(ev["client_id"], None)
                elif ev["type"] == "error" and ev.get("code") == "rate_limited":
                    pass  # stays pending; resent on the next connect / by the sender loop
                if isinstance(seq, int) and ev["type"] != "ack":
                    self.seen.append(seq)
                    self.last_seq = max(self.last_seq, seq)
        except websockets.ConnectionClosed:
            pass

    async def send(self, cid: str, body: str) -> None:
        self.pending[cid] = body
        try:
            await self.ws.send(
                orjson.dumps({"type": "send", "client_id": cid, "body": body}).decode()
            )
        except websockets.ConnectionClosed:
            pass

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (a network drop)."""
        self.ws.transport.abort()


async def open_visitors(
    base: str, sessions: list[tuple[str, str]], parallel: int = 100
) -> list[Visitor]:
    out = [Visitor(base, s, t) for s, t in sessions]
    sem = asyncio.Semaphore(parallel)

    async def one(v: Visitor) -> None:
        async with sem:
            await v.connect()

    await asyncio.gather(*(one(v) for v in out))
    return out


class AgentSock:
    def __init__(self, base: str, cookie: str) -> None:
        self.base, self.cookie = base, cookie
        self.received: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.watching = 0
        self.closed: str | None = None  # why and when the server closed this agent's socket
        self.watched = asyncio.Event()
        self.target = 0

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            ws_url(self.base, "/ws/agent-chat"),
            max_queue=None,
            additional_headers={"Cookie": f"pd_staff={self.cookie}"},
            ping_interval=None,
            open_timeout=120,
        )
        await self.ws.send('{"type":"hello","status":"online"}')
        asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                ev = orjson.loads(raw)
                t = ev.get("type")
                if t == "message" and ev.get("author") == "customer" and ev.get("client_id"):
                    self.received.setdefault(ev["client_id"], time.perf_counter())
                    self.counts[ev["client_id"]] = self.counts.get(ev["client_id"], 0) + 1
                elif t == "watching":
                    self.watching += 1
                    if self.watching >= self.target:
                        self.watched.set()
        except websockets.ConnectionClosed as exc:
            self.closed = f"{exc.rcvd.code if exc.rcvd else None} at {time.perf_counter():.1f}"

    async def watch(self, sessions: list[str]) -> None:
        self.target = len(sessions)
        for s in sessions:
            await self.ws.send(
                orjson.dumps({"type": "watch", "session": s, "after": 10**9}).decode()
            )
        await asyncio.wait_for(self.watched.wait(), 600)


async def settle(ctx: Any) -> None:
    """Wait until the warm-up's hand-overs are processed (no chat left with the assistant)."""
    from sqlalchemy import func, select

    from paydesk.store.chat import ChatSession

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with ctx.read() as s:
            left = s.scalar(
                select(func.count()).select_from(ChatSession).where(ChatSession.status == "bot")
            )
        if not left:
            return
        await asyncio.sleep(1)


def make_data(ctx: Any, n: int, agents: int) -> tuple[list[tuple[str, str]], list[str]]:
    from paydesk.services.auth import create_session
    from paydesk.services.chat import start_chat, visitor_token
    from paydesk.services.staff import create_agent
    from paydesk.store.chat import ChatSession

    # the service path once; the rest in one transaction (setup speed, not measured)
    start_chat(ctx, name="V", email="v@bench.example", phone=None, topic="general", locale="en")
    rows = [
        ChatSession(
            public_id=secrets.token_urlsafe(18),
            workspace_id=1,
            status="new",
            visitor_id="v_" + secrets.token_urlsafe(18),
            name=f"Visitor {i}",
            email=f"v{i}@bench.example",
            topic="general",
            locale="en",
        )
        for i in range(n)
    ]
    with ctx.uow() as uow:
        uow.session.add_all(rows)
        uow.session.flush()
        sessions = [(r.public_id, visitor_token(ctx, r.public_id, r.visitor_id)) for r in rows]
    cookies = []
    for i in range(agents):
        a = create_agent(
            ctx,
            email=f"sup{i}-{uuid.uuid4().hex[:6]}@bench.example",
            name=f"Supervisor {i}",
            password="bench-password-123",
            role="supervisor",
            languages=["en", "zh-CN"],
            capacity=50,
        )
        cookies.append(create_session(ctx, agent_id=a.id, workspace_id=1))
    return sessions, cookies


async def warm_up(visitors: list[Visitor], rate: float) -> None:
    """First message of every chat (opens its ticket), then hand over to the human queue so the
    assistant (if installed) is not part of the transport measurement."""
    interval = 1.0 / rate
    t0 = time.perf_counter()
    for i, v in enumerate(visitors):
        await v.send("warm", "hello")
        await asyncio.sleep(max(0.0, t0 + i * interval - time.perf_counter()))
    deadline = time.monotonic() + 300
    while any("warm" not in v.acked for v in visitors) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    for i, v in enumerate(visitors):
        await v.ws.send('{"type":"human"}')
        await asyncio.sleep(max(0.0, t0 + (len(visitors) + i) * interval - time.perf_counter()))
    await asyncio.sleep(2)


async def latency_run(
    visitors: list[Visitor], agents: list[AgentSock], rate: float, seconds: float
) -> dict[str, Any]:
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in range(total):
        v = random.choice(visitors)
        cid = f"L{i}"
        sent_at[cid] = time.perf_counter()
        await v.send(cid, f"latency probe {i}")
        await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(3)
    got: dict[str, float] = {}
    for a in agents:
        for cid, t in a.received.items():
            if cid in sent_at:
                got[cid] = min(got.get(cid, t), t)
    lat = [(got[c] - sent_at[c]) * 1000 for c in got]
    # the worst delivery of the messages sent in each second (a stall shows where it started)
    worst: dict[int, float] = {}
    for c, t in sent_at.items():
        sec = int(t - t0)
        worst[sec] = max(worst.get(sec, 0.0), (got[c] - t) * 1000 if c in got else float("inf"))
    dups = sum(max(0, n - 1) for a in agents for c, n in a.counts.items() if c in sent_at)
    return {
        "messages": total,
        "achieved_rate": round(total / elapsed),
        "delivered": len(lat),
        "lost": total - len(lat),
        "dups": dups,
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "max_ms": round(max(lat), 1) if lat else None,
        "agent_sockets_closed": [a.closed for a in agents if a.closed],
        "worst_ms_by_second": [round(worst[k]) if worst[k] < 1e9 else None for k in sorted(worst)],
    }


async def reconnect_run(
    base: str, sessions: list[tuple[str, str]], messages: int, drop_p: float, rate: float
) -> dict[str, Any]:
    visitors = await open_visitors(base, sessions)
    per = messages // len(visitors)
    drops = 0
    t0 = time.perf_counter()
    sent = 0

    async def one(v: Visitor, idx: int) -> None:
        nonlocal drops, sent
        for k in range(per):
            await v.send(f"R{idx}-{k}", f"resilience {idx} {k}")
            sent += 1
            if random.random() < drop_p:
                drops += 1
                v.drop()
                await asyncio.sleep(random.uniform(0, 0.2))
                await v.connect()
            await asyncio.sleep(random.uniform(0.5, 1.5) * len(visitors) / rate)
        deadline = time.monotonic() + 60
        while v.pending and time.monotonic() < deadline:
            await asyncio.sleep(1)
            if v.pending:  # rate-limited or lost with a dropped socket: resend, same ids
                for cid, body in list(v.pending.items()):
                    await v.send(cid, body)

    await asyncio.gather(*(one(v, i) for i, v in enumerate(visitors)))
    await asyncio.sleep(1)
    elapsed = time.perf_counter() - t0
    wire_ok = all(sorted(set(v.seen)) == list(range(1, v.last_seq + 1)) for v in visitors)
    wire_dups = sum(len(v.seen) - len(set(v.seen)) for v in visitors)
    for v in visitors:
        await v.ws.close()
    return {
        "messages": per * len(visitors),
        "visitors": len(visitors),
        "drops": drops,
        "seconds": round(elapsed, 1),
        "acked": sum(len(v.acked) for v in visitors),
        "wire_gap_free": wire_ok,
        "wire_duplicates": wire_dups,
    }


def count_stored(ctx: Any, prefix: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from paydesk.store.chat import ChatEvent
    from paydesk.store.tickets import Message

    with ctx.read() as s:
        events = (
            s.scalar(
                select(func.count())
                .select_from(ChatEvent)
                .where(ChatEvent.client_id.like(prefix + "%"))
            )
            or 0
        )
        msgs = (
            s.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.idempotency_key.like(f"chat:%:{prefix}%"))
            )
            or 0
        )
    return int(events), int(msgs)


async def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"paydesk-bench-{mode}-") as tmp:
        servers = Servers(mode, Path(tmp))
        servers.start()
        try:
            ctx = servers.context()
            t = time.perf_counter()
            sessions, cookies = make_data(ctx, args.sockets + args.reconnect_visitors, args.agents)
            setup_s = time.perf_counter() - t
            a_url = servers.urls[0]
            b_url = servers.urls[-1]  # agents on the other process in redis mode
            base_rss = rss_mb(servers.procs[0].pid)
            t = time.perf_counter()
            visitors = await open_visitors(a_url, sessions[: args.sockets])
            connect_s = time.perf_counter() - t
            await asyncio.sleep(2)
            rss = rss_mb(servers.procs[0].pid)
            out: dict[str, Any] = {
                "mode": mode,
                "sockets": len(visitors),
                "connect_seconds": round(connect_s, 1),
                "rss_mb_idle": round(base_rss),
                "rss_mb_with_sockets": round(rss),
                "data_setup_seconds": round(setup_s, 1),
            }
            print(f"[{mode}] {len(visitors)} sockets open, server RSS {rss:.0f} MB", flush=True)
            await warm_up(visitors, args.rate)
            await settle(ctx)
            # agents connect after the warm-up: they would otherwise get one offer per chat
            agents = [AgentSock(b_url, c) for c in cookies]
            for a in agents:
                await a.connect()
            names = [v.session for v in visitors]
            chunk = (len(names) + len(agents) - 1) // len(agents)
            await asyncio.gather(
                *(a.watch(names[i * chunk : (i + 1) * chunk]) for i, a in enumerate(agents))
            )
            out["rss_mb_after_watch"] = round(rss_mb(servers.procs[0].pid))
            print(f"[{mode}] warm-up done, agents watching; measuring", flush=True)
            out["latency"] = await latency_run(visitors, agents, args.rate, args.seconds)
            out["rss_mb_after_latency"] = round(rss_mb(servers.procs[0].pid))
            for v in visitors:
                v.task and v.task.cancel()
            await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)
            rec = await reconnect_run(
                a_url,
                sessions[args.sockets :],
                args.reconnect_messages,
                args.drop,
                args.reconnect_rate,
            )
            events, msgs = count_stored(ctx, "R")
            rec["stored_events"], rec["stored_messages"] = events, msgs
            rec["exactly_once"] = events == msgs == rec["messages"]
            out["reconnect"] = rec
            ctx.engine.dispose()
            return out
        finally:
            servers.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["embedded", "redis", "both"], default="both")
    p.add_argument("--sockets", type=int, default=5000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--reconnect-messages", type=int, default=10000)
    p.add_argument("--reconnect-visitors", type=int, default=100)
    p.add_argument("--reconnect-rate", type=float, default=300)
    p.add_argument("--drop", type=float, default=0.02, help="chance of a drop after each send")
    args = p.parse_args()
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    modes = ["embedded", "redis"] if args.mode == "both" else [args.mode]
    for mode in modes:
        res = asyncio.run(run_mode(mode, args))
        print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode(), flush=True)


if __name__ == "__main__":
    main()
