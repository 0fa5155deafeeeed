"""The refund lifecycle jobs: submitted refunds are followed on the platform until they complete
(the customer is told once, in their language, even with several job processes), executions left
behind by a crash are re-sent with the same idempotency key (one refund at the platform — sandbox
and HTTP), retries back off and end with a flag for a supervisor."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_string, policy
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from paydesk.domain.tickets import AuthorType
from paydesk.payments.http import HttpPlatform
from paydesk.payments.port import PlatformUnavailable
from paydesk.services import refund_jobs, refunds
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import ingest_bytes
from paydesk.settings import get_settings
from paydesk.store.accounts import RefundRequest
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailOutbox
from paydesk.store.ledger import LedgerAccount, LedgerRefund, LedgerTransaction
from paydesk.store.tickets import Message
from tests.factories import LI, agent
from tests.fakes.platform_server import FakePlatform
from tests.payments.conftest import QUEUES, alice_ticket, duplicate_charge, staff_client


def _maker(ctx: AppContext) -> Any:
    return agent(ctx, email="maker@topay.example", queues=QUEUES)[1]


def _later(ctx: AppContext, request_id: int, minutes: float) -> None:
    """Time passes for one request: its last attempt/poll moves `minutes` into the past."""
    delta = timedelta(minutes=minutes)
    with ctx.uow() as uow:
        req = uow.session.get(RefundRequest, request_id)
        assert req is not None
        req.updated_at -= delta
        if req.next_check_at is not None:
            req.next_check_at -= delta


def _req(ctx: AppContext, request_id: int) -> RefundRequest:
    with ctx.read() as s:
        req = s.get(RefundRequest, request_id)
        assert req is not None
        return req


def _public_notes(ctx: AppContext, ticket_id: int) -> list[str]:
    with ctx.read() as s:
        return list(
            s.scalars(
                select(Message.body).where(
                    Message.ticket_id == ticket_id,
                    Message.author_type == AuthorType.SYSTEM.value,
                    Message.internal.is_(False),
                )
            )
        )


def _audits(ctx: AppContext, action: str) -> int:
    with ctx.read() as s:
        count = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(s.scalar(count) or 0)


def test_submitted_refund_completes_and_the_customer_is_told_once(pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.extras["payments"].settle_seconds = 0  # the sandbox platform finishes at once
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    req = refunds.request_refund(
        pctx, _maker(pctx), tid, transaction_id=dup.id, amount="4.80", reason="dup"
    )
    assert req.status == "submitted" and req.next_check_at is not None
    # not due yet: the job leaves it alone (no platform call)
    assert refund_jobs.run_once(pctx)["checked"] == 0
    _later(pctx, req.id, 1)

    # four job processes and an agent's refresh at the same moment
    def go(i: int) -> Any:
        return refunds.refresh_status(pctx, req.id) if i == 4 else refund_jobs.run_once(pctx)

    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(go, range(5)))

    done = _req(pctx, req.id)
    assert done.status == "succeeded" and done.platform_status == "succeeded"
    # watched (sparsely) for a reversal: next look in an hour
    assert done.next_check_at is not None
    notes = _public_notes(pctx, tid)
    assert len(notes) == 1, notes
    assert "4.80 USD" in notes[0] and dup.id in notes[0] and "complete" in notes[0]
    assert _audits(pctx, "refund.succeeded") == 1
    # the platform's side: the refund is done and the money is back as a refund credit
    with pctx.read() as s:
        ledger = s.scalars(select(LedgerRefund).where(LedgerRefund.transaction_id == dup.id)).one()
        credit = s.scalars(
            select(LedgerTransaction).where(LedgerTransaction.original_id == dup.id)
        ).one()
    assert ledger.status == "succeeded"
    assert (credit.kind, credit.direction, credit.amount_minor) == ("refund", "credit", 480)
    # the customer's view (portal and chat) says refunded
    assert refunds.customer_refunds(pctx, done.customer_id)[0]["status_text"] == "Refunded"
    # nothing left to do
    assert refund_jobs.run_once(pctx)["checked"] == 0


def test_failed_refund_is_told_in_chinese_and_the_amount_is_refundable_again(pctx) -> None:  # type: ignore[no-untyped-def]
    from paydesk.payments.demo_ledger import seed

    seed(pctx.sessions, [(LI.name, LI.email, None, "zh-CN")])
    mail = (
        f"From: 李娜 <{LI.email}>\r\nTo: support@topay.example\r\nSubject: 退款\r\n"
        "Message-ID: <r1@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "我的退款呢？\r\n"
    ).encode()
    tid = ingest_bytes(pctx, mail, source="cli").ticket_id  # an email ticket
    assert tid is not None
    with pctx.read() as s:
        acct = s.scalars(select(LedgerAccount).where(LedgerAccount.email == LI.email)).one()
        paid = s.scalars(
            select(LedgerTransaction).where(
                LedgerTransaction.account_id == acct.id,
                LedgerTransaction.kind == "payment",
                LedgerTransaction.status == "succeeded",
                LedgerTransaction.refunded_minor == 0,
            )
        ).first()
        assert paid is not None
    pctx.extras["payments"].settle_seconds = 0
    req = refunds.request_refund(
        pctx, _maker(pctx), tid, transaction_id=paid.id, amount="1.00", reason="退货"
    )
    assert req.status == "submitted"
    with pctx.uow() as uow:  # the account is closed while the platform processes the refund
        uow.session.execute(
            update(LedgerAccount).where(LedgerAccount.id == acct.id).values(status="closed")
        )
    _later(pctx, req.id, 1)
    assert refund_jobs.run_once(pctx)["failed"] == 1
    done = _req(pctx, req.id)
    assert done.status == "failed" and "closed" in (done.failure_reason or "")
    notes = _public_notes(pctx, tid)
    assert len(notes) == 1 and "未能完成" in notes[0] and paid.id in notes[0]
    assert "closed" not in notes[0]  # the platform's reason is for agents, not the customer
    with pctx.read() as s:
        internal = s.scalars(
            select(Message.body).where(Message.ticket_id == tid, Message.internal.is_(True))
        ).all()
        assert any("failed on the payment platform" in b for b in internal)
        assert s.get(LedgerTransaction, paid.id).refunded_minor == 0  # type: ignore[union-attr]
    zh = refunds.customer_refunds(pctx, done.customer_id, "zh-CN")[0]
    assert zh["status_text"].startswith("退款失败")
    # the notice goes to the customer by email too (after commit, through the outbox)
    with pctx.read() as s:
        replies = s.scalars(select(EmailOutbox).where(EmailOutbox.kind == "reply")).all()
    assert len(replies) == 1 and replies[0].to_addr == LI.email
    body = message_from_string(replies[0].mime, policy=policy.SMTP).get_body(("plain",))
    assert body is not None and "未能完成" in body.get_content()


CRASH = textwrap.dedent(
    """
    import os, sys
    import paydesk.store.models  # every table, as a real process has them
    from paydesk.settings import Settings
    from paydesk.services.context import build_context
    from paydesk.services import refunds
    from paydesk.services.actors import system_actor

    url, data_dir, secret, payments_url, when, rid = sys.argv[1:]
    ctx = build_context(Settings(
        database_url=url, data_dir=data_dir, secret_key=secret,
        payments_url=payments_url or None,
    ))
    real = ctx.extras["payments"]

    class DiesAroundTheCall:
        def __getattr__(self, name):
            return getattr(real, name)

        def request_refund(self, *args, **kw):
            if when == "before":
                os._exit(9)
            real.request_refund(*args, **kw)
            os._exit(9)  # the platform refunded; we die before recording its answer

    ctx.extras["payments"] = DiesAroundTheCall()
    refunds.decide_refund(ctx, system_actor(), int(rid), approve=True)
    sys.exit(0)  # not reached
    """
)


def _crash_while_executing(ctx: AppContext, request_id: int, when: str, payments_url: str) -> None:
    st = ctx.settings
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [st.database_url, str(st.data_dir), st.secret_key, payments_url, when, str(request_id)]
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, *args], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    assert _req(ctx, request_id).status == "executing"


def _pending_request(ctx: AppContext, tid: int, txn_id: str) -> int:
    ctx.settings.refund_approval_limits = {"USD": "1.00"}
    req = refunds.request_refund(
        ctx, _maker(ctx), tid, transaction_id=txn_id, amount="4.80", reason="dup"
    )
    assert req.status == "pending_approval"
    return req.id


@pytest.mark.parametrize("when", ["after", "before"])
def test_crash_during_execution_sandbox_one_refund(pctx, when) -> None:  # type: ignore[no-untyped-def]
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    rid = _pending_request(pctx, tid, dup.id)
    _crash_while_executing(pctx, rid, when, "")

    def ledger_refunds() -> list[LedgerRefund]:
        with pctx.read() as s:
            return list(
                s.scalars(select(LedgerRefund).where(LedgerRefund.transaction_id == dup.id))
            )

    assert len(ledger_refunds()) == (1 if when == "after" else 0)
    # within the stuck window the job does not touch it (the process might still be working)
    assert refund_jobs.run_once(pctx)["retried"] == 0
    _later(pctx, rid, 6)
    with ThreadPoolExecutor(max_workers=3) as pool:  # three job processes
        reports = list(pool.map(lambda _: refund_jobs.run_once(pctx), range(3)))
    assert sum(r["interrupted"] for r in reports) == 1  # one hands it to reconciliation
    made = ledger_refunds()
    assert len(made) == 1 and made[0].amount_minor == 480
    req = _req(pctx, rid)
    assert req.status == "submitted" and req.platform_refund_id == made[0].id
    with pctx.read() as s:
        assert s.get(LedgerTransaction, dup.id).refunded_minor == 480  # type: ignore[union-attr]
    assert _audits(pctx, "refund.unconfirmed") == 1
    if when == "after":  # the platform had it (found by the idempotency key): nothing re-sent
        assert sum(r["reconciled"] for r in reports) == 1 and req.attempts == 1
        assert _audits(pctx, "refund.reconciled") == 1 and _audits(pctx, "refund.retried") == 0
    else:  # the platform said it has none: sent once more, with the same key
        assert sum(r["resent"] for r in reports) == 1 and req.attempts == 2
        assert _audits(pctx, "refund.retried") == 1 and _audits(pctx, "refund.executed") == 1


def test_crash_during_execution_http_platform_one_refund(pctx, platform_server) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    pctx.extras["payments"] = HttpPlatform(fake.url, retries=0)
    tid = alice_ticket(pctx)
    rid = _pending_request(pctx, tid, "TP20261101-10001")  # 4.80 USD at the fake platform
    _crash_while_executing(pctx, rid, "after", fake.url)
    posts = [c for c in fake.state.calls if c[0] == "POST"]
    assert len(posts) == 1 and len(fake.state.refunds) == 1
    _later(pctx, rid, 6)
    report = refund_jobs.run_once(pctx)
    assert report["interrupted"] == 1 and report["reconciled"] == 1, report
    posts = [c for c in fake.state.calls if c[0] == "POST"]
    assert len(posts) == 1  # found on the platform by its Idempotency-Key: not sent again
    assert ("GET", "/v1/accounts/U900001/refunds?limit=100") in fake.state.calls
    assert len(fake.state.refunds) == 1
    assert fake.state.txns["TP20261101-10001"]["refunded_minor"] == 480
    req = _req(pctx, rid)
    assert req.status == "submitted" and req.platform_refund_id == "RF-1"
    assert req.attempts == 1
    (key,) = fake.state.refunds
    assert key == req.idempotency_key
    # the platform completes it; the job follows and tells the customer
    fake.settle_refunds("succeeded")
    _later(pctx, rid, 1)
    assert refund_jobs.sync_submitted(pctx)["succeeded"] == 1
    assert _req(pctx, rid).status == "succeeded"
    assert len(_public_notes(pctx, tid)) == 1


class DownPlatform:
    """The sandbox with its refund endpoint down (reads work)."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def request_refund(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        raise PlatformUnavailable("the payment platform did not answer in time")


