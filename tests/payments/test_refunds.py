"""Refunds: currency-correct amounts, maker-checker, idempotent execution (50 concurrent
approve/execute attempts refund once), disputes with deadlines."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from paydesk.domain.errors import DomainError
from paydesk.services import refunds
from paydesk.store.audit import AuditEvent
from paydesk.store.ledger import LedgerRefund, LedgerTransaction
from tests.factories import agent
from tests.payments.conftest import QUEUES, alice_ticket, duplicate_charge, staff_client


def _req(client, tid, txn, amount, reason="duplicate charge"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/tickets/{tid}/refunds",
        json={"transaction_id": txn, "amount": amount, "reason": reason},
    )


def test_bad_amounts_are_refused_and_nothing_is_written(client, pctx) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)  # 4.80 USD
    for amount in ["4.805", "-1", "0", "4.81", "abc", "1e3"]:
        r = _req(client, tid, dup.id, amount)
        assert r.status_code == 422, (amount, r.text)
        assert r.json()["error"]["field"] == "amount"
    r = client.post(
        f"/api/v1/tickets/{tid}/refunds",
        json={"transaction_id": dup.id, "amount": 4.8, "reason": "float"},
    )
    assert r.status_code == 422
    assert _req(client, tid, "TP19990101-00000", "1.00").status_code == 404
    assert _req(client, tid, dup.id, "1.00", reason="").status_code == 422
    with pctx.read() as s:
        assert (
            s.scalars(select(LedgerRefund).where(LedgerRefund.transaction_id == dup.id)).all() == []
        )
    # another customer's transaction is not refundable from this ticket
    from tests.factories import BOB, ticket

    bob_tid = ticket(pctx, BOB).ticket_id
    assert _req(client, bob_tid, dup.id, "1.00").status_code == 404


def test_small_refund_executes_at_once_and_cannot_exceed(client, pctx) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    r = _req(client, tid, dup.id, "4.80")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "submitted" and body["amount"] == "4.80" and body["platform_refund_id"]
    r = _req(client, tid, dup.id, "0.01")
    assert r.status_code == 422 and "nothing left" in r.json()["error"]["message"]
    with pctx.read() as s:
        assert s.get(LedgerTransaction, dup.id).refunded_minor == 480  # type: ignore[union-attr]


def test_maker_checker(client, pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.settings.refund_approval_limits = {"USD": "1.00"}
    maker = staff_client(client, pctx, role="supervisor", email="maker@topay.example")
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    r = _req(client, tid, dup.id, "4.80")
    assert r.status_code == 201 and r.json()["status"] == "pending_approval"
    rid = r.json()["id"]
    # the requester, though a supervisor, cannot approve their own request
    r = client.post(f"/api/v1/refunds/{rid}/approve", json={})
    assert r.status_code == 403 and "own" in r.json()["error"]["message"]
    # an agent cannot approve at all
    staff_client(client, pctx, role="agent", email="agent2@topay.example")
    assert client.post(f"/api/v1/refunds/{rid}/approve", json={}).status_code == 403
    staff_client(client, pctx, role="supervisor", email="checker@topay.example")
    assert client.get("/api/v1/refunds").json()["refunds"][0]["id"] == rid
    assert client.post(f"/api/v1/refunds/{rid}/reject", json={}).status_code == 422  # needs a note
    r = client.post(f"/api/v1/refunds/{rid}/approve", json={"note": "duplicate confirmed"})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert r.json()["decided_by"] == "Supervisor" and r.json()["requested_by"] == maker.name
    assert client.post(f"/api/v1/refunds/{rid}/approve", json={}).status_code == 409
    with pctx.read() as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert actions.count("refund.decision_refused") == 2
    assert {"refund.requested", "refund.approved", "refund.executed"} <= set(actions)
    page = client.get("/agent/refunds")
    assert page.status_code == 200 and "Nothing to approve" in page.text


def test_no_double_refund_under_50_concurrent_attempts(pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.settings.refund_approval_limits = {"USD": "1.00"}
    _, maker = agent(pctx, email="m@topay.example", queues=QUEUES)
    checkers = [
        agent(pctx, email=f"c{i}@topay.example", role="supervisor", name=f"C{i}")[1]
        for i in range(5)
    ]
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    req = refunds.request_refund(
        pctx, maker, tid, transaction_id=dup.id, amount="4.80", reason="dup"
    )
    assert req.status == "pending_approval"

    def attempt(i: int) -> str:
        who = checkers[i % len(checkers)]
        try:
            if i % 2:
                return refunds.decide_refund(pctx, who, req.id, approve=True).status
            return refunds.execute_refund(pctx, who, req.id).status
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    with pctx.read() as s:
        ledger = s.scalars(select(LedgerRefund).where(LedgerRefund.transaction_id == dup.id)).all()
        assert len(ledger) == 1 and ledger[0].amount_minor == 480
        assert s.get(LedgerTransaction, dup.id).refunded_minor == 480  # type: ignore[union-attr]
        executed = s.scalars(select(AuditEvent).where(AuditEvent.action == "refund.executed")).all()
    assert len(executed) == 1
    assert results.count("conflict") >= 1 and "submitted" in results
    assert set(results) <= {"submitted", "executing", "approved", "conflict"}


def test_disputes_have_deadlines(client, pctx) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    dup = duplicate_charge(pctx)
    r = client.post(
        f"/api/v1/tickets/{tid}/disputes",
        json={"transaction_id": dup.id, "kind": "chargeback", "reason": "card network case"},
    )
    assert r.status_code == 201, r.text
    d = r.json()
    from datetime import datetime, timedelta

    from paydesk.store.base import utcnow

    due = datetime.fromisoformat(d["respond_by"]) - utcnow()
    assert d["status"] == "open" and timedelta(days=6.9) < due <= timedelta(days=7)
    again = client.post(
        f"/api/v1/tickets/{tid}/disputes",
        json={"transaction_id": dup.id, "kind": "dispute", "reason": "again"},
    )
    assert again.status_code == 409
    r = client.patch(f"/api/v1/disputes/{d['id']}", json={"status": "won"})
    assert r.status_code == 200 and r.json()["resolved_at"]
    assert client.patch(f"/api/v1/disputes/{d['id']}", json={"status": "lost"}).status_code == 409
    assert client.patch(f"/api/v1/disputes/{d['id']}", json={"status": "x"}).status_code == 422
