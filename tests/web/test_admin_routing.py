"""Admin console routing section through HTTP (SQLite and PostgreSQL): rules edited in the
console change where the API's next ticket goes; preview; order; enable/disable; delete;
automatic assignment settings; CSRF, audit, escaping, bilingual, read-only for supervisors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from paydesk.services import admin, routing
from paydesk.services.actors import system_actor
from paydesk.store.audit import AuditEvent
from paydesk.store.routing import QueueAssignment
from paydesk.store.workspace import Queue
from tests.factories import agent
from tests.security.helpers import console_login, csrf_of

BASE = "/agent/admin/routing"


@pytest.fixture
def as_admin(client, ctx):
    a, _ = agent(ctx, "root@topay.example", role="admin", name="Root Admin")
    assert console_login(client, "root@topay.example").status_code == 303
    return a


def _queue(ctx, slug: str) -> int:
    with ctx.read() as s:
        return s.scalars(select(Queue.id).where(Queue.slug == slug)).one()


def _actions(ctx) -> list[str]:
    with ctx.read() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("routing.%") | AuditEvent.action.like("queue.%"))
                .order_by(AuditEvent.id)
            )
        )


def _rule_ids(ctx) -> list[int]:
    return [r["id"] for r in routing.list_rules(ctx, system_actor())["rules"]]


def test_a_rule_made_in_the_console_routes_the_next_api_ticket(client, ctx, as_admin, admin_token):
    page = client.get(BASE)
    assert page.status_code == 200
    assert page.text.count('class="rule-row') == 8 and 'id="routing-test"' in page.text
    admin.create_queue(ctx, system_actor(), slug="cards", name="Cards")
    tech = _queue(ctx, "cards")
    body = "The card reader at the shop says declined, is it my card?"
    api_headers = {"Authorization": f"Bearer {admin_token}"}
    before = client.post(
        "/api/v1/tickets",
        json={
            "customer": {"email": "dora@example.com"},
            "subject": "Card",
            "body": body,
            "channel": "api",
        },
        headers=api_headers,
    ).json()
    assert before["queue_id"] != tech

    form = client.get(f"{BASE}/new")
    r = client.post(
        f"{BASE}/new",
        data={
            "csrf_token": csrf_of(form.text),
            "name": "Card declined",
            "enabled": "on",
            "keywords": "declined, 拒付",
            "channels": ["api", "web"],
            "queue": "cards",
            "priority": "high",
            "tags": "cards",
            "at": "top",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}?done=rule_saved"
    listing = client.get(r.headers["location"])
    assert "Rule saved." in listing.text
    first = re.search(r'class="rule-row[^"]*" data-rule-id="(\d+)"', listing.text)
    assert first and "Card declined" in listing.text

    after = client.post(
        "/api/v1/tickets",
        json={
            "customer": {"email": "dora@example.com"},
            "subject": "Card 2",
            "body": body,
            "channel": "api",
        },
        headers=api_headers,
    ).json()
    assert after["queue_id"] == tech and after["priority"] == "high"
    shown = client.get(f"/api/v1/tickets/{after['id']}", headers=api_headers).json()
    assert shown["tags"] == ["cards"]
    assert _actions(ctx) == ["queue.created", "routing.rule_created"]
    saved = routing.list_rules(ctx, system_actor())["rules"][0]
    assert saved["name"] == "Card declined" and saved["conditions"]["keywords"] == [
        "declined",
        "拒付",
    ]
    assert sorted(saved["conditions"]["channels"]) == ["api", "web"]
    # the queues page lists the stored rules (with a mark for conditions beyond category/language)
    queues_page = client.get("/agent/admin/queues")
    assert "<code>cards</code>" in queues_page.text and 'id="edit-routing"' in queues_page.text


def test_refused_forms_say_why_and_keep_the_values(client, ctx, as_admin):
    token = csrf_of(client.get(f"{BASE}/new").text)
    r = client.post(
        f"{BASE}/new",
        data={"csrf_token": token, "name": "Lost", "queue": "no-such-queue", "keywords": "x"},
    )
    assert r.status_code == 422
    assert (
        "unknown queue &#39;no-such-queue&#39;" in r.text
        or "unknown queue 'no-such-queue'" in r.text
    )
    assert 'data-error-field="queue"' in r.text and 'value="Lost"' in r.text
    r = client.post(f"{BASE}/new", data={"csrf_token": token, "name": "No action", "keywords": "x"})
    assert r.status_code == 422 and "at least one action" in r.text
    r = client.post(
        f"{BASE}/new",
        data={"csrf_token": token, "name": "bad", "categories": "money", "queue": "technical"},
    )
    assert r.status_code == 422 and 'data-error-field="categories"' in r.text
    # without the CSRF token nothing is written
    r = client.post(f"{BASE}/new", data={"name": "x", "queue": "technical"})
    assert r.status_code == 403
    assert _actions(ctx) == []


def test_order_enable_disable_delete_and_default(client, ctx, as_admin):
    ids = _rule_ids(ctx)
    token = csrf_of(client.get(BASE).text)
    assert (
        client.post(
            f"{BASE}/{ids[0]}/move",
            data={"csrf_token": token, "to": "down"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert _rule_ids(ctx)[:2] == [ids[1], ids[0]]
    assert (
        client.post(
            f"{BASE}/{ids[0]}/move", data={"csrf_token": token, "to": "sideways"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{BASE}/{ids[2]}/disable", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert "inactive" in client.get(BASE).text
    assert (
        client.post(
            f"{BASE}/{ids[2]}/enable", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert (
        client.post(
            f"{BASE}/{ids[3]}/delete", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert ids[3] not in _rule_ids(ctx)
    assert client.post(f"{BASE}/{ids[3]}/delete", data={"csrf_token": token}).status_code == 404
    assert client.get(f"{BASE}/{ids[3]}").status_code == 404
    r = client.post(f"{BASE}/default", data={"csrf_token": token, "default_queue": "nope"})
    assert r.status_code == 422 and 'data-error-field="default_queue"' in r.text
    assert (
        client.post(
            f"{BASE}/default",
            data={"csrf_token": token, "default_queue": "general-zh"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert _actions(ctx) == [
        "routing.rule_moved",
        "routing.rule_disabled",
        "routing.rule_enabled",
        "routing.rule_deleted",
        "routing.default_queue",
    ]


def test_preview_marks_the_deciding_rule_and_escapes_names(client, ctx, as_admin):
    routing.create_rule(
        ctx,
        system_actor(),
        {
            "name": "<script>alert(1)</script> VIP",
            "conditions": {"customer_tags": ["vip"]},
            "actions": {"queue": "complaints"},
        },
    )
    page = client.get(BASE)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    r = client.post(
        f"{BASE}/test",
        data={
            "csrf_token": csrf_of(page.text),
            "subject": "转账",
            "body": "我的转账一直没有到账",
            "channel": "chat",
            "customer_tags": "VIP",
        },
    )
    assert r.status_code == 200
    assert re.search(r'id="result-queue">complaints<', r.text)
    assert 'class="rule-row matched decided"' in r.text
    empty = client.post(f"{BASE}/test", data={"csrf_token": csrf_of(page.text), "body": " "})
    assert empty.status_code == 422 and 'data-error-field="body"' in empty.text
    plain = client.post(
        f"{BASE}/test", data={"csrf_token": csrf_of(page.text), "body": "我的转账一直没有到账"}
    )
    assert re.search(r'id="result-queue">transactions-zh<', plain.text)


def test_queue_assignment_and_load_table(client, ctx, as_admin):
    q = _queue(ctx, "technical")
    token = csrf_of(client.get(BASE).text)
    r = client.post(
        f"{BASE}/queues/{q}",
        data={"csrf_token": token, "mode": "round_robin", "max_open": "7"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.read() as s:
        row = s.get(QueueAssignment, q)
        assert (row.mode, row.max_open) == ("round_robin", 7)
    bad = client.post(
        f"{BASE}/queues/{q}", data={"csrf_token": token, "mode": "lottery", "max_open": "7"}
    )
    assert bad.status_code == 422
    assert (
        client.post(
            f"{BASE}/queues/99999", data={"csrf_token": token, "mode": "off", "max_open": "7"}
        ).status_code
        == 404
    )
    page = client.get(BASE)
    assert f'data-agent-id="{as_admin.id}"' in page.text and "Assignment saved." not in page.text
    assert _actions(ctx) == ["queue.assignment_changed"]


def test_chinese_labels(client, ctx, as_admin):
    page = client.get(BASE + "?lang=zh-CN")
    assert "路由规则" in page.text and "测试一条消息" in page.text and "自动分配" in page.text
    form = client.get(f"{BASE}/new?lang=zh-CN")
    assert "新建规则" in form.text and "关键词" in form.text


def test_supervisors_read_only_agents_not_at_all(client, ctx):
    agent(ctx, "sup@topay.example", role="supervisor")
    assert console_login(client, "sup@topay.example").status_code == 303
    page = client.get(BASE)
    assert (
        page.status_code == 200
        and 'id="read-only"' in page.text
        and 'id="new-rule"' not in page.text
    )
    rid = _rule_ids(ctx)[0]
    token = csrf_of(page.text)
    assert client.get(f"{BASE}/{rid}").status_code == 200
    assert client.post(f"{BASE}/{rid}/delete", data={"csrf_token": token}).status_code == 403
    assert (
        client.post(
            f"{BASE}/new", data={"csrf_token": token, "name": "x", "queue": "technical"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"{BASE}/test", data={"csrf_token": token, "body": "refund"}).status_code == 200
    )
    client.cookies.clear()
    agent(ctx, "ag@topay.example")
    assert console_login(client, "ag@topay.example").status_code == 303
    assert client.get(BASE).status_code == 404
    assert client.post(f"{BASE}/{rid}/delete", data={"csrf_token": token}).status_code == 404
    assert len(_rule_ids(ctx)) == 8


def test_ticket_page_shows_how_it_was_routed(client, ctx, as_admin):
    from paydesk.services import assignment
    from tests.factories import ticket

    assignment.set_queue_assignment(ctx, system_actor(), _queue(ctx, "technical"), "round_robin")
    t = ticket(ctx, body="The app crashes on start", subject="crash", category="technical")
    routing.set_customer_tags(ctx, system_actor(), t.customer_id, ["vip", "<b>x</b>"])
    page = client.get(f"/agent/tickets/{t.ticket_id}")
    assert page.status_code == 200
    assert re.search(r'id="routing-rule">technical<', page.text)
    assert 'id="routing-pending"' in page.text
    assert "&lt;b&gt;x&lt;/b&gt;, vip" in page.text
