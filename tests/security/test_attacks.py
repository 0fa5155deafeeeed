"""Attack suite through HTTP: IDOR across customers and queues (API, portal, console), stored
XSS, CSRF, session fixation, brute force, malformed/oversized uploads, public rate limits."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import update

from paydesk.domain.errors import RateLimited
from paydesk.services.auth import create_token
from paydesk.store.auth import WebSession
from paydesk.store.base import utcnow
from paydesk.web.ratelimit import RedisLimiter
from tests.factories import ALICE, BOB, agent, ticket
from tests.security.helpers import console_login, csrf_of, new_ticket, portal_login

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_idor_across_customers_and_queues(client, ctx):
    alice = ticket(ctx, ALICE, body="Where is my refund?", subject="Refund")  # transactions-en
    bob = ticket(ctx, BOB, body="The app crashes on start", subject="Crash")  # technical
    with ctx.read() as s:
        from paydesk.store.tickets import Ticket

        bob_customer = s.get(Ticket, bob.ticket_id).customer_id  # type: ignore[union-attr]
    # portal: Alice sees her ticket, never Bob's (404, not 403: no probing oracle)
    portal_login(client, ctx, customer_id=_customer_of(ctx, alice.ticket_id))
    assert client.get(f"/portal/tickets/{alice.ticket_id}").status_code == 200
    assert client.get(f"/portal/tickets/{bob.ticket_id}").status_code == 404
    page = client.get(f"/portal/tickets/{alice.ticket_id}")
    r = client.post(
        f"/portal/tickets/{bob.ticket_id}/reply",
        data={"body": "hijack", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 404
    client.cookies.clear()
    # console: an agent of the technical queue sees Bob's ticket, not Alice's, nor Alice herself
    agent(ctx, "tech@topay.example", queues=["technical"])
    assert console_login(client, "tech@topay.example").status_code == 303
    assert client.get(f"/agent/tickets/{bob.ticket_id}").status_code == 200
    assert client.get(f"/agent/tickets/{alice.ticket_id}").status_code == 404
    assert client.get(f"/api/v1/tickets/{alice.ticket_id}").status_code == 404
    assert client.get(f"/agent/customers/{_customer_of(ctx, alice.ticket_id)}").status_code == 404
    assert client.get(f"/agent/customers/{bob_customer}").status_code == 200
    listed = client.get("/api/v1/tickets").json()["tickets"]
    assert [t["id"] for t in listed] == [bob.ticket_id]
    token = csrf_of(client.get(f"/agent/tickets/{bob.ticket_id}").text)
    r = client.post(
        f"/api/v1/tickets/{alice.ticket_id}/messages",
        json={"body": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 404
    # auditors read but never write
    aud = create_token(ctx, "auditor", "aud").token
    h = {"Authorization": f"Bearer {aud}"}
    assert client.get(f"/api/v1/tickets/{alice.ticket_id}", headers=h).status_code == 200
    r = client.post(f"/api/v1/tickets/{alice.ticket_id}/messages", json={"body": "x"}, headers=h)
    assert r.status_code == 403


def _customer_of(ctx, ticket_id: int) -> int:  # type: ignore[no-untyped-def]
    from paydesk.store.tickets import Ticket

    with ctx.read() as s:
        return s.get(Ticket, ticket_id).customer_id  # type: ignore[union-attr]


def test_stored_xss_is_escaped_everywhere(client, ctx):
    admin = create_token(ctx, "admin", "t").token
    client.headers["Authorization"] = f"Bearer {admin}"
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    t = new_ticket(
        client,
        XSS,
        name=XSS,
        subject=XSS,
        attachments=[{"filename": '"><svg onload=alert(3)>.png', "content_base64": png}],
    )
    del client.headers["Authorization"]
    agent(ctx, "sup@topay.example", role="supervisor")
    console_login(client, "sup@topay.example")
    pages = [client.get("/agent"), client.get(f"/agent/tickets/{t['id']}")]
    pages.append(client.get(f"/agent/customers/{_customer_of(ctx, t['id'])}"))
    client.cookies.clear()
    portal_login(client, ctx, _customer_of(ctx, t["id"]))
    pages += [client.get("/portal/tickets"), client.get(f"/portal/tickets/{t['id']}")]
    for page in pages:
        assert page.status_code == 200, page.url
        for raw in ("<script>alert(1)", "<img src=x onerror", "<svg onload"):
            assert raw not in page.text, (page.url, raw)
        assert "content-security-policy" in page.headers
        assert page.headers["x-content-type-options"] == "nosniff"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].text


def test_csrf_session_fixation_and_brute_force(client, ctx):
    t = ticket(ctx, ALICE)
    agent(ctx, "sup@topay.example", role="supervisor")
    # CSRF: anonymous forms and signed-in forms need the token
    assert client.post("/requests", data={"email": "a@b.example", "body": "hi"}).status_code == 403
    assert client.post("/agent/login", data={"email": "x", "password": "y"}).status_code == 403
    # session fixation: a planted cookie is replaced on sign-in and never authenticates
    client.cookies.set("pd_staff", "attacker-chosen-value")
    r = console_login(client, "sup@topay.example")
    assert r.status_code == 303
    issued = r.cookies.get("pd_staff")
    assert issued and issued != "attacker-chosen-value"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=lax" in r.headers["set-cookie"]
    assert client.post(f"/agent/tickets/{t.ticket_id}/reply", data={"body": "x"}).status_code == 403
    r = client.post(
        f"/api/v1/tickets/{t.ticket_id}/messages", json={"body": "x"}
    )  # session cookie without the X-CSRF-Token header
    assert r.status_code == 401
    # an expired session no longer authenticates
    assert client.get("/agent", follow_redirects=False).status_code == 200
    with ctx.uow() as uow:
        uow.session.execute(update(WebSession).values(expires_at=utcnow()))
    assert client.get("/agent", follow_redirects=False).status_code == 303
    client.cookies.clear()
    # brute force: five failures lock the account, even the right password is refused then
    agent(ctx, "victim@topay.example")
    for _ in range(5):
        assert console_login(client, "victim@topay.example", "wrong password!").status_code == 401
    assert console_login(client, "victim@topay.example").status_code == 429


def test_uploads_and_bodies_are_checked(api):
    def post(**over):  # type: ignore[no-untyped-def]
        body = {
            "customer": {"email": "u@example.com"},
            "subject": "s",
            "body": "b",
            "channel": "api",
        }
        body.update(over)
        return api.post("/api/v1/tickets", json=body)

    def att(
        name: str, data: bytes, ctype: str = "application/octet-stream"
    ) -> list[dict[str, str]]:
        return [
            {
                "filename": name,
                "content_type": ctype,
                "content_base64": base64.b64encode(data).decode(),
            }
        ]

    assert (
        post(attachments=[{"filename": "a.png", "content_base64": "%%%not base64"}]).status_code
        == 422
    )
    assert post(attachments=att("run.exe", b"MZ\x90\x00")).status_code == 422
    assert (
        post(attachments=att("photo.png", b"MZ\x90\x00" + b"\0" * 10, "image/png")).status_code
        == 422
    )
    assert post(attachments=att("page.html", b"<html><script>x</script>")).status_code == 422
    r = post(attachments=att("../../etc/passwd.txt", b"hello"))
    assert r.status_code == 201
    detail = api.get(f"/api/v1/tickets/{r.json()['id']}").json()
    name = detail["messages"][0]["attachments"][0]["filename"]
    assert "/" not in name and ".." not in name
    big = api.post(
        "/api/v1/tickets",
        content=b"{" + b" " * 30_000_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    assert (
        api.post(
            "/api/v1/tickets", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_public_forms_are_rate_limited(client, ctx):
    page = client.get("/portal/signin")
    token = csrf_of(page.text)
    codes = [
        client.post(
            "/portal/signin", data={"email": "x@example.com", "csrf_token": token}
        ).status_code
        for _ in range(22)
    ]
    assert codes[:20] == [200] * 20 and codes[-1] == 429


def test_redis_rate_limiter_counts_across_instances(redis_url):
    prefix = f"test:{uuid.uuid4().hex}:"
    a, b = RedisLimiter(redis_url, prefix=prefix), RedisLimiter(redis_url, prefix=prefix)
    for i in range(6):
        (a if i % 2 else b).hit("signin:1.2.3.4", limit=6, window_seconds=60)
    with pytest.raises(RateLimited):
        a.hit("signin:1.2.3.4", limit=6, window_seconds=60)
    b.hit("signin:5.6.7.8", limit=6, window_seconds=60)  # other clients unaffected
