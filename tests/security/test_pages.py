"""Console security pages: TOTP enrollment end to end, the auditor's audit page."""

from __future__ import annotations

import time

import pyotp

from tests.factories import ALICE, agent, ticket
from tests.security.helpers import console_login, csrf_of


def test_totp_enrollment_then_sign_in_needs_the_code(client, ctx):
    agent(ctx, "sec@topay.example")
    console_login(client, "sec@topay.example")
    page = client.get("/agent/security")
    assert page.status_code == 200 and "Two-factor sign-in is off" in page.text
    started = client.post("/agent/security/totp/begin", data={"csrf_token": csrf_of(page.text)})
    assert started.headers["cache-control"] == "no-store"
    secret = started.text.split('id="totp-secret">')[1].split("<")[0]
    token = csrf_of(started.text)
    wrong = client.post(
        "/agent/security/totp/confirm", data={"code": "000000", "csrf_token": token}
    )
    assert wrong.status_code == 422
    ok = client.post(
        "/agent/security/totp/confirm",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": token},
    )
    assert ok.status_code == 200 and "Two-factor sign-in is on" in ok.text
    client.cookies.clear()
    r = console_login(client, "sec@topay.example")
    assert r.status_code == 303 and r.headers["location"].startswith("/agent/2fa")
    assert client.get("/agent", follow_redirects=False).status_code == 303  # not in yet
    form = client.get("/agent/2fa")
    r = client.post(  # the next step's code: the one that confirmed enrolment is spent
        "/agent/2fa",
        data={"code": pyotp.TOTP(secret).at(time.time() + 30), "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/agent").status_code == 200


def test_audit_page_for_auditors_only(client, ctx):
    ticket(ctx, ALICE, subject="<b>x</b>")
    agent(ctx, "aud@topay.example", role="auditor")
    agent(ctx, "plain@topay.example")
    console_login(client, "plain@topay.example")
    assert client.get("/agent/audit").status_code == 404
    client.cookies.clear()
    console_login(client, "aud@topay.example")
    page = client.get("/agent/audit", params={"action": "ticket."})
    assert page.status_code == 200 and "ticket.created" in page.text
    assert "chain intact" in page.text
    assert client.get("/agent/audit", params={"since": "yesterday"}).status_code == 422
