"""Account actions after verification: password reset, contact change with the cooling-off
notice, freeze/unfreeze; the sidebar panel and auto-linking of transaction ids."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.store.accounts import TicketTransaction
from paydesk.store.audit import AuditEvent
from paydesk.store.ledger import LedgerAccount, LedgerOperation
from tests.factories import ALICE, BOB, ticket
from tests.payments.conftest import alice_ticket, enter_code, staff_client


def _verify(client, smtp, tid, purpose, *, to=ALICE.email, role="registered", channel="email"):  # type: ignore[no-untyped-def]
    body = {"purpose": purpose, "channel": channel, "role": role}
    if role == "new":
        body["destination"] = to
    r = client.post(f"/api/v1/tickets/{tid}/verifications", json=body)
    assert r.status_code == 201, r.text
    r = enter_code(client, smtp.last_token(to), smtp.last_code(to))
    assert r.status_code == 200 and 'id="verified"' in r.text, r.text


def _ops(ctx):  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return list(s.scalars(select(LedgerOperation.kind)))


def test_password_reset_needs_a_fresh_verification_each_time(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    url = f"/api/v1/tickets/{tid}/account/password-reset"
    r = client.post(url)
    assert r.status_code == 403 and r.json()["error"]["code"] == "verification_required"
    assert _ops(pctx) == []
    _verify(client, smtp, tid, "password_reset")
    assert client.post(url).status_code == 200
    assert _ops(pctx) == ["password_reset"]
    assert client.post(url).status_code == 403  # the verification was used up
    with pctx.read() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"account.password_reset_requested", "account.password_reset_done"} <= actions


def test_contact_change_needs_old_and_new_and_notifies_old(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    url = f"/api/v1/tickets/{tid}/account/contact"
    new = "alice.new@example.org"
    _verify(client, smtp, tid, "contact_change")
    r = client.post(url, json={"kind": "email", "value": new})
    assert r.status_code == 403  # the new address is not verified yet
    _verify(client, smtp, tid, "contact_change", to=new, role="new")
    # a different new address than the verified one is refused
    r = client.post(url, json={"kind": "email", "value": "other@example.org"})
    assert r.status_code == 403
    r = client.post(url, json={"kind": "email", "value": new})
    assert r.status_code == 200, r.text
    with pctx.read() as s:
        assert s.scalars(select(LedgerAccount.email)).first() == new
    notice = smtp.to(ALICE.email)[-1]
    body = notice.get_payload(decode=True).decode()
    assert "changed" in notice["Subject"] and "a•••@example.org" in body
    assert client.post(url, json={"kind": "fax", "value": "x"}).status_code == 422


def test_freeze_is_one_click_and_unfreeze_needs_verification(client, pctx, smtp) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = alice_ticket(pctx)
    r = client.post(f"/api/v1/tickets/{tid}/account/freeze", json={})
    assert r.status_code == 200 and r.json()["account"]["status"] == "frozen"
    assert r.json()["account"]["email"] == "a•••@example.com"  # masked in the API
    assert client.post(f"/api/v1/tickets/{tid}/account/unfreeze", json={}).status_code == 403
    _verify(client, smtp, tid, "unfreeze")
    r = client.post(f"/api/v1/tickets/{tid}/account/unfreeze", json={})
    assert r.status_code == 200 and r.json()["account"]["status"] == "active"
    with pctx.read() as s:
        assert "account.freeze_done" in set(s.scalars(select(AuditEvent.action)))


def test_unknown_account_is_a_clear_404(client, pctx) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tid = ticket(pctx, BOB).ticket_id
    r = client.post(f"/api/v1/tickets/{tid}/account/freeze", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "account_not_found"
    assert client.get(f"/api/v1/tickets/{tid}/account").json()["account"] is None


def test_ids_in_messages_are_linked_and_shown(client, pctx) -> None:  # type: ignore[no-untyped-def]
    staff_client(client, pctx)
    tx_hash = "0x" + "3f" * 32
    tid = alice_ticket(
        pctx, f"Refund for TP20261030-55120 please; also my USDT send tx hash {tx_hash}"
    )
    with pctx.read() as s:
        refs = sorted(s.scalars(select(TicketTransaction.ref)))
    assert refs == sorted(["TP20261030-55120", tx_hash])
    ov = client.get(f"/api/v1/tickets/{tid}/account").json()
    assert ov["platform"]["available"] and ov["account"]["id"].startswith("U")
    linked = {x["ref"]: x for x in ov["linked"]}
    assert linked["TP20261030-55120"]["txn"]["refunded_minor"] > 0  # the refund in progress
    assert linked[tx_hash]["txn"] is None  # not on the platform
    kinds = {t["kind"] for t in ov["transactions"]}
    assert {"crypto_send", "top_up", "transfer"} <= kinds
    # search + link by hand
    r = client.get("/api/v1/transactions/search", params={"q": ov["transactions"][0]["id"]})
    assert r.status_code == 200
    r = client.post(f"/api/v1/tickets/{tid}/transactions", json={"ref": r.json()["id"]})
    assert r.status_code == 201
    assert client.get("/api/v1/transactions/search", params={"q": "TP1"}).status_code == 404
    # the ticket page renders the sidebar panel
    page = client.get(f"/agent/tickets/{tid}")
    assert page.status_code == 200 and 'id="payments-panel"' in page.text
    assert "TP20261030-55120" in page.text and "crypto_send" in page.text
