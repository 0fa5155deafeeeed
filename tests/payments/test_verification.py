"""Identity verification by one-time code: real SMTP, the SMS gateway fake, attempts, expiry,
reuse, throttling, hashing, and the record on the ticket."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update

from paydesk.store.accounts import Verification
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from tests.factories import ALICE
from tests.payments.conftest import ALICE_PHONE, alice_ticket, enter_code, staff_client


def _start(api, tid, **body):  # type: ignore[no-untyped-def]
    body.setdefault("purpose", "password_reset")
    body.setdefault("channel", "email")
    return api.post(f"/api/v1/tickets/{tid}/verifications", json=body)


def test_email_code_verifies_and_is_recorded(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    r = _start(client, tid)
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["destination"] == "a•••@example.com"
    code = smtp.last_code(ALICE.email)
    token = smtp.last_token(ALICE.email)
    # stored hashed, never in clear, never in the audit trail or on the ticket
    with pctx.read() as s:
        v = s.get(Verification, started["id"])
        assert v is not None and code not in v.code_hash and len(v.code_hash) == 64
        dump = " ".join(str(x) for x in s.execute(text("SELECT details FROM audit_events")))
        dump += " ".join(str(x) for x in s.execute(text("SELECT body FROM messages")))
    assert code not in dump
    wrong = "000000" if code != "000000" else "111111"
    # agents never take codes: the customer types it at the link from the message
    r = client.post(f"/api/v1/verifications/{started['id']}/check", json={"code": code})
    assert r.status_code == 403
    r = enter_code(client, token, wrong)
    assert r.status_code == 422 and "4 attempt(s) left" in r.text
    r = enter_code(client, token, code)
    assert r.status_code == 200 and 'id="verified"' in r.text
    # reused code
    assert 'id="code-form"' not in client.get(f"/verify/{token}").text  # the page says done
    r = enter_code(client, token, code)
    assert r.status_code == 409 and "already verified" in r.text
    r = client.post(f"/verify/{token}", data={"code": code, "csrf_token": "forged"})
    assert r.status_code == 403
    forged = token.split(".")[0] + "." + "0" * 32
    assert client.get(f"/verify/{forged}").status_code == 404
    notes = [m["body"] for m in client.get(f"/api/v1/tickets/{tid}").json()["messages"]]
    assert any("Identity verified" in b for b in notes)
    with pctx.read() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("verification.failed") == 2 and "verification.passed" in actions


def test_integration_token_can_check_codes_ivr(api, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    tid = alice_ticket(pctx)
    r = _start(api, tid)
    assert r.status_code == 201
    code = smtp.last_code(ALICE.email)
    r = api.post(f"/api/v1/verifications/{r.json()['id']}/check", json={"code": code})
    assert r.status_code == 200 and r.json()["status"] == "verified"
    r = api.post(f"/api/v1/verifications/{r.json()['id']}/check", json={"code": code})
    assert r.status_code == 409


def test_sms_code_and_brute_force_lock(client, pctx, sms) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    r = _start(client, tid, channel="sms")
    assert r.status_code == 201, r.text
    code = sms.last_code(ALICE_PHONE)
    token = sms.last_token(ALICE_PHONE)
    wrong = "123456" if code != "123456" else "654321"
    statuses = [enter_code(client, token, wrong).status_code for _ in range(5)]
    assert statuses == [422] * 5
    # locked: even the right code no longer works
    r = enter_code(client, token, code)
    assert r.status_code == 409 and "locked" in r.text


def test_expired_code_and_bad_channels(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    vid = _start(client, tid).json()["id"]
    code = smtp.last_code(ALICE.email)
    token = smtp.last_token(ALICE.email)
    with pctx.uow() as uow:
        uow.session.execute(
            update(Verification)
            .where(Verification.id == vid)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = enter_code(client, token, code)
    assert r.status_code == 409 and "expired" in r.text
    # an address that is not on file cannot receive a "registered" code
    r = _start(client, tid, destination="mallory@example.com")
    assert r.status_code == 422 and r.json()["error"]["field"] == "destination"
    assert _start(client, tid, channel="pigeon").status_code == 422
    assert _start(client, tid, purpose="steal").status_code == 422
    assert client.post("/api/v1/verifications/999999/check", json={"code": "1"}).status_code == 403


def test_per_customer_throttle(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    codes = [
        _start(client, tid).status_code for _ in range(pctx.settings.verification_max_per_hour)
    ]
    assert codes == [201] * pctx.settings.verification_max_per_hour
    r = _start(client, tid)
    assert r.status_code == 429
    assert len(smtp.to(ALICE.email)) == pctx.settings.verification_max_per_hour


def test_gateway_failure_voids_the_code(client, pctx, sms) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    sms.fail = True
    r = _start(client, tid, channel="sms")
    assert r.status_code == 503 and r.json()["error"]["code"] == "delivery_failed"
    with pctx.read() as s:
        assert s.scalars(select(Verification.status)).all() == ["undeliverable"]
