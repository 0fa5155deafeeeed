"""Public help center pages and the KB editor, through HTTP."""

from __future__ import annotations

import re

from paydesk.services import kb
from tests.factories import PASSWORD, agent, ticket


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token in form"
    return m.group(1)


def _login(client, email: str) -> None:
    page = client.get("/agent/login")
    r = client.post(
        "/agent/login",
        data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_help_center_pages_in_both_languages(client, help_center):
    r = client.get("/help", headers={"accept-language": "zh-CN,zh;q=0.9"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/help/zh-CN"
    home = client.get("/help/en")
    assert home.status_code == 200
    assert "Security and scams" in home.text and "/help/en/refund-times" in home.text
    zh = client.get("/help/zh-CN")
    assert (
        "帮助中心" in zh.text
        and "安全与防骗" in zh.text
        and "/help/zh-CN/refund-times-zh" in zh.text
    )
    page = client.get("/help/en/refund-times")
    assert page.status_code == 200
    assert "<h1>How long does a refund take?</h1>" in page.text
    assert "<table>" in page.text  # Markdown tables render
    assert 'href="/help/zh-CN/refund-times-zh"' in page.text  # translation link
    # a URL with the wrong locale redirects to the canonical one; unknown ones are 404 pages
    r = client.get("/help/en/refund-times-zh", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/help/zh-CN/refund-times-zh"
    assert client.get("/help/en/no-such-article").status_code == 404
    assert client.get("/help/fr").status_code == 404
    cat = client.get("/help/zh-CN/category/security")
    assert cat.status_code == 200 and "冒充" in cat.text
    found = client.get("/help/zh-CN/search", params={"q": "我的refund怎么还没到"})
    assert found.status_code == 200
    first = re.search(r'id="help-results">\s*<li><a href="([^"]+)"', found.text)
    assert first and first.group(1) == "/help/zh-CN/refund-times-zh"


def test_feedback_needs_csrf_and_reaches_supervisors(client, help_center):
    page = client.get("/help/en/refund-times")
    token = _csrf(page.text)
    bad = client.post(
        "/help/en/refund-times/feedback", data={"helpful": "no", "csrf_token": "forged"}
    )
    assert bad.status_code == 403
    ok = client.post(
        "/help/en/refund-times/feedback",
        data={
            "helpful": "no",
            "comment": "card 4111 1111 1111 1111 still no refund",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"].endswith("?thanks=1#feedback")
    client.post("/help/en/refund-times/feedback", data={"helpful": "yes", "csrf_token": token})
    agent(help_center, "sup@topay.example", role="supervisor")
    _login(client, "sup@topay.example")
    listing = client.get("/agent/kb")
    assert listing.status_code == 200
    assert re.search(r"How long does a refund take\?</a> — 👍 1 / 👎 1", listing.text)
    detail = client.get("/agent/kb/refund-times")
    assert "still no refund" in detail.text
    assert "4111 1111 1111 1111" not in detail.text  # the comment was redacted before storage


def test_editor_versions_drafts_and_escaping(client, help_center):
    agent(help_center, "sup@topay.example", role="supervisor")
    agent(help_center, "agent@topay.example", role="agent", name="Plain Agent")
    _login(client, "sup@topay.example")
    form = client.get("/agent/kb/new")
    assert form.status_code == 200
    data = {
        "slug": "card-delivery",
        "title": "When will my card arrive?",
        "locale": "en",
        "body": "Cards arrive in 5 days.\n\n<script>alert(1)</script>",
        "category": "account",
        "tags": "card, delivery",
        "status": "draft",
        "visibility": "public",
        "csrf_token": _csrf(form.text),
    }
    r = client.post("/agent/kb/save", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/agent/kb/card-delivery?saved=1"
    assert client.get("/help/en/card-delivery").status_code == 404  # drafts are not public
    r = client.post("/agent/kb/save", data={**data, "status": "published"}, follow_redirects=False)
    page = client.get("/help/en/card-delivery")
    assert page.status_code == 200 and "Cards arrive in 5 days." in page.text
    assert "<script>alert(1)</script>" not in page.text
    edit = client.get("/agent/kb/card-delivery")
    assert "v2 · published" in edit.text and "v1 · draft" in edit.text
    bad = client.post("/agent/kb/save", data={**data, "slug": "Bad Slug!"})
    assert bad.status_code == 422 and "must be a slug" in bad.text
    # an agent without kb.write cannot save
    client.cookies.clear()
    _login(client, "agent@topay.example")
    form = client.get("/agent/kb/card-delivery")
    r = client.post(
        "/agent/kb/save", data={**data, "title": "hijack", "csrf_token": _csrf(form.text)}
    )
    assert r.status_code == 403
    assert kb.public_article(help_center, "card-delivery")["title"] == "When will my card arrive?"


def test_agent_assist_panel_suggests_and_inserts(client, help_center):
    t = ticket(help_center, body="我的退款怎么还没到账？已经一周了", subject="退款")
    agent(help_center, "sup@topay.example", role="supervisor")
    _login(client, "sup@topay.example")
    page = client.get(f"/agent/tickets/{t.ticket_id}")
    assert page.status_code == 200
    assert 'id="assist-panel"' in page.text and '<script src="/static/assist.js"' in page.text
    assert "退款多久到账" in page.text
    draft = re.search(r'<textarea id="assist-draft"[^>]*>([^<]+)</textarea>', page.text)
    assert draft and "退款" in draft.group(1) and "/help/zh-CN/refund-times-zh" in draft.group(1)
    js = client.get("/static/assist.js")
    assert js.status_code == 200 and "reply-body" in js.text
