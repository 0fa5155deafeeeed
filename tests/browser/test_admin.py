"""Admin console in a real browser: an admin creates a queue and an agent; the agent signs in and
works the queue's tickets."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.actors import system_actor
from paydesk.services.tickets import update_ticket
from paydesk.store.workspace import Queue
from tests.browser.conftest import LiveServer, agent_login


def test_admin_creates_queue_and_agent_who_signs_in(page: Page, live_server: LiveServer) -> None:
    live_server.agent("boss@topay.example", role="admin", name="Boss Admin")
    agent_login(page, live_server, "boss@topay.example")
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(live_server.url + "/agent/admin/staff")

    # a new queue, in the team-less default setup
    page.locator(".admin-tabs").get_by_role("link", name="Queues").click()
    page.locator("#new-queue").click()
    page.get_by_label("Id (lower-case").fill("Bad Slug")  # the browser's pattern check stops this
    page.get_by_label("Name (English)").fill("VIP (Chinese)")
    page.get_by_label("Name (Chinese)").fill("贵宾（中文）")
    page.get_by_label("Language").select_option("zh-CN")
    page.locator("#save-queue").click()
    expect(page).to_have_url(re.compile(r".*/agent/admin/queues/new$"))
    page.get_by_label("Id (lower-case").fill("vip-zh")
    page.locator("#save-queue").click()
    expect(page.locator("#form-notice")).to_have_text("Saved.")
    expect(page.locator("#queue-rules")).to_contain_text("No routing rule")

    # a new agent who works that queue
    page.locator(".admin-tabs").get_by_role("link", name="Staff").click()
    page.locator("#new-staff").click()
    page.get_by_label("Name", exact=True).fill("Chen Jie")
    page.get_by_label("Email").fill("chen.jie@topay.example")
    page.get_by_label("Role").select_option("agent")
    page.locator("input[name=languages][value='zh-CN']").check()
    page.get_by_label("Skills").fill("vip, refunds")
    page.get_by_label("Chat capacity").fill("3")
    page.locator("input[name=queue_ids][data-slug='vip-zh']").check()
    page.get_by_label("Password").fill("short")  # refused by the server: shown on the form
    page.locator("input[name=password]").evaluate("e => e.removeAttribute('minlength')")
    page.locator("#save-staff").click()
    expect(page.locator("#form-error")).to_contain_text("at least 10 characters")
    expect(page.get_by_label("Email")).to_have_value("chen.jie@topay.example")  # kept
    page.get_by_label("Password").fill("chen-jie-first-password")
    page.locator("#save-staff").click()
    expect(page.locator("#form-notice")).to_have_text("Saved.")

    # a VIP ticket lands in the new queue
    res = intake.receive(
        live_server.ctx,
        InboundMessage(
            channel=Channel.WEB,
            subject="贵宾账户问题",
            body="我的账户被冻结了",
            email="vip@example.cn",
            locale="zh-CN",
        ),
    )
    with live_server.ctx.read() as s:
        vip = s.scalars(select(Queue.id).where(Queue.slug == "vip-zh")).one()
    update_ticket(live_server.ctx, system_actor(), res.ticket_id, {"queue_id": vip})

    # the admin signs out; the new agent signs in and sees exactly that queue
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/agent/login.*"))
    agent_login(page, live_server, "chen.jie@topay.example", "chen-jie-first-password")
    expect(page.locator("aside[aria-label=queues]")).to_contain_text("VIP (Chinese)")
    expect(page.locator("header nav")).not_to_contain_text("Admin")
    expect(page.locator(f"tr[data-id='{res.ticket_id}']")).to_contain_text("贵宾账户问题")
    page.goto(live_server.url + "/agent/admin/staff")
    expect(page.locator("body")).not_to_contain_text("chen.jie@topay.example")
