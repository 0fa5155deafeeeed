"""Self-service in the portal and through `ctx.extras["refund_status"]`, the platform being down
(console says so, the rest keeps working), and the demo ledger's support cases."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.payments.breaker import CircuitBreaker
from paydesk.payments.http import HttpPlatform
from paydesk.services import refunds
from paydesk.services.accounts import seed_demo_ledger
from paydesk.services.auth import create_session, resolve_session
from paydesk.store.audit import AuditEvent
from paydesk.store.ledger import LedgerAccount, LedgerRefund, LedgerTransaction
from tests.factories import ALICE, LI, agent, ticket
from tests.payments.conftest import (
    QUEUES,
    alice_ticket,
    duplicate_charge,
    enter_code,
    staff_client,
)


def test_portal_self_service_after_verification(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    tid = alice_ticket(pctx)
    _, maker = agent(pctx, email="m@topay.example", queues=QUEUES)
    refunds.request_refund(
        pctx, maker, tid, transaction_id=duplicate_charge(pctx).id, amount="4.80", reason="dup"
    )
    customer_id = client.app.state.ctx and _customer_id(pctx)
    status_fn = pctx.extras["refund_status"]
    assert status_fn(pctx, customer_id) == []  # not verified yet: nothing is disclosed
    raw = create_session(pctx, customer_id=customer_id)
    info = resolve_session(pctx, raw)
    client.cookies.set("pd_customer", raw)
    page = client.get("/portal/account")
    assert page.status_code == 200 and 'id="verify-form"' in page.text
    assert "my-transactions" not in page.text
    r = client.post("/portal/account/verify", data={"channel": "email", "csrf_token": "nope"})
    assert r.status_code == 403
    r = client.post(
        "/portal/account/verify", data={"channel": "email", "csrf_token": info.csrf_token}
    )
    assert r.status_code == 200 and 'id="code-form"' in r.text
    vid = int(r.text.split('name="verification_id" value="')[1].split('"')[0])
    r = client.post(
        "/portal/account/code",
        data={"verification_id": vid, "code": "000001", "csrf_token": info.csrf_token},
    )
    assert r.status_code == 422
    r = client.post(
        "/portal/account/code",
        data={
            "verification_id": vid,
            "code": smtp.last_code(ALICE.email),
            "csrf_token": info.csrf_token,
        },
        follow_redirects=True,
    )
    assert r.status_code == 200 and 'id="my-transactions"' in r.text
    assert "Refund issued, on its way to you" in r.text
    status = status_fn(pctx, customer_id)
    assert status[0]["status"] == "submitted" and status[0]["amount"] == "4.80"
    assert "requested_by" not in status[0]
    zh = client.get("/portal/account?lang=zh-CN")
    assert "我的退款" in zh.text and "退款已发起" in zh.text


def _customer_id(ctx) -> int:  # type: ignore[no-untyped-def]
    from paydesk.store.customers import CustomerIdentity

    with ctx.read() as s:
        return int(
            s.scalars(
                select(CustomerIdentity.customer_id).where(CustomerIdentity.value == ALICE.email)
            ).one()
        )


def test_platform_down_console_keeps_working(client, pctx, platform_server) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    platform_server.stop()  # nothing listens there any more
    pctx.extras["payments"] = HttpPlatform(
        platform_server.url, timeout=0.5, retries=0, breaker=CircuitBreaker(failure_threshold=2)
    )
    tid = alice_ticket(pctx, "TP20261030-55120 where is my refund")
    for _ in range(3):
        page = client.get(f"/agent/tickets/{tid}")
        assert page.status_code == 200
        assert 'id="platform-down"' in page.text and "TP20261030-55120" in page.text
    assert pctx.extras["payments"].breaker.state == "open"
    r = client.post(f"/api/v1/tickets/{tid}/account/freeze", json={})
    assert r.status_code == 503 and r.json()["error"]["code"] == "platform_unavailable"
    # replies and notes are unaffected
    r = client.post(f"/api/v1/tickets/{tid}/messages", json={"body": "Looking into it"})
    assert r.status_code in (200, 201)


def test_failed_platform_action_releases_the_verification(
    client, pctx, smtp, platform_server
) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    pctx.extras["payments"] = HttpPlatform(platform_server.url, retries=0)
    tid = alice_ticket(pctx)
    r = client.post(
        f"/api/v1/tickets/{tid}/verifications",
        json={"purpose": "password_reset", "channel": "email"},
    )
    assert r.status_code == 201
    r = enter_code(client, smtp.last_token(ALICE.email), smtp.last_code(ALICE.email))
    assert r.status_code == 200
    platform_server.state.fail_posts = 1
    r = client.post(f"/api/v1/tickets/{tid}/account/password-reset")
    assert r.status_code == 503
    assert platform_server.state.operations == {}
    # nothing half-done: the verification was given back, so the retry needs no new code
    r = client.post(f"/api/v1/tickets/{tid}/account/password-reset")
    assert r.status_code == 200, r.text
    assert list(platform_server.state.operations.values()) == ["password-reset"]
    with pctx.read() as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert "account.password_reset_failed" in actions
    assert actions.count("account.password_reset_done") == 1


def test_http_platform_end_to_end_refund(client, pctx, platform_server) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    pctx.extras["payments"] = HttpPlatform(platform_server.url, backoff_seconds=0)
    tid = alice_ticket(pctx)
    platform_server.state.fail_next = 1  # the first refund POST fails; the keyed retry is safe
    ov = client.get(f"/api/v1/tickets/{tid}/account").json()
    assert ov["account"]["id"] == "U900001"
    r = client.post(
        f"/api/v1/tickets/{tid}/refunds",
        json={"transaction_id": "TP20261101-10001", "amount": "2.00", "reason": "dup"},
    )
    assert r.status_code == 201 and r.json()["status"] == "submitted", r.text
    assert len(platform_server.state.refunds) == 1


def test_demo_ledger_has_the_support_cases(pctx) -> None:  # type: ignore[no-untyped-def]
    ticket(pctx, LI, body="退款一直没到账 TP20261102-88341")
    seed_demo_ledger(pctx)
    seed_demo_ledger(pctx)  # idempotent
    with pctx.read() as s:
        assert s.scalar(select(LedgerAccount.id).where(LedgerAccount.email == LI.email))
        rows = s.scalars(select(LedgerTransaction)).all()
        refunds_ = s.scalars(select(LedgerRefund)).all()
    descs = " ".join(r.description + " " + (r.failure_reason or "") for r in rows)
    assert "duplicate charge" in descs and "wrong network" in descs and "debited" in descs
    assert any(r.kind == "transfer" and r.status == "pending" for r in rows)
    assert any(r.id == "TP20261102-88341" for r in rows)
    assert {r.status for r in refunds_} == {"processing"}
