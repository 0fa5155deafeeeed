"""Refund follow-through (issue 7): a refund that fails or is reversed on the platform reopens
its solved/closed ticket (audited, system note), alerts the assignee/queue on the event bus and
tells the customer in their language in the ticket's channel; a refund whose platform answer is
unknown (timeouts, garbage) is reconciled by looking it up on the platform by refund id /
idempotency key, with backoff, a supervisor list and a "check now" action — never a second
refund. Against the fake platform HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from email import message_from_string, policy
from typing import Any

from sqlalchemy import func, select

from paydesk.domain.tickets import AuthorType
from paydesk.payments.http import HttpPlatform
from paydesk.services import refund_jobs, refunds
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.tickets import update_ticket
from paydesk.store.accounts import RefundRequest
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailOutbox
from paydesk.store.tickets import Message, Ticket
from tests.factories import LI, agent
from tests.fakes.platform_server import FakePlatform, _account, _txn
from tests.payments.conftest import QUEUES, alice_ticket, staff_client

TXN = "TP20261101-10001"  # Alice's 4.80 USD payment at the fake platform


def _later(ctx: AppContext, request_id: int, minutes: float) -> None:
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


def _messages(ctx: AppContext, ticket_id: int, *, internal: bool) -> list[str]:
    with ctx.read() as s:
        return list(
            s.scalars(
                select(Message.body)
                .where(
                    Message.ticket_id == ticket_id,
                    Message.author_type == AuthorType.SYSTEM.value,
                    Message.internal.is_(internal),
                )
                .order_by(Message.id)
            )
        )


def _audits(ctx: AppContext, action: str) -> int:
    with ctx.read() as s:
        q = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(s.scalar(q) or 0)


def _status(ctx: AppContext, ticket_id: int) -> str:
    with ctx.read() as s:
        return str(s.scalar(select(Ticket.status).where(Ticket.id == ticket_id)))


def _posts(fake: FakePlatform) -> int:
    return sum(1 for c in fake.state.calls if c[0] == "POST")


def _run_and_watch(ctx: AppContext, *topics: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """One job round while a console listens on `topics`; returns the report and the events
    up to the first RefundFailed."""

    async def watch() -> tuple[dict[str, int], list[dict[str, Any]]]:
        sub = ctx.bus.subscribe(*topics)
        try:
            report = await asyncio.to_thread(refund_jobs.run_once, ctx)
            seen: list[dict[str, Any]] = []
            while not any(e.get("type") in ("RefundFailed", "AgentAlert") for e in seen):
                seen.append(await sub.get(timeout=5))
            return report, seen
        finally:
            sub.close()

    return asyncio.run(watch())


def test_failed_refund_reopens_the_solved_ticket_and_alerts_the_assignee(
    pctx, platform_server
) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    pctx.extras["payments"] = HttpPlatform(fake.url, retries=0)
    tid = alice_ticket(pctx)
    owner, owner_actor = agent(pctx, email="owner@topay.example", queues=QUEUES)
    req = refunds.request_refund(
        pctx, owner_actor, tid, transaction_id=TXN, amount="4.80", reason="dup"
    )
    assert req.status == "submitted"
    update_ticket(pctx, owner_actor, tid, {"assignee_id": owner.id, "status": "solved"})
    fake.settle_refunds("failed", "issuer declined the credit")
    _later(pctx, req.id, 1)

    report, events = _run_and_watch(pctx, f"agent:{owner.id}")
    assert report["failed"] == 1
    alert = events[-1]
    assert alert["type"] == "AgentAlert" and alert["alert"] == "refund_failed"
    assert alert["refund_request_id"] == req.id and alert["ticket_id"] == tid
    assert alert["reopened"] is True and alert["assignee_id"] == owner.id
    assert _status(pctx, tid) == "open"
    assert _audits(pctx, "ticket.reopened") == 1 and _audits(pctx, "refund.failed") == 1
    with pctx.read() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.reopened")).one()
    assert ev.details["changes"] == {"status": ["solved", "open"]}
    assert ev.actor_type == "system" and ev.object_id == tid
    notes = _messages(pctx, tid, internal=True)
    assert any("Ticket reopened (solved → open)" in n for n in notes)
    assert any("issuer declined the credit" in n for n in notes)
    public = _messages(pctx, tid, internal=False)
    assert len(public) == 1 and "could not complete your refund" in public[0]
    assert "issuer" not in public[0]  # the platform's reason stays internal
    # a second round changes nothing: told once, reopened once
    _later(pctx, req.id, 120)
    assert refund_jobs.run_once(pctx)["failed"] == 0
    assert len(_messages(pctx, tid, internal=False)) == 1 and _audits(pctx, "ticket.reopened") == 1


def test_reversed_refund_reopens_a_closed_email_ticket_and_tells_the_customer_in_chinese(
    pctx, platform_server
) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    fake.state.accounts["U900002"] = _account("U900002", LI.email)
    fake.state.txns["TP20261101-20001"] = _txn("TP20261101-20001", "U900002", 9900)
    pctx.extras["payments"] = HttpPlatform(fake.url, retries=0)
    mail = (
        f"From: 李娜 <{LI.email}>\r\nTo: support@topay.example\r\nSubject: 退款\r\n"
        "Message-ID: <rev1@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "重复扣款，请退款。\r\n"
    ).encode()
    tid = ingest_bytes(pctx, mail, source="cli").ticket_id
    assert tid is not None
    _, maker = agent(pctx, email="maker@topay.example", queues=QUEUES)
    req = refunds.request_refund(
        pctx, maker, tid, transaction_id="TP20261101-20001", amount="99.00", reason="重复扣款"
    )
    fake.settle_refunds("succeeded")
    _later(pctx, req.id, 1)
    assert refund_jobs.run_once(pctx)["succeeded"] == 1
    done = _req(pctx, req.id)
    assert done.status == "succeeded" and done.next_check_at is not None  # watched
    update_ticket(pctx, maker, tid, {"status": "closed"})
    # not due for an hour: no platform call
    calls = len(fake.state.calls)
    assert refund_jobs.run_once(pctx)["checked"] == 0 and len(fake.state.calls) == calls

    (key,) = [k for k, r in fake.state.refunds.items() if r["account_id"] == "U900002"]
    fake.state.refunds[key]["status"] = "reversed"  # the bank sent the money back
    _later(pctx, req.id, 61)
    report, events = _run_and_watch(pctx, "inbox:1")
    assert report["failed"] == 1
    assert events[-1]["reversed"] is True and events[-1]["reopened"] is True
    rev = _req(pctx, req.id)
    assert rev.status == "failed" and rev.platform_status == "reversed"
    assert _status(pctx, tid) == "open"
    assert _audits(pctx, "refund.reversed") == 1 and _audits(pctx, "ticket.reopened") == 1
    public = _messages(pctx, tid, internal=False)
    assert len(public) == 2 and "已完成" in public[0] and "已被支付平台撤销" in public[1]
    assert refunds.customer_refunds(pctx, rev.customer_id, "zh-CN")[0]["status_text"].startswith(
        "退款失败"
    )
    with pctx.read() as s:  # both notices go out by email, in the ticket's thread
        replies = s.scalars(
            select(EmailOutbox).where(EmailOutbox.kind == "reply").order_by(EmailOutbox.id)
        ).all()
    assert [r.to_addr for r in replies] == [LI.email, LI.email]
    body = message_from_string(replies[1].mime, policy=policy.SMTP).get_body(("plain",))
    assert body is not None and "已被支付平台撤销" in body.get_content()


def _pending(ctx: AppContext, tid: int, amount: str = "4.80") -> int:
    ctx.settings.refund_approval_limits = {"USD": "1.00"}
    _, maker = agent(ctx, email="maker@topay.example", queues=QUEUES)
    req = refunds.request_refund(
        ctx, maker, tid, transaction_id=TXN, amount=amount, reason="double charge"
    )
    assert req.status == "pending_approval"
    return req.id


def test_slow_platform_answer_lost_is_reconciled_by_key_without_a_second_refund(
    client, pctx, platform_server
) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    pctx.extras["payments"] = HttpPlatform(fake.url, timeout=0.3, retries=0)
    tid = alice_ticket(pctx)
    rid = _pending(pctx, tid)
    staff_client(client, pctx, role="supervisor", email="sup@topay.example")
    fake.state.slow_seconds = 1.0  # the platform refunds, but answers after we gave up
    r = client.post(f"/api/v1/refunds/{rid}/approve", json={"note": "ok"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "platform_unavailable"
    for _ in range(100):  # the platform finishes its work after our timeout
        if fake.state.refunds:
            break
        time.sleep(0.05)
    assert len(fake.state.refunds) == 1 and _posts(fake) == 1
    req = _req(pctx, rid)
    assert req.status == "unconfirmed" and req.platform_refund_id is None
    assert "no clear answer" in (req.failure_reason or "")
    assert refunds.customer_refunds(pctx, req.customer_id)[0]["status_text"] == "Being processed"
    page = client.get("/agent/refunds").text
    assert f'id="unconfirmed-{rid}"' in page and f"/api/v1/refunds/{rid}/check" in page

    # the platform now answers garbage: nothing definite, nothing re-sent, asked again later
    fake.state.slow_seconds, fake.state.garbage = 0.0, True
    pctx.extras["payments"] = HttpPlatform(fake.url, timeout=2, retries=0)
    _later(pctx, rid, 1)
    report = refund_jobs.run_once(pctx)
    assert report["unavailable"] == 1 and report["resent"] == 0, report
    after = _req(pctx, rid)
    assert after.status == "unconfirmed" and after.next_check_at is not None
    r = client.post(f"/api/v1/refunds/{rid}/check", json={})
    assert r.status_code == 503 and r.json()["error"]["code"] == "platform_unavailable"
    assert refund_jobs.run_once(pctx)["unavailable"] == 0  # backed off: not due again yet

    fake.state.garbage = False
    _later(pctx, rid, 5)
    report = refund_jobs.run_once(pctx)
    assert report["reconciled"] == 1 and report["resent"] == 0, report
    req = _req(pctx, rid)
    assert req.status == "submitted" and req.platform_refund_id == "RF-1"
    assert _posts(fake) == 1 and len(fake.state.refunds) == 1  # one refund, one POST
    assert fake.state.txns[TXN]["refunded_minor"] == 480
    assert _audits(pctx, "refund.reconciled") == 1 and _audits(pctx, "refund.checked") == 1
    assert any(
        "found on the payment platform as RF-1" in n for n in _messages(pctx, tid, internal=True)
    )
    fake.settle_refunds("succeeded")
    _later(pctx, rid, 1)
    assert refund_jobs.run_once(pctx)["succeeded"] == 1
    assert len(_messages(pctx, tid, internal=False)) == 1


def test_check_now_resends_with_the_same_key_only_when_the_platform_has_none(
    client, pctx, platform_server
) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    pctx.extras["payments"] = HttpPlatform(fake.url, retries=0)
    tid = alice_ticket(pctx)
    rid = _pending(pctx, tid)
    r = client.post(f"/api/v1/refunds/{rid}/check", json={})
    assert r.status_code in (401, 403, 404)  # not signed in
    staff_client(client, pctx, role="supervisor", email="sup@topay.example")
    r = client.post(f"/api/v1/refunds/{rid}/check", json={})
    assert r.status_code == 409  # pending approval: nothing to ask the platform
    fake.state.fail_posts = 1  # the refund POST fails (503): the platform made nothing
    assert client.post(f"/api/v1/refunds/{rid}/approve", json={"note": "ok"}).status_code == 503
    assert _req(pctx, rid).status == "unconfirmed" and fake.state.refunds == {}
    listed = client.get("/api/v1/refunds?status=unconfirmed").json()["refunds"]
    assert [x["id"] for x in listed] == [rid]
    # within the backoff the job only looks (the platform has none) and waits
    report = refund_jobs.run_once(pctx)
    assert report["resent"] == 0 and _posts(fake) == 1
    # an agent's "check now" does not wait: looked up, none, sent again with the same key
    staff_client(client, pctx, role="agent", email="a2@topay.example")
    r = client.post(f"/api/v1/refunds/{rid}/check", json={})
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    req = _req(pctx, rid)
    assert _posts(fake) == 2 and list(fake.state.refunds) == [req.idempotency_key]
    assert req.attempts == 2 and _audits(pctx, "refund.retried") == 1
    # checking again asks the platform and changes nothing
    r = client.post(f"/api/v1/refunds/{rid}/check", json={})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert _posts(fake) == 2 and len(fake.state.refunds) == 1
    assert client.post("/api/v1/refunds/999999/check", json={}).status_code == 404


def test_a_refund_the_platform_lost_is_flagged_not_resent(client, pctx, platform_server) -> None:  # type: ignore[no-untyped-def]
    fake: FakePlatform = platform_server
    pctx.extras["payments"] = HttpPlatform(fake.url, retries=0)
    tid = alice_ticket(pctx)
    _, maker = agent(pctx, email="maker@topay.example", queues=QUEUES)
    req = refunds.request_refund(pctx, maker, tid, transaction_id=TXN, amount="4.80", reason="d")
    fake.state.refunds.clear()  # the platform no longer knows RF-1 (nor the key)
    _later(pctx, req.id, 1)
    report = refund_jobs.run_once(pctx)
    assert report["unknown"] == 1
    stuck = _req(pctx, req.id)
    assert stuck.status == "stuck" and "no longer knows refund RF-1" in (stuck.failure_reason or "")
    assert _posts(fake) == 1 and _audits(pctx, "refund.flagged") == 1
    staff_client(client, pctx, role="supervisor", email="sup@topay.example")
    assert f'id="stuck-{req.id}"' in client.get("/agent/refunds").text
