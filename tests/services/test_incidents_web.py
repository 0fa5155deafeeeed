"""Incidents over HTTP, on SQLite and PostgreSQL: the JSON API for technical/supervisor/admin
tokens (4xx JSON for bad input, never a 500) and the console pages (suggestion banner, create
from a suggestion or a ticket, search-and-link, CSRF, escaping, Chinese labels, notify)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paydesk.domain.tickets import AuthorType
from paydesk.services.auth import create_token
from paydesk.services.context import AppContext
from paydesk.store.incidents import Incident
from paydesk.store.tickets import Message, Ticket
from paydesk.web.pages.incident_texts import TEXTS
from tests.factories import Persona, ticket
from tests.payments.conftest import staff_client


def _flood(ctx: AppContext, n: int, word: str = "crash") -> list[int]:
    return [
        ticket(
            ctx,
            Persona(f"w{word}{i}@example.com", f"User {i}"),
            body=f"The app {word}es at login ({i})",
            subject=f"App {word}",
            category="technical",
        ).ticket_id
        for i in range(n)
    ]


def _bearer(client: Any, ctx: AppContext, role: str) -> None:
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    client.headers["Authorization"] = f"Bearer {create_token(ctx, role, role).token}"


def _public(ctx: AppContext, ticket_id: int) -> list[str]:
    with ctx.read() as s:
        return list(
            s.scalars(
                select(Message.body).where(
                    Message.ticket_id == ticket_id,
                    Message.author_type == AuthorType.SYSTEM.value,
                    Message.internal.is_(False),
                )
            )
        )


def test_catalogues_have_the_same_keys() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["zh-CN"])


def test_api_for_the_technical_oncall(client, ctx) -> None:  # type: ignore[no-untyped-def]
    ctx.settings.incident_suggest_min_tickets = 3
    flood = _flood(ctx, 4)
    assert client.get("/api/v1/incidents").status_code == 401
    _bearer(client, ctx, "agent")
    r = client.get("/api/v1/incidents")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    _bearer(client, ctx, "technical")
    (sg,) = client.get("/api/v1/incidents/suggestions").json()["suggestions"]
    assert sorted(sg["ticket_ids"]) == sorted(flood) and sg["count"] == 4

    for bad in (
        {},
        {"title": ""},
        {"title": "x", "severity": "sev9"},
        {"title": "x", "ticket_ids": ["abc"]},
        {"title": "x", "ticket_ids": [0]},
        {"title": "x", "colour": "red"},
        {"title": "x" * 201},
    ):
        r = client.post("/api/v1/incidents", json=bad)
        assert r.status_code == 422 and "error" in r.json(), (bad, r.text)
    assert client.post("/api/v1/incidents", content=b"{not json").status_code == 422
    assert client.get("/api/v1/incidents/99999").status_code == 404
    assert client.get("/api/v1/incidents/abc").status_code == 422
    assert (
        client.post("/api/v1/incidents", json={"title": "x", "ticket_ids": [99999]}).status_code
        == 404
    )

    r = client.post(
        "/api/v1/incidents",
        json={"title": "Login crash", "affected_service": "App login", "ticket_ids": flood[:2]},
    )
    assert r.status_code == 201, r.text
    inc = r.json()
    assert (
        inc["ref"] == f"INC-{inc['id']}" and inc["linked"] == 2 and inc["status"] == "investigating"
    )
    iid = inc["id"]
    r = client.post(f"/api/v1/incidents/{iid}/tickets", json={"q": "crashes"})
    assert r.status_code == 200 and sorted(r.json()["linked"]) == sorted(flood[2:])
    assert (
        client.post(f"/api/v1/incidents/{iid}/tickets", json={"ticket_ids": []}).status_code == 422
    )
    assert (
        client.post(f"/api/v1/incidents/{iid}/escalate", json={}).status_code == 409
    )  # nobody on call
    assert client.patch(f"/api/v1/incidents/{iid}", json={"status": "fixed"}).status_code == 422
    assert (
        client.post(f"/api/v1/incidents/{iid}/notify", json={}).status_code == 409
    )  # not resolved
    r = client.patch(f"/api/v1/incidents/{iid}", json={"status": "resolved", "note": "rolled back"})
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["resolved_at"]
    assert client.delete(f"/api/v1/incidents/{iid}/tickets/{flood[3]}").status_code == 204
    assert client.delete(f"/api/v1/incidents/{iid}/tickets/{flood[3]}").status_code == 404
    r = client.post(f"/api/v1/incidents/{iid}/notify", json={"set_status": "done"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/incidents/{iid}/notify", json={})
    assert r.status_code == 200 and r.json()["notified"] == 3, r.text
    assert client.post(f"/api/v1/incidents/{iid}/notify", json={}).json()["notified"] == 0
    for tid in flood[:3]:
        assert len(_public(ctx, tid)) == 1
    assert _public(ctx, flood[3]) == []  # unlinked before the notification
    listed = client.get("/api/v1/incidents?state=resolved").json()["incidents"]
    assert [x["id"] for x in listed] == [iid] and listed[0]["linked"] == 3
    assert client.get("/api/v1/incidents?state=bogus").status_code == 422


def test_console_pages(client, ctx) -> None:  # type: ignore[no-untyped-def]
    ctx.settings.incident_suggest_min_tickets = 3
    flood = _flood(ctx, 3)
    other = ticket(
        ctx,
        Persona("other@example.com", "Other"),
        body="My card payment was declined twice",
        subject="Declined",
        category="technical",
    ).ticket_id
    staff_client(client, ctx, role="agent", email="agent@topay.example")
    page = client.get("/agent/incidents")
    assert page.status_code == 200 and 'id="suggestion-1"' in page.text
    assert "3 technical tickets about" in page.text
    csrf = client.headers["X-CSRF-Token"]
    form = {"title": "<script>alert(1)</script> crash", "ticket_ids": [str(t) for t in flood]}
    assert client.post("/agent/incidents", data=form, follow_redirects=False).status_code == 403
    r = client.post("/agent/incidents", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    detail = client.get(url)
    assert detail.status_code == 200
    assert "<script>alert(1)</script>" not in detail.text and "&lt;script&gt;" in detail.text
    assert all(f'id="linked-{t}"' in detail.text for t in flood)
    assert 'id="incident-update"' not in detail.text  # agents do not change the status
    iid = int(url.rsplit("/", 1)[1])
    assert 'id="suggestion-1"' not in client.get("/agent/incidents").text  # grouped now
    # the ticket page's panel shows it; another ticket offers to create or link one
    assert f"/agent/incidents/{iid}" in client.get(f"/agent/tickets/{flood[0]}").text
    assert f"/agent/incidents/new?ticket_id={other}" in client.get(f"/agent/tickets/{other}").text
    new = client.get(f"/agent/incidents/new?ticket_id={other}")
    assert new.status_code == 200 and 'id="link-existing"' in new.text
    assert client.get("/agent/incidents/new?ticket_id=999999").status_code == 404
    # search and link in bulk from the detail page
    found = client.get(f"{url}?q=declined")
    assert 'id="link-results"' in found.text and f'value="{other}"' in found.text
    r = client.post(
        f"{url}/link", data={"csrf_token": csrf, "ticket_ids": [str(other)]}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(f"{url}/update", data={"csrf_token": csrf, "status": "resolved"})
    assert r.status_code == 403
    r = client.post(f"{url}/link", data={"csrf_token": csrf, "ticket_ids": ["x1"]})
    assert r.status_code == 422
    # the supervisor resolves and notifies from the page (Chinese labels on request)
    staff_client(client, ctx, role="supervisor", email="sup@topay.example")
    csrf = client.headers["X-CSRF-Token"]
    zh = client.get(f"{url}?lang=zh-CN")
    assert "故障事件" in zh.text and "请先将故障事件设为已解决" in zh.text
    client.cookies.delete("pd_lang")
    r = client.post(
        f"{url}/update",
        data={"csrf_token": csrf, "status": "resolved", "note": "ok"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(url).text
    assert 'id="incident-notify"' in page and "Notify 4 customer(s)" in page
    for _ in range(2):  # a double click
        r = client.post(
            f"{url}/notify",
            data={
                "csrf_token": csrf,
                "set_status": "solved",
                "message_en": "Fixed now.",
                "message_zh": "已修复。",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
    for tid in [*flood, other]:
        assert _public(ctx, tid) == ["Fixed now."]
    with ctx.read() as s:
        assert {s.get(Ticket, t).status for t in [*flood, other]} == {"solved"}  # type: ignore[union-attr]
        assert s.scalars(select(Incident)).one().notified_count == 4
    assert 'id="notify-done"' in client.get(url).text


def test_the_oncall_console_gets_the_escalation_alert(client, ctx) -> None:  # type: ignore[no-untyped-def]
    import time

    from paydesk.services import incidents
    from tests.factories import agent

    tid = _flood(ctx, 1)[0]
    _, frontline = agent(ctx, email="front@topay.example", queues=["technical", "general-en"])
    inc = incidents.create_from_ticket(ctx, frontline, tid)
    staff_client(client, ctx, role="technical", email="oncall@topay.example")
    with client.websocket_connect("/ws/agent") as ws:
        time.sleep(0.3)  # the socket subscribes right after accepting
        incidents.escalate(ctx, frontline, inc.id)
        seen = [ws.receive_json() for _ in range(2)]
    alert = next(e for e in seen if e["type"] == "AgentAlert")
    assert alert == {
        "type": "AgentAlert",
        "ticket_id": None,
        "incident_id": inc.id,
        "alert": "incident_escalated",
    }
    assert "/agent/incidents/" in client.get("/static/agent.js").text