def test_retries_back_off_then_a_supervisor_is_asked(client, pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.settings.refund_max_retries = 2
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    rid = _pending_request(pctx, tid, dup.id)
    _crash_while_executing(pctx, rid, "before", "")  # attempt 1 never reached the platform
    sandbox = pctx.extras["payments"]
    down = pctx.extras["payments"] = DownPlatform(sandbox)  # reads work, refunds time out

    _later(pctx, rid, 6)  # 5 minutes after attempt 1: looked up (none there), re-sent
    report = refund_jobs.run_once(pctx)
    assert report["interrupted"] == 1 and report["resent"] == 1, report
    assert _req(pctx, rid).status == "unconfirmed" and _req(pctx, rid).attempts == 2
    _later(pctx, rid, 6)  # checked again, but attempt 3 waits 10 minutes after attempt 2
    report = refund_jobs.run_once(pctx)
    assert report["waiting"] == 1 and report["resent"] == 0 and down.calls == 1
    _later(pctx, rid, 5)
    assert refund_jobs.run_once(pctx)["resent"] == 1 and down.calls == 2
    _later(pctx, rid, 21)  # 20 minutes after attempt 3: retries are exhausted
    report = refund_jobs.run_once(pctx)
    assert report["flagged"] == 1 and report["resent"] == 0 and down.calls == 2
    req = _req(pctx, rid)
    assert req.status == "stuck" and "3 attempts" in (req.failure_reason or "")
    assert _audits(pctx, "refund.retry_failed") == 2 and _audits(pctx, "refund.flagged") == 1
    _later(pctx, rid, 600)
    assert sum(refund_jobs.run_once(pctx).values()) == 0  # left for the supervisor
    # the customer is not alarmed; the agents and supervisors see it
    assert refunds.customer_refunds(pctx, req.customer_id)[0]["status_text"] == "Being processed"
    assert _public_notes(pctx, tid) == []

    pctx.extras["payments"] = sandbox  # the platform is back
    staff_client(client, pctx, role="agent", email="a2@topay.example")
    r = client.post(f"/api/v1/refunds/{rid}/execute", json={})
    assert r.status_code == 403
    staff_client(client, pctx, role="supervisor", email="sup@topay.example")
    page = client.get("/agent/refunds")
    assert page.status_code == 200 and f'id="stuck-{rid}"' in page.text
    panel = client.get(f"/agent/tickets/{tid}").text  # the ticket's sidebar says why, offers retry
    assert "3 attempts" in panel and f"/api/v1/refunds/{rid}/execute" in panel
    r = client.post(f"/api/v1/refunds/{rid}/execute", json={})
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    with pctx.read() as s:
        made = s.scalars(select(LedgerRefund).where(LedgerRefund.transaction_id == dup.id)).all()
        assert len(made) == 1
    assert f'id="stuck-{rid}"' not in client.get("/agent/refunds").text


def test_server_background_loop_completes_refunds(pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.extras["payments"].settle_seconds = 0
    pctx.settings.refund_sync_seconds = 0.05
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    req = refunds.request_refund(
        pctx, _maker(pctx), tid, transaction_id=dup.id, amount="4.80", reason="dup"
    )
    _later(pctx, req.id, 1)
    assert refund_jobs.refund_loop in pctx.extras["background"]

    async def run_for_a_while() -> None:
        task = asyncio.create_task(refund_jobs.refund_loop(pctx))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _req(pctx, req.id).status == "succeeded":
                break
        task.cancel()

    asyncio.run(run_for_a_while())
    assert _req(pctx, req.id).status == "succeeded"


def test_cli_refunds_sync(pctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from paydesk.cli import SUBCOMMANDS
    from paydesk.cli.refunds import app

    assert ("paydesk.cli.refunds", "app", "refunds") in SUBCOMMANDS
    pctx.extras["payments"].settle_seconds = 0
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    req = refunds.request_refund(
        pctx, _maker(pctx), tid, transaction_id=dup.id, amount="4.80", reason="dup"
    )
    _later(pctx, req.id, 1)
    st = pctx.settings
    monkeypatch.setenv("PAYDESK_DATABASE_URL", st.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(st.data_dir))
    monkeypatch.setenv("PAYDESK_SECRET_KEY", st.secret_key)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["sync"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, (r.output, r.exception)
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["succeeded"] == 1 and report["checked"] == 1 and report["flagged"] == 0
    assert _req(pctx, req.id).status == "succeeded"
