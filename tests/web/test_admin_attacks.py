"""Attacks on the admin console: agents, anonymous visitors, cross-site posts, odd ids.

An agent (or technical on-call) must neither see nor change anything under /agent/admin: every
page and every form answers 404 (the pages do not admit they exist) and nothing is written.
"""

from __future__ import annotations

from sqlalchemy import func, select

from paydesk.services import admin
from paydesk.store.agents import Agent
from paydesk.store.audit import AuditEvent
from paydesk.store.workspace import Queue, QueueMember, Team
from tests.factories import agent
from tests.security.helpers import console_login, csrf_of


def _snapshot(ctx) -> tuple:
    with ctx.read() as s:
        return (
            tuple(s.execute(select(Agent.id, Agent.role, Agent.active, Agent.name)).all()),
            tuple(s.execute(select(Queue.id, Queue.name)).all()),
            tuple(s.execute(select(Team.id, Team.name)).all()),
            s.scalar(select(func.count()).select_from(QueueMember)),
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("agent.%") | AuditEvent.action.like("queue.%"))
            ),
        )


def _targets(ctx, admin_actor) -> tuple[list[str], list[tuple[str, dict]]]:
    victim, _ = agent(ctx, "victim@topay.example", role="admin", name="Victim")
    team = admin.create_team(ctx, admin_actor, "Team A", [])
    q = admin.create_queue(ctx, admin_actor, slug="target-q", name="Target")
    pages = [
        "/agent/admin",
        "/agent/admin/staff",
        "/agent/admin/staff/new",
        f"/agent/admin/staff/{victim.id}",
        "/agent/admin/teams",
        f"/agent/admin/teams/{team}",
        "/agent/admin/queues",
        "/agent/admin/queues/new",
        f"/agent/admin/queues/{q}",
    ]
    staff_form = {
        "name": "Pwned",
        "email": "victim@topay.example",
        "role": "agent",
        "languages": "en",
        "capacity": "1",
    }
    posts = [
        (
            "/agent/admin/staff/new",
            {**staff_form, "email": "mole@topay.example", "role": "admin", "password": "x" * 12},
        ),
        (f"/agent/admin/staff/{victim.id}", staff_form),
        (f"/agent/admin/staff/{victim.id}/deactivate", {}),
        (f"/agent/admin/staff/{victim.id}/totp-reset", {}),
        (f"/agent/admin/staff/{victim.id}/password", {"password": "attacker-chosen-pass"}),
        ("/agent/admin/teams", {"name": "Mine"}),
        (f"/agent/admin/teams/{team}", {"name": "Renamed"}),
        ("/agent/admin/queues/new", {"slug": "mole", "name": "Mole"}),
        (f"/agent/admin/queues/{q}", {"name": "Renamed"}),
    ]
    return pages, posts


def test_agents_cannot_reach_or_post_admin_pages(client, ctx):
    _, root = agent(ctx, "root@topay.example", role="admin")
    pages, posts = _targets(ctx, root)
    for role in ("agent", "technical"):
        client.cookies.clear()
        agent(ctx, f"{role}@topay.example", role=role, queues=["general-en"])
        assert console_login(client, f"{role}@topay.example").status_code == 303
        inbox = client.get("/agent")
        assert inbox.status_code == 200 and "/agent/admin" not in inbox.text  # no nav link
        token = csrf_of(inbox.text)  # a valid session token does not help
        before = _snapshot(ctx)
        for url in pages:
            r = client.get(url, follow_redirects=False)
            assert r.status_code == 404, (role, url, r.status_code)
            assert "Victim" not in r.text and "target-q" not in r.text
        for url, data in posts:
            r = client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)
            assert r.status_code == 404, (role, url, r.status_code)
            r = client.post(url, data=data, headers={"Accept": "application/json"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert _snapshot(ctx) == before, role


def test_anonymous_and_cross_site_posts_change_nothing(client, ctx):
    _, root = agent(ctx, "root@topay.example", role="admin")
    pages, posts = _targets(ctx, root)
    before = _snapshot(ctx)
    for url in pages:
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/agent/login")
    for url, data in posts:
        r = client.post(url, data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/agent/login")
    # a signed-in admin's browser posting a forged form (no or wrong CSRF token)
    assert console_login(client, "root@topay.example").status_code == 303
    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url
        assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 403, url
    assert _snapshot(ctx) == before


def test_odd_ids_and_other_workspaces_are_404_not_500(client, ctx):
    agent(ctx, "root@topay.example", role="admin")
    console_login(client, "root@topay.example")
    token = csrf_of(client.get("/agent/admin/staff").text)
    for base in ("/agent/admin/staff", "/agent/admin/teams", "/agent/admin/queues"):
        for bad in ("0", "999999", str(2**31), str(2**63)):
            assert client.get(f"{base}/{bad}").status_code == 404, (base, bad)
            r = client.post(f"{base}/{bad}", data={"name": "x", "csrf_token": token})
            assert r.status_code == 404, (base, bad)
        assert client.get(f"{base}/abc", headers={"Accept": "application/json"}).status_code in (
            404,
            422,
        )
    assert (
        client.post(
            f"/agent/admin/staff/{2**40}/deactivate", data={"csrf_token": token}
        ).status_code
        == 404
    )
    # an oversized form is refused before anything is parsed
    big = client.post("/agent/admin/teams", data={"name": "x" * 2_000_000, "csrf_token": token})
    assert big.status_code in (400, 413, 422)
