"""Shared helpers of the attack suite: console login, portal session, API calls."""

from __future__ import annotations

import re
from typing import Any

from paydesk.services import auth
from paydesk.web.sessions import CUSTOMER_COOKIE
from tests.factories import PASSWORD


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token in form"
    return m.group(1)


def console_login(client: Any, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/agent/login")
    return client.post(
        "/agent/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def portal_login(client: Any, ctx: Any, customer_id: int) -> None:
    raw = auth.create_session(ctx, customer_id=customer_id)
    client.cookies.set(CUSTOMER_COOKIE, raw)


def new_ticket(api: Any, body: str, email: str = "alice@example.com", **over: Any) -> Any:
    payload = {
        "customer": {"email": email, "name": over.pop("name", "Alice")},
        "subject": over.pop("subject", "Help"),
        "body": body,
        "channel": over.pop("channel", "api"),
        **over,
    }
    r = api.post("/api/v1/tickets", json=payload)
    assert r.status_code == 201, r.text
    return r.json()
