"""Intake benchmark (issue 2): tickets/s through POST /api/v1/tickets with 32 concurrent clients,
p50/p99 latency, the same server's trivial endpoint (/livez) as a same-run baseline, and the p95 of
GET /api/v1/tickets (list and search) at 100k tickets. Runs on SQLite and, when
PAYDESK_BENCH_PG_URL (or PAYDESK_TEST_DATABASE_URL) is set, on PostgreSQL.

    .venv/bin/python bench/intake.py [--seconds 10] [--workers 2] [--list-rows 100000] [--repeat 5]
                                     [--varied]

`--varied`: every request is a new customer (its own e-mail address) with one of several
bilingual subjects and bodies, instead of the same request again and again.

Load comes from wrk (C, cheap on the shared 2 cores) when installed, else an asyncio client.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BODY = {
    "customer": {"email": "bench@example.com", "name": "Bench"},
    "subject": "Refund not received",
    "body": "Hello, my refund for order TP20261102-88341 has not arrived after ten days. "
    "我的退款还没到账。",
    "channel": "api",
}
# --varied: (subject, body) pairs, each request from a new customer
VARIED = [
    ("Refund not received", BODY["body"]),
    ("Card declined", "My card keeps getting declined when I pay at the supermarket, why?"),
    ("转账一直处理中", "我昨天给朋友转账，到现在还显示处理中，钱已经扣了，请帮忙查一下。"),
    ("Cannot log in", "I forgot my password and the reset code never arrives on my phone."),
    ("充值失败", "充值了200元但是余额没有变化，银行卡已经扣款了。订单号 TP20261101-12345"),
    ("App crashes", "The app crashes every time I open it after the latest update on Android 14."),
    ("投诉", "你们的客服态度太差了，我要投诉！问题三天都没有解决。"),
    (
        "How do I verify my identity?",
        "What documents do I need for KYC? My passport is from Malaysia.",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(db_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PAYDESK_DATABASE_URL=db_url,
        PAYDESK_DATA_DIR=str(data_dir),
        PAYDESK_LOG_LEVEL="warning",
        PAYDESK_SECRET_KEY="bench",
    )
    env.pop("PAYDESK_REDIS_URL", None)
    return env


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "paydesk.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                time.sleep(1.0)  # let every worker finish starting
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except Exception:  # noqa: BLE001
        os.killpg(proc.pid, signal.SIGKILL)


def token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [PY, "-m", "paydesk.cli", "token", "create", "--role", "admin", "--name", "bench"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def wrk(
    url: str, seconds: int, conns: int, tok: str | None = None, body: dict | None = None
) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    script = None
    if body is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write('wrk.method = "POST"\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(f'wrk.headers["Authorization"] = "Bearer {tok}"\n')
        if body is VARIED_BODY:  # a new customer and one of the VARIED texts per request
            pairs = ",".join(
                f"{{{_lua(json.dumps(a, ensure_ascii=True))}, {_lua(json.dumps(b, ensure_ascii=True))}}}"
                for a, b in VARIED
            )
            # each wrk thread numbers its own requests: setup() gives it an id (its Lua state
            # would otherwise draw the same "random" addresses as the other thread's)
            script.write(
                f"local texts = {{{pairs}}}\nlocal threads = 0\n"
                "setup = function(thread)\n  threads = threads + 1\n"
                "  thread:set('tid', threads)\nend\nlocal n = 0\n"
                "request = function()\n  n = n + 1\n  local t = texts[n % #texts + 1]\n"
                "  local who = os.time() .. '.' .. tid .. '.' .. n\n"
                '  return wrk.format(nil, nil, nil, \'{"customer": {"email": "v\' .. who ..'
                ' \'@example.com", "name": "Customer \' .. who .. \'"}, "subject": \' ..'
                ' t[1] .. \', "body": \' .. t[2] .. \', "channel": "api"}\')\nend\n'
            )
        else:
            script.write(f"wrk.body = {json.dumps(json.dumps(body, ensure_ascii=True))}\n")
        script.close()
        cmd += ["-s", script.name]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for p in ("50", "99"):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            lat[p] = v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": lat.get("50", 0),
        "p99_ms": lat.get("99", 0),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _lua(text: str) -> str:
    """`text` as a Lua long-bracket string literal."""
    return f"[==[{text}]==]"


VARIED_BODY: dict[str, Any] = {}  # marker: the request bodies of --varied


def _varied(n: int) -> dict[str, Any]:
    subject, body = VARIED[n % len(VARIED)]
    who = f"{random.randrange(10**9)}.{n}"
    return {
        "customer": {"email": f"v{who}@example.com", "name": f"Customer {who}"},
        "subject": subject,
        "body": body,
        "channel": "api",
    }


def python_load(
    url: str, seconds: int, conns: int, tok: str | None = None, body: dict | None = None
) -> dict[str, float]:
    import asyncio

    lat: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, until: float) -> None:
        nonlocal errors
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            payload = _varied(len(lat)) if body is VARIED_BODY else body
            r = await (client.post(url, json=payload) if body else client.get(url))
            lat.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code >= 300

    async def main() -> float:
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        async with httpx.AsyncClient(
            headers=headers, limits=httpx.Limits(max_connections=conns)
        ) as c:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(c, t0 + seconds) for _ in range(conns)))
            return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    lat.sort()
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[int(len(lat) * 0.99)],
        "errors": float(errors),
    }


def load(*args, **kw):  # type: ignore[no-untyped-def]
    return (wrk if shutil.which("wrk") else python_load)(*args, **kw)


def seed_rows(env: dict[str, str], n: int) -> None:
    """Bulk-insert n tickets (with one message each) straight through the store for the list test."""
    code = f"""
