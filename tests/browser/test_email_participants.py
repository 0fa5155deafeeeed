"""Email participants and the unverified-sender badge in a real browser against a real server:
the panel's forms get their CSRF token from the page, removal and addition work, and the
agent's reply leaves by SMTP with the remaining participants in Cc."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from paydesk.services.email.ingest import ingest_bytes
from tests.browser.conftest import LiveServer, agent_login


def _mail(mid: str, cc: str = "", extra: str = "", frm: str = "amy@example.com") -> bytes:
    return (
        f"From: Amy <{frm}>\r\nTo: support@topay.example\r\nSubject: Card top-up failed\r\n"
        f"Message-ID: {mid}\r\n{'Cc: ' + cc + chr(13) + chr(10) if cc else ''}{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nMy card top-up failed.\r\n"
    ).encode()


def test_participants_panel_remove_add_and_reply_cc(page: Page, live_server: LiveServer) -> None:
    live_server.agent("cc-sup@topay.example", role="supervisor", name="Zhao Lei")
    out = ingest_bytes(
        live_server.ctx,
        _mail("<cc-b1@example.com>", cc="bob@example.net, cara@example.net"),
        source="cli",
    )
    agent_login(page, live_server, "cc-sup@topay.example")
    page.goto(f"{live_server.url}/agent/tickets/{out.ticket_id}")
    panel = page.locator("#email-participants")
    expect(panel).to_contain_text("bob@example.net")
    expect(panel).to_contain_text("cara@example.net")
    panel.get_by_role("button", name="remove bob@example.net from Cc").click()
    expect(panel.locator("s")).to_have_text("bob@example.net")
    panel.get_by_label("Add to Cc").fill("dan@example.net")
    panel.get_by_role("button", name="Add").click()
    expect(panel).to_contain_text("dan@example.net")
    page.locator("#reply-body").fill("We refunded the failed top-up.")
    page.locator("#send").click()
    deadline = time.monotonic() + 15
    sent = None
    while time.monotonic() < deadline and sent is None:
        sent = next(
            (
                m
                for m in live_server.mail
                if "refunded the failed" in m.get_body(("plain",)).get_content()
            ),
            None,
        )
        time.sleep(0.2)
    assert sent is not None, "the reply was not sent"
    assert sent["To"] == "amy@example.com"
    cc = {a.strip() for a in str(sent["Cc"]).split(",")}
    assert cc == {"cara@example.net", "dan@example.net"}


def test_unverified_sender_badge(page: Page, live_server: LiveServer) -> None:
    live_server.agent("cc-sup2@topay.example", role="supervisor")
    settings = live_server.ctx.settings
    settings.email_trusted_authserv_id = "mx.topay.example"
    try:
        out = ingest_bytes(
            live_server.ctx,
            _mail(
                "<forged-b1@evil.test>",
                extra="Authentication-Results: mx.topay.example; dmarc=fail\r\n",
            ),
            source="cli",
        )
    finally:
        settings.email_trusted_authserv_id = ""
    agent_login(page, live_server, "cc-sup2@topay.example")
    page.goto(f"{live_server.url}/agent/tickets/{out.ticket_id}")
    badge = page.locator("#timeline .unverified-sender")
    expect(badge).to_have_text("unverified sender")
    expect(badge).to_be_visible()
