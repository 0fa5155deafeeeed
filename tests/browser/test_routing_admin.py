"""Routing admin in a real browser: an admin adds a keyword rule, tests a message, and the next
ticket (written by another process) follows the rule; deleting asks first."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from sqlalchemy import select

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake, routing
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue
from tests.browser.conftest import LiveServer, agent_login


def test_admin_adds_a_rule_tests_it_and_the_next_ticket_follows(
    page: Page, live_server: LiveServer
) -> None:
    live_server.agent("router@topay.example", role="admin", name="Router Admin")
    agent_login(page, live_server, "router@topay.example")
    page.goto(live_server.url + "/agent/admin/queues")
    page.locator(".admin-tabs").get_by_role("link", name="Routing rules").click()
    page.wait_for_url(live_server.url + "/agent/admin/routing")
    expect(page.locator("tr.rule-row")).to_have_count(8)

    page.locator("#new-rule").click()
    page.get_by_label("Rule name").fill("诈骗 / scams")
    page.get_by_label("Keywords in subject or message").fill("被骗, scam")
    page.get_by_label("Send to queue").select_option("complaints")
    page.get_by_label("Set priority").select_option("urgent")
    page.locator("#save-rule").click()
    expect(page.locator("#form-notice")).to_have_text("Rule saved.")
    expect(page.locator("tr.rule-row").first).to_contain_text("诈骗 / scams")

    page.get_by_label("Message").fill("我被骗了，对方让我转账到安全账户")
    page.locator("#run-test").click()
    expect(page.locator("#result-queue")).to_have_text("complaints")
    expect(page.locator("#result-rule")).to_have_text("诈骗 / scams")
    expect(page.locator("tr.rule-row.decided")).to_contain_text("诈骗 / scams")

    # this test process writes the next ticket: its compiled rules are at most a second old
    time.sleep(routing.CHECK_SECONDS + 0.1)
    res = intake.receive(
        live_server.ctx,
        InboundMessage(
            channel=Channel.WEB,
            subject="求助",
            body="我被骗了",
            email="v@example.cn",
            locale="zh-CN",
        ),
    )
    with live_server.ctx.read() as s:
        slug = s.scalar(
            select(Queue.slug)
            .join(Ticket, Ticket.queue_id == Queue.id)
            .where(Ticket.id == res.ticket_id)
        )
    assert (slug, res.priority) == ("complaints", "urgent")
    page.goto(live_server.url + f"/agent/tickets/{res.ticket_id}")
    expect(page.locator("#routing-rule")).to_have_text("诈骗 / scams")

    # deleting asks first; dismissing keeps the rule
    page.goto(live_server.url + "/agent/admin/routing?lang=zh-CN")
    expect(page.locator("h1")).to_have_text("路由规则")
    first = page.locator("tr.rule-row").first
    page.once("dialog", lambda d: d.dismiss())
    first.get_by_role("button", name="删除").click()
    expect(page.locator("tr.rule-row")).to_have_count(9)
    page.once("dialog", lambda d: d.accept())
    page.locator("tr.rule-row").first.get_by_role("button", name="删除").click()
    expect(page.locator("#form-notice")).to_have_text("规则已删除。")
    expect(page.locator("tr.rule-row")).to_have_count(8)
    expect(page).to_have_url(re.compile(r".*/agent/admin/routing\?done=rule_deleted$"))