import random
from paydesk.settings import Settings
from paydesk.services.context import build_context
from paydesk.services.bootstrap import prepare
from paydesk.services.customers import find_or_create_customer, identities_of
from paydesk.domain.text import search_text
from paydesk.store.tickets import Ticket, Message
from paydesk.store.base import utcnow
from sqlalchemy import insert, select, func, text
ctx = build_context(Settings())
prepare(ctx)
words = ["refund", "transfer", "pending", "card", "top-up", "password", "locked", "退款", "转账", "充值", "验证码", "冻结"]
with ctx.uow() as uow:
    s = uow.session
    have = s.scalar(select(func.count()).select_from(Ticket))
    cust = [find_or_create_customer(s, 1, identities_of(f"seed{{i}}@example.com"), name=f"Seed {{i}}").id for i in range(500)]
    start = (s.scalar(select(func.max(Ticket.number))) or 10000) + 1
    rng = random.Random(1)
    rows = []
    now = utcnow()
    for i in range(max(0, {n} - have)):
        subj = " ".join(rng.choice(words) for _ in range(4))
        rows.append(dict(workspace_id=1, number=start + i, subject=subj, status=rng.choice(["new", "open", "pending", "solved", "closed"]),
            priority="normal", category=rng.choice(["account", "transactions", "technical"]), type="question", channel="email",
            locale="en", queue_id=rng.randint(1, 8), customer_id=rng.choice(cust), fields={{}}, search_text=search_text(subj + " order " + str(i)),
            created_at=now, updated_at=now, last_message_at=now))
        if len(rows) == 5000:
            s.execute(insert(Ticket), rows); rows = []
    if rows:
        s.execute(insert(Ticket), rows)
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT setval('ticket_number_seq', (SELECT max(number) FROM tickets))"))
    else:
        s.execute(text("UPDATE counters SET value = (SELECT max(number) FROM tickets) WHERE name='ticket_number'"))
