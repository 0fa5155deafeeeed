"""CSAT and macros in a real browser: the macro picker by keyboard, then the customer rates the
resolution from the e-mailed link (issue 2, "measured service")."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.macros import MacroInput, create_macro
from tests.browser.conftest import LiveServer, agent_login


def test_macro_picker_then_customer_rates_by_email_link(
    page: Page, live_server: LiveServer
) -> None:
    ctx = live_server.ctx
    live_server.agent("csat-sup@topay.example", role="supervisor", name="Sun Li")
    res = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.EMAIL,
            subject="退款没有到账",
            body="我的退款还没有到账",
            email="rate-me@example.cn",
            name="李娜",
            locale="zh-CN",
        ),
    )
    sup = _actor(live_server, "csat-sup@topay.example")
    create_macro(
        ctx,
        sup,
        MacroInput(
            name="Refund solved",
            body_en="Hello {{customer.name}}, your refund is done.",
            body_zh="{{customer.name}}，您好：工单 {{ticket.number}} 的退款已到账。",
            actions={"status": "solved", "add_tags": ["refund"]},
            shared=True,
        ),
    )
    agent_login(page, live_server, "csat-sup@topay.example")
    page.goto(f"{live_server.url}/agent/tickets/{res.ticket_id}")
    # keyboard only: focus the picker, choose, Enter inserts into the reply box
    picker = page.locator("#macro-select")
    picker.focus()
    picker.select_option(label="Refund solved")
    expect(page.locator("#macro-actions")).to_contain_text("status → solved")
    picker.press("Enter")
    box = page.locator("#reply-body")
    expect(box).to_be_focused()
    expect(box).to_have_value(
        re.compile(rf"^李娜，您好：工单 #{res.ticket_number} 的退款已到账。$")
    )
    box.press("Control+Enter")
    expect(page.locator("#ticket-status")).to_have_text("solved")
    expect(page.locator("#timeline .msg.author-agent")).to_contain_text("的退款已到账")
    expect(page.locator(".chips .tag")).to_contain_text("refund")
    # the customer gets the zh-CN invitation and rates with one click from the link
    mail = live_server.wait_for_mail("rate-me@example.cn", timeout=20)
    for _ in range(100):
        found = [
            m
            for m in live_server.mail
            if "rate-me@example.cn" in str(m["To"]) and "满意" in str(m["Subject"])
        ]
        if found:
            mail = found[-1]
            break
        page.wait_for_timeout(200)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://\S+/survey/\S+\?rating=good", text)
    assert link, text
    customer = page.context.browser.new_page()  # type: ignore[union-attr]
    customer.goto(link.group(0))
    expect(customer.locator("h1")).to_have_text("您对我们的服务满意吗？")
    good = customer.locator("#rate-good")
    expect(good).to_be_focused()  # preselected from the link: Enter or one click confirms
    customer.locator("#survey-comment").fill("客服很耐心")
    good.click()
    expect(customer.locator("#survey-thanks")).to_be_visible()
    expect(customer.locator("#survey-current")).to_contain_text("满意")
    customer.close()
    # the agent sees the rating on the ticket page
    page.reload()
    expect(page.locator("#rating-panel")).to_contain_text("good")
    expect(page.locator("#rating-panel")).to_contain_text("客服很耐心")


def _actor(server: LiveServer, email: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from paydesk.services.auth import agent_actor
    from paydesk.store.agents import Agent

    with server.ctx.read() as s:
        a = s.scalar(select(Agent).where(Agent.email == email))
        return agent_actor(s, a)
