"""Macros: service rules, the console pages, the picker and the reply route (both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from paydesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from paydesk.services import macros
from paydesk.services.macros import MacroInput
from paydesk.services.queries import ticket_detail
from paydesk.services.tickets import update_ticket
from paydesk.store.audit import AuditEvent
from paydesk.store.macros import Macro
from paydesk.store.tickets import Message
from tests.factories import LI, agent, ticket
from tests.web.test_console_portal import _csrf, login

HTML = {"Accept": "text/html"}
REFUND = MacroInput(
    name="Refund in progress",
    body_en="Hello {{customer.name}}, refund for {{ticket.number}} is on its way. {{agent.name}}",
    body_zh="{{customer.name}}，您好：工单 {{ticket.number}} 的退款正在处理。{{agent.name}}",
    actions={"status": "solved", "priority": "high", "add_tags": "Refund, vip"},
    shared=True,
)


def test_macro_rules_visibility_and_rendering(ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor", name="Sun Li")
    _, wang = agent(
        ctx, "wang@topay.example", role="agent", name="Wang Fang", queues=["general-zh"]
    )
    _, tom = agent(ctx, "tom@topay.example", role="agent", name="Tom")
    _, aud = agent(ctx, "aud@topay.example", role="auditor")
    shared = macros.create_macro(ctx, sup, REFUND)
    assert shared.owner_id is None and shared.actions == {
        "status": "solved",
        "priority": "high",
        "add_tags": ["refund", "vip"],
    }
    with pytest.raises(PermissionDenied):
        macros.create_macro(ctx, wang, REFUND)  # agents make personal macros only
    mine = macros.create_macro(
        ctx, wang, MacroInput("Mine", "Hi {{customer.name}}", "", {}, shared=False)
    )
    with pytest.raises(InvalidInput) as e:
        macros.create_macro(
            ctx, wang, MacroInput("Typo", "Hi {{customer.nmae}}", "", {}, shared=False)
        )
    assert "customer.nmae" in e.value.message
    with pytest.raises(InvalidInput):
        macros.create_macro(
            ctx, wang, MacroInput("Bad", "x", "", {"status": "closed"}, shared=False)
        )
    with pytest.raises(InvalidInput):
        macros.create_macro(ctx, wang, MacroInput("Empty", " ", "", {}, shared=False))
    with pytest.raises(PermissionDenied):
        macros.create_macro(ctx, aud, MacroInput("Aud", "x", "", {}, shared=False))
    assert {m.name for m in macros.list_macros(ctx, wang)} == {"Refund in progress", "Mine"}
    assert {m.name for m in macros.list_macros(ctx, tom)} == {"Refund in progress"}
    with ctx.read() as s, pytest.raises(NotFound):
        macros.access_macro(s, tom, mine.id)  # someone else's personal macro does not exist
    with pytest.raises(PermissionDenied):
        macros.update_macro(ctx, wang, shared.id, REFUND)
    with pytest.raises(NotFound):
        macros.delete_macro(ctx, tom, mine.id)
    # rendered in the ticket's locale, with its names; values are never expanded again
    t = ticket(ctx, LI, subject="退款")
    update_ticket(ctx, sup, t.ticket_id, {"assignee_id": wang.id})
    rows = {r["name"]: r for r in macros.render_for_ticket(ctx, wang, t.ticket_id)}
    body = rows["Refund in progress"]["body"]
    assert body.startswith("李娜，您好") and f"#{t.ticket_number}" in body
    assert body.endswith("Wang Fang")
    assert rows["Mine"]["body"] == "Hi 李娜"
    with pytest.raises(NotFound):
        macros.render_for_ticket(ctx, tom, t.ticket_id)  # not his queue's ticket
    macros.delete_macro(ctx, wang, mine.id)
    with ctx.read() as s:
        actions = list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "macro"))
        )
    assert actions.count("macro.created") == 2 and "macro.deleted" in actions


def test_console_macro_crud_picker_and_reply_with_actions(client, ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor", name="Sun Li")
    _, wang = agent(ctx, "wang@topay.example", role="agent", name="Wang Fang")
    t = ticket(ctx, LI, subject="退款")
    update_ticket(ctx, sup, t.ticket_id, {"assignee_id": wang.id})
    login(client, "wang@topay.example")
    page = client.get("/agent/macros")
    assert page.status_code == 200 and 'name="shared"' not in page.text
    csrf = _csrf(page.text)
    # an agent cannot create a shared macro, even by posting the field
    r = client.post(
        "/agent/macros",
        data={"name": "X", "body_en": "x", "shared": "1", "csrf_token": csrf},
        headers=HTML,
    )
    assert r.status_code == 403 and "only supervisors and admins" in r.text
    r = client.post("/agent/macros", data={"name": "X", "body_en": "{{nope}}", "csrf_token": csrf})
    assert r.status_code == 422 and "unknown placeholder" in r.text
    assert client.post("/agent/macros", data={"name": "X", "body_en": "x"}).status_code == 403
    r = client.post(
        "/agent/macros",
        data={
            "name": "<i>Thanks</i>",
            "body_en": "Thanks {{customer.name}}",
            "body_zh": "谢谢 {{customer.name}}，工单 {{ticket.number}} 已解决。",
            "status": "solved",
            "add_tags": "thanks",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    listing = client.get("/agent/macros").text
    assert "&lt;i&gt;Thanks&lt;/i&gt;" in listing and "<i>Thanks</i>" not in listing
    with ctx.read() as s:
        m = s.scalar(select(Macro).where(Macro.name == "<i>Thanks</i>"))
    # the ticket page has the keyboard-reachable picker with the rendered zh-CN text
    tp = client.get(f"/agent/tickets/{t.ticket_id}")
    assert 'id="macro-select"' in tp.text and 'accesskey="m"' in tp.text
    assert f"谢谢 李娜，工单 #{t.ticket_number} 已解决。" in tp.text
    assert "/static/macros.js" in tp.text
    csrf = _csrf(tp.text)
    # a reply that asks for a secret is refused before anything is sent or changed
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/macro-reply",
        data={"body": "请提供您的短信验证码", "macro_id": m.id, "csrf_token": csrf},
        headers=HTML,
    )
    assert r.status_code == 422
    assert ticket_detail(ctx, sup, t.ticket_id)["status"] != "solved"
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/macro-reply",
        data={
            "body": "谢谢 李娜，卡号 4111 1111 1111 1111 已处理。",
            "macro_id": m.id,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    d = ticket_detail(ctx, sup, t.ticket_id)
    assert d["status"] == "solved" and "thanks" in d["tags"]
    bodies = [x["body"] for x in d["messages"] if x["author_type"] == "agent"]
    assert bodies and "4111 1111 1111 1111" not in bodies[-1]  # redacted like every reply
    with ctx.read() as s:
        assert s.scalar(select(Macro.usage_count).where(Macro.id == m.id)) == 1
        assert s.scalar(select(func.count()).where(AuditEvent.action == "macro.applied")) == 1
        assert s.scalar(select(func.count()).select_from(Message)) >= 2
    # another agent cannot use, see or edit this personal macro
    agent(ctx, "tom@topay.example", role="agent", name="Tom")
    login(client, "tom@topay.example")
    assert client.get(f"/agent/macros/{m.id}", headers=HTML).status_code == 404
    csrf = _csrf(client.get("/agent/macros").text)
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/macro-reply",
        data={"body": "hi", "macro_id": m.id, "csrf_token": csrf},
    )
    assert r.status_code == 404
    r = client.post(f"/agent/macros/{m.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 404
    r = client.post(
        f"/agent/tickets/{t.ticket_id}/macro-reply",
        data={"body": "hi", "macro_id": "abc", "csrf_token": csrf},
    )
    assert r.status_code == 422
    # a supervisor manages shared macros and sees the shared checkbox
    login(client, "sup@topay.example")
    page = client.get("/agent/macros")
    assert 'name="shared"' in page.text
    r = client.post(
        "/agent/macros",
        data={
            "name": "Shared one",
            "body_en": "Hello",
            "shared": "1",
            "priority": "urgent",
            "csrf_token": _csrf(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.read() as s:
        shared = s.scalar(select(Macro).where(Macro.name == "Shared one"))
    assert shared.owner_id is None and shared.actions == {"priority": "urgent"}
    edit = client.get(f"/agent/macros/{shared.id}")
    r = client.post(
        f"/agent/macros/{shared.id}",
        data={
            "name": "Shared one",
            "body_en": "Hello again",
            "shared": "1",
            "csrf_token": _csrf(edit.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.read() as s:
        assert s.scalar(select(Macro.body_en).where(Macro.id == shared.id)) == "Hello again"


def test_demo_macros_seed_once(ctx):
    macros.seed_demo_macros(ctx)
    macros.seed_demo_macros(ctx)
    with ctx.read() as s:
        rows = list(s.scalars(select(Macro)))
    assert len(rows) == len(macros.DEMO_MACROS)
    assert all(m.owner_id is None and m.body_en and m.body_zh for m in rows)


def test_macros_api(api, client, ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor", name="Sun Li")
    m = macros.create_macro(ctx, sup, REFUND)
    t = ticket(ctx, LI, subject="退款")
    listing = api.get("/api/v1/macros").json()["macros"]
    assert [x["name"] for x in listing] == ["Refund in progress"]
    rendered = api.get(f"/api/v1/tickets/{t.ticket_id}/macros").json()["macros"]
    assert rendered[0]["body"].startswith("李娜，您好")
    r = api.post(
        f"/api/v1/tickets/{t.ticket_id}/macros/{m.id}/apply", json={"body": "请告诉我您的密码"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "asks_for_secret"
    r = api.post(
        f"/api/v1/tickets/{t.ticket_id}/macros/{m.id}/apply", json={"status": "new"}
    )  # an impossible status is refused before anything is sent
    assert r.status_code == 409
    r = api.post(f"/api/v1/tickets/{t.ticket_id}/macros/{m.id}/apply", json={"status": "later"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "status"
    assert len(api.get(f"/api/v1/tickets/{t.ticket_id}").json()["messages"]) == 1
    r = api.post(f"/api/v1/tickets/{t.ticket_id}/macros/{m.id}/apply", json={"nope": 1})
    assert r.status_code == 422
    r = api.post(f"/api/v1/tickets/{t.ticket_id}/macros/999/apply", json={})
    assert r.status_code == 404
    for huge in (2**31, 2**64 * 3):  # past PostgreSQL's int and SQLite's 64 bits
        r = api.post(f"/api/v1/tickets/{t.ticket_id}/macros/{huge}/apply", json={})
        assert r.status_code == 422 and r.json()["error"]["field"] == "macro_id"
    r = api.post(f"/api/v1/tickets/{t.ticket_id}/macros/{m.id}/apply", json={})
    assert r.status_code == 201, r.text
    out = r.json()["ticket"]
    assert out["status"] == "solved" and out["priority"] == "high"
    assert out["tags"] == ["refund", "vip"]
    detail = api.get(f"/api/v1/tickets/{t.ticket_id}").json()
    assert any(x["body"].startswith("李娜，您好") for x in detail["messages"])
    client.headers.pop("Authorization")
    assert client.get("/api/v1/macros").status_code == 401
