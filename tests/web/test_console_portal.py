"""Agent console and customer portal through HTTP (TestClient): sessions, CSRF, isolation."""

from __future__ import annotations

import re

from paydesk.services import portal
from paydesk.store.auth import MagicLink
from tests.factories import ALICE, BOB, PASSWORD, agent, ticket


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token in form"
    return m.group(1)


def login(client, email: str, password: str = PASSWORD):
    page = client.get("/agent/login")
    return client.post(
        "/agent/login",
        data={"email": email, "password": password, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )


def test_login_inbox_ticket_reply(client, ctx):
    t = ticket(ctx, ALICE, subject="<img src=x onerror=alert(1)>")
    agent(ctx, "sup@topay.example", role="supervisor")
    before = client.cookies.get("pd_staff")
    r = login(client, "sup@topay.example")
    assert r.status_code == 303 and r.headers["location"] == "/agent"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.cookies.get("pd_staff") != before
    inbox = client.get("/agent")
    assert inbox.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in inbox.text and "<img src=x" not in inbox.text
    assert "content-security-policy" in inbox.headers
    page = client.get(f"/agent/tickets/{t.ticket_id}")
    assert page.status_code == 200
    token = _csrf(page.text)
    # no CSRF token → refused, nothing written
    r = client.post(f"/agent/tickets/{t.ticket_id}/reply", data={"body": "hello"})
    assert r.status_code == 403
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/reply",
        data={"body": "We are looking into it", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/update",
        data={"status": "solved", "priority": "high", "tags": "refund, vip", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/agent/tickets/{t.ticket_id}")
    assert "We are looking into it" in page.text and 'id="ticket-status">solved' in page.text
    # search and filters
    assert "onerror" in client.get("/agent", params={"q": "img"}).text
    assert client.get("/agent", params={"status": "solved"}).text.count('class="row') == 1
    # the console's own API calls use the session + X-CSRF-Token header
    assert client.get(f"/api/v1/tickets/{t.ticket_id}").status_code == 200
    assert (
        client.post(f"/api/v1/tickets/{t.ticket_id}/messages", json={"body": "x"}).status_code
        == 401
    )
    r = client.post(
        f"/api/v1/tickets/{t.ticket_id}/messages",
        json={"body": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201


def test_wrong_password_lockout_and_logout(client, ctx):
    agent(ctx, "a@topay.example")
    for _ in range(5):
        assert login(client, "a@topay.example", "wrong password!").status_code == 401
    r = login(client, "a@topay.example")  # locked now, even with the right password
    assert r.status_code == 429
    assert login(client, "nobody@topay.example").status_code == 401
    assert client.get("/agent", follow_redirects=False).status_code == 303


def test_agent_pages_require_login_and_hide_other_queues(client, ctx):
    en = ticket(ctx, BOB, body="my transfer is pending", subject="transfer")
    assert (
        client.get("/agent", follow_redirects=False).headers["location"].startswith("/agent/login")
    )
    assert client.get(f"/agent/tickets/{en.ticket_id}", follow_redirects=False).status_code == 303
    agent(ctx, "zh@topay.example", queues=["transactions-zh"])
    login(client, "zh@topay.example")
    r = client.get(f"/agent/tickets/{en.ticket_id}")
    assert r.status_code == 404
    assert "transfer" not in client.get("/agent").text


def test_portal_request_form_and_sign_in_link(client, ctx):
    home = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "我们能为您做什么" in home.text
    assert "How can we help" in client.get("/?lang=en").text
    token = _csrf(client.get("/").text)
    r = client.post(
        "/requests",
        data={
            "csrf_token": token,
            "email": "carol@example.com",
            "name": "Carol",
            "category": "transactions",
            "transaction_id": "TP1",
            "subject": "Refund",
            "body": "where is it",
            "form_id": "f-1",
        },
    )
    assert r.status_code == 200 and "#1000" in r.text
    again = client.post(
        "/requests",
        data={
            "csrf_token": token,
            "email": "carol@example.com",
            "subject": "Refund",
            "body": "where is it",
            "form_id": "f-1",
        },
    )
    assert re.search(r"#(\d+)", again.text).group(1) == re.search(r"#(\d+)", r.text).group(1)
    bad = client.post("/requests", data={"csrf_token": token, "email": "nope", "body": "x"})
    assert bad.status_code == 422 and "nope" in bad.text
    assert client.post("/requests", data={"email": "c@example.com", "body": "x"}).status_code == 403

    other = ticket(ctx, BOB)
    # sign in by link: a known address gets a link that works once
    assert portal.request_magic_link(ctx, "carol@example.com") is True
    assert portal.request_magic_link(ctx, "unknown@example.com") is False
    import time
    from email import message_from_bytes, policy

    link = None
    for _ in range(100):  # the link is sent after commit, in the background
        for path in (ctx.settings.data_dir / "mail-outbox").glob("*.eml"):
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            body = mail.get_body(("plain",))
            found = re.search(r"/portal/login/([\w-]+)", body.get_content() if body else "")
            if "carol@example.com" in str(mail["To"]) and found:
                link = found.group(0)
        if link:
            break
        time.sleep(0.05)
    assert link, "no sign-in link was sent"
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal/tickets"
    mine = client.get("/portal/tickets")
    assert "Refund" in mine.text
    assert client.get(f"/portal/tickets/{other.ticket_id}").status_code == 404
    assert client.get(link, follow_redirects=False).status_code == 404  # used already
    with ctx.read() as s:
        assert all(m.used_at is not None for m in s.query(MagicLink))


def test_unknown_pages_and_bad_ids(client):
    assert client.get("/agent/tickets/0", follow_redirects=False).status_code in (303, 404)
    r = client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
