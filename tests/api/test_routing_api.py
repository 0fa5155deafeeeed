"""Routing API (/api/v1/routing, /api/v1/customers/{id}/tags) on SQLite and PostgreSQL: a VIP
tag set through the API and a rule made through the API route the next ticket; bad input is a
4xx JSON error; roles are enforced by the services."""

from __future__ import annotations

from tests.security.helpers import new_ticket

from paydesk.services.auth import create_token


def test_vip_tag_and_rule_through_the_api_route_the_next_ticket(api, ctx):
    first = new_ticket(api, "Question about my wallet limits", email="vip@example.com")
    cid = first["customer_id"]
    r = api.put(f"/api/v1/customers/{cid}/tags", json={"tags": ["VIP", "merchant", "vip"]})
    assert r.status_code == 200 and r.json() == {"tags": ["merchant", "vip"]}
    assert api.get(f"/api/v1/customers/{cid}/tags").json() == {"tags": ["merchant", "vip"]}

    rule = api.post(
        "/api/v1/routing/rules",
        json={
            "name": "VIP → complaints desk, urgent",
            "conditions": {"customer_tags": ["vip"]},
            "actions": {"queue": "complaints", "priority": "urgent", "tags": ["vip"]},
        },
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["position"] == 1
    listed = api.get("/api/v1/routing/rules").json()
    assert len(listed["rules"]) == 9 and listed["default_queue"] == "general-en"

    second = new_ticket(api, "Another question about my wallet limits", email="vip@example.com")
    got = api.get(f"/api/v1/tickets/{second['id']}").json()
    assert got["priority"] == "urgent" and got["tags"] == ["vip"]
    other = new_ticket(api, "Another question about my wallet limits", email="plain@example.com")
    assert api.get(f"/api/v1/tickets/{other['id']}").json()["priority"] == "normal"
    assert second["queue_id"] != other["queue_id"]

    preview = api.post(
        "/api/v1/routing/preview", json={"body": "wallet limits", "customer_tags": ["vip"]}
    ).json()
    assert preview["queue"] == "complaints" and preview["queue_rule_id"] == rule.json()["id"]

    rid = rule.json()["id"]
    moved = api.post(f"/api/v1/routing/rules/{rid}/move", json={"position": 9})
    assert moved.status_code == 200 and moved.json()["position"] == 9
    upd = api.put(
        f"/api/v1/routing/rules/{rid}",
        json={"name": "VIP", "enabled": False, "actions": {"queue": "complaints"}},
    )
    assert upd.status_code == 200 and set(upd.json()["changes"]) == {
        "name",
        "enabled",
        "actions",
        "conditions",
    }
    assert api.delete(f"/api/v1/routing/rules/{rid}").status_code == 204
    assert api.get(f"/api/v1/routing/rules/{rid}").status_code == 404


def test_bad_input_is_a_json_4xx(api, ctx):
    cases = [
        (
            "post",
            "/api/v1/routing/rules",
            {"name": "x", "actions": {"queue": "nope"}},
            422,
            "queue",
        ),
        ("post", "/api/v1/routing/rules", {"name": "x", "actions": {}}, 422, "queue"),
        (
            "post",
            "/api/v1/routing/rules",
            {"name": "x", "conditions": {"locales": ["fr"]}, "actions": {"queue": "technical"}},
            422,
            "locales",
        ),
        ("post", "/api/v1/routing/rules", {"name": "x"}, 422, None),
        (
            "post",
            "/api/v1/routing/rules",
            {"name": "x", "actions": {"queue": "technical"}, "at": "middle"},
            422,
            None,
        ),
        ("post", "/api/v1/routing/preview", {"body": ""}, 422, "body"),
        ("put", "/api/v1/routing/queues/1/assignment", {"mode": "lottery"}, 422, None),
        ("put", "/api/v1/routing/queues/999999/assignment", {"mode": "off"}, 404, None),
        ("put", "/api/v1/customers/999999/tags", {"tags": ["vip"]}, 404, None),
        ("post", "/api/v1/routing/rules/999999/move", {"position": 1}, 404, None),
    ]
    for method, url, body, status, field in cases:
        r = getattr(api, method)(url, json=body)
        assert r.status_code == status, (url, body, r.text)
        err = r.json()["error"]
        assert err["code"] and err["message"]
        if field:
            assert err.get("field") == field, (body, err)
    r = api.put("/api/v1/routing/queues/1/assignment", json={"mode": "least_loaded", "max_open": 3})
    assert r.status_code == 200 and (r.json()["mode"], r.json()["max_open"]) == ("least_loaded", 3)
    assert "agents" in api.get("/api/v1/routing/agents").json()


def test_roles(client, ctx):
    sup = create_token(ctx, "supervisor", "sup").token
    ag = create_token(ctx, "agent", "ag").token
    h_sup = {"Authorization": f"Bearer {sup}"}
    h_ag = {"Authorization": f"Bearer {ag}"}
    assert client.get("/api/v1/routing/rules", headers=h_sup).status_code == 200
    body = {"name": "x", "actions": {"queue": "technical"}}
    assert client.post("/api/v1/routing/rules", json=body, headers=h_sup).status_code == 403
    assert client.get("/api/v1/routing/rules", headers=h_ag).status_code == 404
    assert client.post("/api/v1/routing/rules", json=body, headers=h_ag).status_code == 404
    assert client.get("/api/v1/routing/rules").status_code == 401
