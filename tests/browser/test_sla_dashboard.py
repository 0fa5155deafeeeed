"""SLA in a real browser: the supervisor dashboard refreshes live when a ticket arrives; the
ticket page's SLA panel sends a complaint's holding reply (CSRF token filled by sla.js) and
escalates; the inbox shows SLA badges; the dashboard switches to Chinese."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from tests.browser.conftest import LiveServer, agent_login


def _ticket(server: LiveServer, subject: str, **kw: object) -> int:
    return intake.receive(
        server.ctx,
        InboundMessage(
            channel=Channel.WEB,
            subject=subject,
            body=f"{subject}: please help",
            email="zoe@example.com",
            name="Zoe",
            locale="en",
            **kw,  # type: ignore[arg-type]
        ),
    ).ticket_id


def test_supervisor_dashboard_live_and_complaint_actions(
    page: Page, live_server: LiveServer
) -> None:
    live_server.agent("lead@topay.example", role="supervisor", name="Team Lead")
    tid = _ticket(live_server, "Formal complaint about fees", category="complaint")
    agent_login(page, live_server, "lead@topay.example")
    expect(page.locator(f"#inbox-rows tr[data-id='{tid}'] .sla")).to_contain_text("due in")

    page.get_by_role("link", name="Supervisor").click()
    page.wait_for_url(live_server.url + "/agent/supervisor")
    expect(page.locator("#total-open")).to_have_text("1")
    expect(page.locator(f"#sup-complaints tr[data-id='{tid}']")).to_contain_text("due in")

    # a new ticket arrives: the dashboard re-renders without a reload
    _ticket(live_server, "Card top-up failed")
    expect(page.locator("#total-open")).to_have_text("2", timeout=10_000)
    expect(page.locator("#sup-live")).to_contain_text("updated")

    # the complaint: holding reply from the ticket page's SLA panel
    page.locator(f"#sup-complaints tr[data-id='{tid}'] a").first.click()
    page.wait_for_url(re.compile(rf".*/agent/tickets/{tid}$"))
    expect(page.locator("#sla-complaint")).to_have_attribute("data-state", "running")
    form = page.locator("#holding-reply-form")
    form.get_by_label("Holding reply").fill("We are still investigating with the bank.")
    form.get_by_role("button").click()
    expect(page.locator("#sla-complaint")).to_contain_text("extended by a holding reply")
    expect(page.locator("#timeline")).to_contain_text("still investigating with the bank")
    expect(page.locator("#holding-reply-form")).to_have_count(0)

    esc = page.locator("#escalation-form")
    esc.get_by_label("Escalation level").select_option("2")
    esc.get_by_label("Reason").fill("customer mentions the regulator")
    esc.get_by_role("button").click()
    expect(page.locator("#sla-escalation")).to_have_attribute("data-level", "2")

    page.goto(live_server.url + "/agent/supervisor?lang=zh-CN")
    expect(page.locator("h1")).to_contain_text("主管看板")
    expect(page.locator(f"#sup-complaints tr[data-id='{tid}']")).to_contain_text("投诉经理")
