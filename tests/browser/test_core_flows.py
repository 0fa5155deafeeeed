"""The main paths of the desk in a real browser (issue 2)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from tests.browser.conftest import LiveServer, agent_login


def test_agent_login_open_ticket_reply(page: Page, live_server: LiveServer) -> None:
    live_server.agent("wang@topay.example", role="supervisor", name="Wang Fang")
    res = intake.receive(
        live_server.ctx,
        InboundMessage(
            channel=Channel.EMAIL,
            subject="Transfer stuck <b>pending</b>",
            body="My transfer is pending",
            email="ben@example.com",
            name="Ben <script>alert(1)</script>",
        ),
    )
    agent_login(page, live_server, "wang@topay.example")
    row = page.locator(f"tr[data-id='{res.ticket_id}']")
    expect(row).to_contain_text("Transfer stuck <b>pending</b>")  # escaped, shown literally
    # keyboard: j selects the first row, Enter opens it
    page.locator("body").press("j")
    page.locator("body").press("Enter")
    page.wait_for_url(re.compile(rf".*/agent/tickets/{res.ticket_id}$"))
    expect(page.locator(".customer h2")).to_contain_text("Ben <script>alert(1)</script>")
    page.locator("body").press("r")
    expect(page.locator("#reply-body")).to_be_focused()
    page.locator("#reply-body").fill("Hello Ben, we are checking your transfer now.")
    page.locator("#send").click()
    expect(page.locator("#timeline .msg.author-agent")).to_contain_text(
        "we are checking your transfer"
    )
    expect(page.locator("#ticket-status")).to_have_text("pending")
    # status change from the sidebar
    page.locator("#status-select").select_option("solved")
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#ticket-status")).to_have_text("solved")


def test_inbox_refreshes_live(page: Page, live_server: LiveServer) -> None:
    live_server.agent("live@topay.example", role="supervisor")
    agent_login(page, live_server, "live@topay.example")
    page.wait_for_timeout(300)  # the socket connects
    intake.receive(
        live_server.ctx,
        InboundMessage(
            channel=Channel.WEB,
            subject="Live refresh works",
            body="hello",
            email="live-cust@example.com",
        ),
    )
    expect(page.locator("#inbox-rows")).to_contain_text("Live refresh works", timeout=5000)


def test_customer_request_sign_in_by_link_sees_reply(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/?lang=zh-CN")
    expect(page.locator("h1")).to_have_text("我们能为您做什么？")
    page.goto(live_server.url + "/?lang=en")
    expect(page.locator("h1")).to_have_text("How can we help?")
    page.get_by_label("Your name").fill("Carol")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_label("Topic").select_option("transactions")
    expect(page.get_by_label("Transaction ID or order number")).to_be_visible()
    page.get_by_label("Transaction ID or order number").fill("TP20261102-88341")
    page.get_by_label("Subject").fill("Refund missing")
    page.get_by_label("Describe your question").fill("My refund has not arrived.")
    page.get_by_role("button", name="Send").click()
    sent = page.locator("#sent")
    expect(sent).to_contain_text("has been received")
    number = int(re.search(r"#(\d+)", sent.inner_text()).group(1))  # type: ignore[union-attr]

    # an agent answers through the API
    import httpx

    from paydesk.services.actors import system_actor
    from paydesk.services.auth import create_token

    tok = create_token(live_server.ctx, "agent", "browser").token
    h = {"Authorization": f"Bearer {tok}"}
    found = httpx.get(
        live_server.url + "/api/v1/tickets", params={"q": str(number)}, headers=h
    ).json()
    tid = found["tickets"][0]["id"]
    ticket = httpx.get(f"{live_server.url}/api/v1/tickets/{tid}", headers=h).json()
    assert ticket["fields"]["transaction_id"] == "TP20261102-88341"
    r = httpx.post(
        f"{live_server.url}/api/v1/tickets/{tid}/messages",
        headers=h,
        json={"body": "Your refund was sent today."},
    )
    assert r.status_code == 201
    httpx.post(
        f"{live_server.url}/api/v1/tickets/{tid}/messages",
        headers=h,
        json={"body": "internal: customer is VIP", "internal": True},
    )
    assert system_actor() is not None

    # the customer signs in with an emailed one-time link
    page.goto(live_server.url + "/portal/signin")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.locator("#link-sent")).to_be_visible()
    mail = live_server.wait_for_mail("carol@example.com")
    link = re.search(
        r"https?://\S+/portal/login/\S+", mail.get_body(("plain",)).get_content()
    ).group(0)  # type: ignore[union-attr]
    page.goto(link)
    page.wait_for_url(live_server.url + "/portal/tickets")
    page.get_by_role("link", name="Refund missing").click()
    expect(page.locator(".timeline")).to_contain_text("Your refund was sent today.")
    expect(page.locator(".timeline")).not_to_contain_text("VIP")
    # the link works once only
    page.goto(link)
    expect(page.locator(".error")).to_be_visible()
