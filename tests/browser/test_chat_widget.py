"""The chat widget and the agent chat console in a real browser (issue 4)."""

from __future__ import annotations

import contextlib
import re
import time

from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import LiveServer, agent_login


def _open_widget(page: Page, url: str) -> None:
    page.goto(url)
    launcher = page.get_by_role("button", name=re.compile("Chat with TOPAY support|联系 TOPAY"))
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")


def test_visitor_and_agent_chat_live(page: Page, browser: Browser, live_server: LiveServer) -> None:
    email = "chen.jing@topay.example"
    live_server.agent(email, role="supervisor", name="Chen Jing")
    agent_page = browser.new_context().new_page()
    agent_login(agent_page, live_server, email)
    agent_page.goto(live_server.url + "/agent/chat")
    expect(agent_page.locator("#conn-state")).to_have_text("connected")

    _open_widget(page, live_server.url + "/chat-demo?lang=en")
    form = page.get_by_role("form", name="Start chat")
    form.get_by_label("Name", exact=True).fill("Ann <img src=x onerror=alert(1)>")
    form.get_by_label("Email", exact=True).fill("ann@example.com")
    form.get_by_label("Topic", exact=True).select_option("transactions")
    form.get_by_role("button", name="Start chat").click()
    box = page.get_by_label("Message", exact=True)
    expect(box).to_be_focused()
    box.fill("My top-up has not arrived")
    box.press("Enter")
    mine = page.locator("li.msg.customer").first
    expect(mine).to_have_attribute("data-state", re.compile("sent|read"))

    # the assistant (if installed) may answer first: ask for a person until the chat is queued
    accept = agent_page.get_by_role("button", name=re.compile("Accept chat with Ann"))
    human = page.get_by_role("button", name="Talk to a person")
    deadline = time.monotonic() + 20
    while accept.count() == 0 and time.monotonic() < deadline:
        if human.is_visible():
            # the button hides once the chat is queued, possibly between the check and the click
            with contextlib.suppress(PlaywrightTimeoutError):
                human.click(timeout=1000)
        time.sleep(0.2)
    # the visitor's name is shown as text, never as HTML
    expect(accept).to_contain_text("Ann <img src=x onerror=alert(1)>")
    accept.click()
    expect(agent_page.locator("#transcript")).to_contain_text("My top-up has not arrived")
    expect(page.locator("li.msg.system")).to_contain_text("Chen Jing joined")
    # the agent read it: the visitor sees ✓✓
    expect(mine).to_have_attribute("data-state", "read")
    # typing indicator, then the reply
    agent_page.locator("#chat-input").type("Checking")
    expect(page.get_by_text("Support is typing…")).to_be_visible()
    agent_page.locator("#chat-input").fill("I am checking your top-up now.")
    agent_page.locator("#chat-input").press("Enter")
    expect(page.locator("li.msg.agent")).to_contain_text("I am checking your top-up now.")
    expect(agent_page.locator("#customer")).to_contain_text("ann@example.com")

    # a reload resumes the same conversation with its whole transcript
    page.reload()
    page.get_by_role("button", name="Chat with TOPAY support").click()
    expect(page.locator("li.msg.customer")).to_contain_text(["My top-up has not arrived"])
    expect(page.locator("li.msg.agent")).to_contain_text(["I am checking your top-up now."])
    box = page.get_by_label("Message", exact=True)
    box.fill("Thanks!")
    box.press("Enter")
    expect(agent_page.locator("#transcript")).to_contain_text("Thanks!")
    # keyboard: Escape closes the panel and gives focus back to the launcher
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Chat with TOPAY support")).to_be_focused()
    agent_page.context.close()


def test_contact_by_email_instead_in_chinese(page: Page, live_server: LiveServer) -> None:
    _open_widget(page, live_server.url + "/chat-demo?lang=zh-CN")
    page.get_by_role("button", name="改用邮件联系我们").click()
    form = page.get_by_role("form", name="给我们留言")
    form.get_by_label("称呼", exact=True).fill("李娜")
    form.get_by_label("邮箱", exact=True).fill("li.na@example.cn")
    form.get_by_label("留言内容", exact=True).fill("我的提现一直在处理中")
    form.get_by_role("button", name="通过邮件发送").click()
    # the server's first ticket loads the routing model: more than expect's 5 s on a busy machine
    expect(page.locator(".result")).to_contain_text("邮件", timeout=30_000)
