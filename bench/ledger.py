"""Console ticket page with the payments sidebar against a sandbox ledger of 1M transactions.

    .venv/bin/python bench/ledger.py [--rows 1000000] [--requests 200] [--db sqlite|postgresql|both]
                                     [--explain]

Bulk-loads the ledger (SQLite executemany in one transaction, PostgreSQL COPY), then requests
the agent's ticket page in-process (TestClient) and prints p50/p95/p99 — with the sidebar panel
and, as the same-run baseline, with the panel switched off. PostgreSQL comes from
PAYDESK_BENCH_DATABASE_URL or PAYDESK_TEST_DATABASE_URL (a scratch database is created)."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paydesk.domain.inbound import InboundMessage  # noqa: E402
from paydesk.domain.tickets import Channel  # noqa: E402
from paydesk.payments.demo_ledger import seed  # noqa: E402
from paydesk.services import intake  # noqa: E402
from paydesk.services.auth import create_session, resolve_session  # noqa: E402
from paydesk.services.bootstrap import prepare  # noqa: E402
from paydesk.services.context import build_context  # noqa: E402
from paydesk.services.staff import create_agent  # noqa: E402
from paydesk.settings import Settings  # noqa: E402
from paydesk.store.db import normalize_url  # noqa: E402
from paydesk.store.ledger import LedgerAccount, LedgerTransaction  # noqa: E402

COLS = [
    "id", "account_id", "kind", "status", "amount_minor", "currency", "direction", "order_ref",
    "counterparty", "description", "failure_reason", "refunded_minor", "original_id", "network",
    "address", "tx_hash", "created_at",
]  # fmt: skip
INDEXES = [i for i in LedgerTransaction.__table__.indexes]  # type: ignore[attr-defined]
KINDS = ["payment"] * 7 + ["transfer", "top_up", "crypto_send"]


def rows(n: int, accounts: list[str], now: datetime):  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        # a third of the rows belong to the demo customers, so their sidebar reads hot accounts
        acct = accounts[i % len(accounts)] if i % 3 == 0 else f"B{rng.randrange(20000):05d}"
        crypto = kind == "crypto_send"
        yield (
            f"TP{(now - timedelta(days=i % 365)):%Y%m%d}-{i:08d}",
            acct,
            kind,
            "succeeded" if i % 50 else "failed",
            rng.randrange(100, 100_000),
            "USDT" if crypto else "CNY",
            "debit",
            f"M{i:010d}",
            "merchant",
            "",
            None,
            0,
            None,
            "tron" if crypto else None,
            None,
            f"0x{i:064x}" if crypto else None,
            now - timedelta(seconds=i * 30),
        )


def load(ctx, n: int, accounts: list[str]) -> float:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(LedgerAccount),
            [
                {"id": f"B{i:05d}", "name": f"bench {i}", "email": f"b{i}@bench.test",
                 "status": "active", "kyc_level": 1, "balances": {}, "created_at": now}
                for i in range(20000)
            ],
        )  # fmt: skip
    t0 = time.perf_counter()  # the transactions only
    if ctx.dialect == "postgresql":
        raw = ctx.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY ledger_transactions ({', '.join(COLS)}) FROM STDIN") as cp:
                for r in rows(n, accounts, now):
                    cp.write_row(r)
            raw.commit()
            cur.execute("ANALYZE ledger_transactions")
            raw.commit()
        finally:
            raw.close()
    else:
        # raw executemany in one transaction: ~10x faster than ORM-level inserts
        sql = (
            f"INSERT INTO ledger_transactions ({', '.join(COLS)}) "  # noqa: S608 - constants
            f"VALUES ({', '.join('?' * len(COLS))})"
        )
        raw = ctx.engine.raw_connection()
        try:
            cur = raw.cursor()
            # secondary indexes are rebuilt once after the load (much cheaper than per row)
            for idx in INDEXES:
                cur.execute(f"DROP INDEX {idx.name}")
            cur.execute("BEGIN")
            batch = []
            for r in rows(n, accounts, now):
                # UTCDateTime stores naive UTC text on SQLite
                batch.append((*r[:-1], r[-1].replace(tzinfo=None).isoformat(" ")))
                if len(batch) == 50_000:
                    cur.executemany(sql, batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
            cur.execute("COMMIT")
            for idx in INDEXES:
                cur.execute(str(CreateIndex(idx).compile(ctx.engine)))
            cur.execute("ANALYZE")
        finally:
            raw.close()
    return time.perf_counter() - t0


def measure(client, urls: list[str], n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for u in urls[:5]:
        client.get(u)  # warm-up
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.get(urls[i % len(urls)])
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.status_code
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def explain(ctx, client, url: str) -> None:  # type: ignore[no-untyped-def]
    """EXPLAIN ANALYZE every SELECT that one ticket page with the sidebar sends: the plan's
    first line, its execution time, and a warning for a full scan."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            seen.append((statement, parameters))

    event.listen(ctx.engine, "before_cursor_execute", grab)
    try:
        client.get(url)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", grab)
    prefix = "EXPLAIN ANALYZE " if ctx.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in seen:
            cur.execute(prefix + statement, params)
            plan = [str(r[-1] if ctx.dialect == "sqlite" else r[0]) for r in cur.fetchall()]
            took = next((x for x in plan if x.startswith("Execution Time")), "")
            scan = [x.strip() for x in plan if "Seq Scan" in x or x.startswith("SCAN ")]
            first = " ".join(statement.split())[:110]
            print(f"  {took or plan[0][:60]:32s} {first}")
            for x in scan:
                print(f"      full scan: {x[:120]}")
        raw.rollback()
    finally:
        raw.close()