"""
    subprocess.run([PY, "-c", code], env=env, cwd=ROOT, check=True)
    if env["PAYDESK_DATABASE_URL"].startswith("postgresql"):
        import psycopg

        with psycopg.connect(env["PAYDESK_DATABASE_URL"], autocommit=True) as c:
            c.execute("VACUUM ANALYZE tickets")


def list_p95(base: str, tok: str, n: int = 300) -> dict[str, float]:
    out = {}
    with httpx.Client(headers={"Authorization": f"Bearer {tok}"}, timeout=10) as c:
        for name, params in [
            ("list", {}),
            ("status+queue", {"status": "open", "queue": "technical"}),
            ("search", {"q": "refund pending"}),
            ("search zh", {"q": "退款"}),
            ("page 3", None),
        ]:
            lat = []
            for _i in range(n):
                if params is None:
                    r1 = c.get(base + "/api/v1/tickets", params={"limit": 25})
                    r2 = c.get(
                        base + "/api/v1/tickets",
                        params={"limit": 25, "cursor": r1.json()["next_cursor"]},
                    )
                    t0 = time.perf_counter()
                    r = c.get(
                        base + "/api/v1/tickets",
                        params={"limit": 25, "cursor": r2.json()["next_cursor"]},
                    )
                else:
                    t0 = time.perf_counter()
                    r = c.get(base + "/api/v1/tickets", params=params)
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
            lat.sort()
            out[name] = lat[int(len(lat) * 0.95)]
    return out


def run(label: str, db_url: str, args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="paydesk-bench-"))
    if db_url.startswith("postgresql"):
        import psycopg

        admin = db_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS paydesk_bench WITH (FORCE)")
            c.execute("CREATE DATABASE paydesk_bench")
        db_url = db_url.rsplit("/", 1)[0] + "/paydesk_bench"
    elif db_url == "sqlite":
        db_url = f"sqlite:///{data}/paydesk.db"
    env = env_for(db_url, data)
    subprocess.run(
        [PY, "-m", "paydesk.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    tok = token(env)
    # the default intent model, trained (or reused) here: a fresh data dir would otherwise train
    # it in the server while the baseline and warm-up run
    from paydesk.assistant.intent import store

    store.load_default(data)
    proc, base = start_server(env, args.workers)
    try:
        load(base + "/api/v1/tickets", 2, 8, tok, BODY)  # warm-up
        rounds = []
        for _ in range(args.repeat):  # alternate: both see the same moments of a noisy machine
            trivial = load(base + "/livez", args.seconds, args.conns)
            body = VARIED_BODY if args.varied else BODY
            intake = load(base + "/api/v1/tickets", args.seconds, args.conns, tok, body)
            rounds.append((trivial, intake))
            if args.repeat > 1:
                print(
                    f"  round: /livez {trivial['rps']:.0f} req/s, tickets {intake['rps']:.0f}/s "
                    f"p99 {intake['p99_ms']:.1f} ms, ratio {100 * intake['rps'] / trivial['rps']:.1f} %"
                )
        rounds.sort(key=lambda r: r[1]["rps"] / r[0]["rps"])
        trivial, intake = rounds[len(rounds) // 2]  # the median round by ratio
        print(
            f"[{label}] workers={args.workers} clients={args.conns}"
            + (" (varied: a new customer per request)" if args.varied else "")
        )
        print(
            f"  trivial /livez         : {trivial['rps']:8.0f} req/s   p50 {trivial['p50_ms']:.1f} ms  p99 {trivial['p99_ms']:.1f} ms"
        )
        print(
            f"  POST /api/v1/tickets   : {intake['rps']:8.0f} tickets/s p50 {intake['p50_ms']:.1f} ms  p99 {intake['p99_ms']:.1f} ms  errors {int(intake['errors'])}"
        )
        print(f"  ratio intake/trivial   : {100 * intake['rps'] / trivial['rps']:.1f} %")
    finally:
        stop(proc)
    if args.list_rows:
        seed_rows(env, args.list_rows)
        proc, base = start_server(env, args.workers)
        try:
            p95 = list_p95(base, tok)
            print(
                f"  GET /api/v1/tickets at {args.list_rows} tickets, p95 ms: "
                + ", ".join(f"{k} {v:.1f}" for k, v in p95.items())
            )
        finally:
            stop(proc)
    shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the median round is reported")
    ap.add_argument("--list-rows", type=int, default=100_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    ap.add_argument("--varied", action="store_true", help="a new customer and text per request")
    args = ap.parse_args()
    pg = os.environ.get("PAYDESK_BENCH_PG_URL") or os.environ.get("PAYDESK_TEST_DATABASE_URL")
    if args.only in (None, "sqlite"):
        run("SQLite", "sqlite", args)
    if args.only in (None, "postgresql"):
        if pg:
            run("PostgreSQL", pg, args)
        else:
            print("[PostgreSQL] skipped: set PAYDESK_BENCH_PG_URL")


if __name__ == "__main__":
    main()