def run(kind: str, url: str, n_rows: int, n_req: int, show_plans: bool = False) -> None:
    from fastapi.testclient import TestClient

    from paydesk.web.app import create_app
    from paydesk.web.pages import agent as agent_pages

    data = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    ctx = build_context(Settings(database_url=url, data_dir=data, secret_key="bench"))
    prepare(ctx)
    people = [(f"Bench {i}", f"bench{i:02d}@example.com", None, "en") for i in range(20)]
    ticket_ids = []
    for i, (name, email, _, _) in enumerate(people):
        res = intake.receive(
            ctx,
            InboundMessage(
                channel=Channel.WEB, subject="Refund", body=f"My refund TP2026110{i % 9}-88341",
                email=email, name=name, locale="en", idempotency_key=f"bench-{i}",
            ),
        )  # fmt: skip
        ticket_ids.append(res.ticket_id)
    seed(ctx.sessions, people)
    with ctx.read() as s:
        accounts = list(s.scalars(text("SELECT id FROM ledger_accounts")))
    secs = load(ctx, n_rows, accounts)
    with ctx.read() as s:
        total = s.scalar(text("SELECT count(*) FROM ledger_transactions"))
    print(f"[{kind}] ledger: {total:,} transactions loaded in {secs:.1f}s ({total / secs:,.0f}/s)")
    a = create_agent(ctx, email="bench@topay.example", name="Bench", password="x" * 12,
                     role="supervisor")  # fmt: skip
    raw = create_session(ctx, agent_id=a.id, workspace_id=1)
    assert resolve_session(ctx, raw) is not None
    app = create_app(ctx=ctx)
    urls = [f"/agent/tickets/{t}" for t in ticket_ids]
    with TestClient(app) as client:
        client.cookies.set("pd_staff", raw)
        page = client.get(urls[0]).text
        assert 'id="payments-panel"' in page and 'id="txns"' in page, "sidebar missing"
        if show_plans:
            print(f"[{kind}] the sidebar's queries:")
            explain(ctx, client, urls[1])
        with_panel = measure(client, urls, n_req)
        saved = list(agent_pages.TICKET_PANELS)
        agent_pages.TICKET_PANELS[:] = [p for p in saved if "payments" not in p]
        try:
            baseline = measure(client, urls, n_req)
        finally:
            agent_pages.TICKET_PANELS[:] = saved
    for label, xs in (("ticket page + sidebar", with_panel), ("baseline, no sidebar", baseline)):
        print(
            f"[{kind}] {label:24s} n={len(xs)} p50={pct(xs, 50):6.1f} ms  "
            f"p95={pct(xs, 95):6.1f} ms  p99={pct(xs, 99):6.1f} ms  mean={statistics.mean(xs):.1f}"
        )
    ctx.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--explain", action="store_true", help="print the sidebar's query plans")
    args = ap.parse_args()
    if args.db in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="pd-bench-db-")) / "bench.db"
        run("sqlite", f"sqlite:///{path}", args.rows, args.requests, args.explain)
    if args.db in ("postgresql", "both"):
        base = os.environ.get("PAYDESK_BENCH_DATABASE_URL") or os.environ.get(
            "PAYDESK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        u = make_url(normalize_url(base))
        name = f"paydesk_bench_ledger_{os.getpid()}"
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("postgresql", u.set(database=name).render_as_string(hide_password=False),
                args.rows, args.requests, args.explain)  # fmt: skip
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
