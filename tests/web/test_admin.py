"""Admin console (/agent/admin) through HTTP: staff users, teams, queues; audit; bilingual."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from paydesk.domain.errors import InvalidInput
from paydesk.services import admin, auth, staff
from paydesk.store.agents import Agent
from paydesk.store.audit import AuditEvent
from paydesk.store.auth import WebSession
from paydesk.store.workspace import Queue, QueueMember, Team, TeamMember
from tests.factories import LI, agent, ticket
from tests.security.helpers import console_login, csrf_of


def _events(ctx, action: str) -> list[AuditEvent]:
    with ctx.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _agent(ctx, email: str) -> Agent:
    with ctx.read() as s:
        a = s.scalars(select(Agent).where(Agent.email == email)).one()
        s.expunge(a)
        return a


def _queue_id(ctx, slug: str) -> int:
    with ctx.read() as s:
        return s.scalars(select(Queue.id).where(Queue.slug == slug)).one()


@pytest.fixture
def as_admin(client, ctx):
    a, _ = agent(ctx, "root@topay.example", role="admin", name="Root Admin")
    assert console_login(client, "root@topay.example").status_code == 303
    return a


def _staff_form(**over) -> dict:
    data = {
        "name": "Zhang Wei",
        "email": "Zhang.Wei@TOPAY.example",
        "role": "agent",
        "languages": ["zh-CN", "en"],
        "skills": "refunds, crypto，KYC",
        "capacity": "4",
        "password": "a long enough password",
    }
    data.update(over)
    return data


def test_admin_creates_a_staff_user_who_then_signs_in(client, ctx, as_admin):
    listing = client.get("/agent/admin/staff")
    assert listing.status_code == 200 and "root@topay.example" in listing.text
    form = client.get("/agent/admin/staff/new")
    assert form.status_code == 200 and 'name="capacity"' in form.text
    q = _queue_id(ctx, "transactions-zh")
    r = client.post(
        "/agent/admin/staff/new",
        data={**_staff_form(queue_ids=[str(q)]), "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert re.fullmatch(r"/agent/admin/staff/\d+\?done=saved", r.headers["location"])
    new = _agent(ctx, "zhang.wei@topay.example")
    assert (new.role, new.languages, new.capacity) == ("agent", ["zh-CN", "en"], 4)
    assert new.skills == ["refunds", "crypto", "KYC"]
    assert new.password_hash.startswith("$argon2id$")
    with ctx.read() as s:
        assert list(s.scalars(select(QueueMember.queue_id).where(QueueMember.agent_id == new.id)))
    page = client.get(r.headers["location"])
    assert "Saved." in page.text and "zhang.wei@topay.example" in page.text
    ev = _events(ctx, "agent.created")[-1]
    assert ev.actor_id == as_admin.id and ev.object_id == new.id
    assert "password" not in str(ev.details)
    # the new agent signs in and sees the tickets of their queue
    t = ticket(ctx, LI, body="我的转账还没有到账，交易号 TP123", subject="转账")
    client.cookies.clear()
    assert (
        console_login(client, "zhang.wei@topay.example", "a long enough password").status_code
        == 303
    )
    inbox = client.get("/agent")
    assert inbox.status_code == 200 and "/agent/admin" not in inbox.text
    assert client.get(f"/agent/tickets/{t.ticket_id}").status_code == 200


def test_staff_form_refuses_bad_input_on_the_form_and_writes_nothing(client, ctx, as_admin):
    agent(ctx, "taken@topay.example")
    token = csrf_of(client.get("/agent/admin/staff/new").text)
    cases = [
        ({"email": "not-an-email"}, 422, "email"),
        ({"email": "TAKEN@topay.example"}, 409, "email"),
        ({"name": "   "}, 422, "name"),
        ({"role": "superuser"}, 422, "role"),
        ({"languages": []}, 422, "languages"),
        ({"languages": ["fr"]}, 422, "languages"),
        ({"capacity": "lots"}, 422, "capacity"),
        ({"capacity": "51"}, 422, "capacity"),
        ({"skills": "x" * 60}, 422, "skills"),
        ({"password": "short"}, 422, "password"),
        ({"queue_ids": ["999999"]}, 422, "queues"),
        ({"team_ids": ["abc"]}, 422, "teams"),
    ]
    for over, status, field in cases:
        r = client.post("/agent/admin/staff/new", data={**_staff_form(**over), "csrf_token": token})
        assert r.status_code == status, (over, r.status_code, r.text[:300])
        assert 'id="form-error"' in r.text and f'data-error-field="{field}"' in r.text, over
        # the form keeps what was typed
        assert 'value="Zhang Wei"' in r.text or over.get("name")
    with ctx.read() as s:
        assert s.scalar(select(Agent.id).where(Agent.name == "Zhang Wei")) is None
    assert len(_events(ctx, "agent.created")) == 2  # only the two fixtures


def test_edit_role_teams_and_queues_is_audited_old_to_new(client, ctx, as_admin):
    target, _ = agent(ctx, "li@topay.example", name="Li Lei")
    admin_actor = _actor(ctx, as_admin.id)
    team_id = admin.create_team(ctx, admin_actor, "Complaints desk", [])
    q = _queue_id(ctx, "complaints")
    page = client.get(f"/agent/admin/staff/{target.id}")
    assert page.status_code == 200
    r = client.post(
        f"/agent/admin/staff/{target.id}",
        data={
            **_staff_form(name="Li Lei", email="li@topay.example", role="supervisor"),
            "team_ids": [str(team_id)],
            "queue_ids": [str(q)],
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=saved")
    ev = _events(ctx, "agent.role_changed")[-1]
    assert ev.details["changes"]["role"] == ["agent", "supervisor"]
    assert ev.details["changes"]["teams"] == [[], [team_id]]
    with ctx.read() as s:
        assert s.scalar(select(TeamMember.agent_id).where(TeamMember.team_id == team_id)) == (
            target.id
        )
    # the same form again changes nothing and writes no event
    r = client.post(
        f"/agent/admin/staff/{target.id}",
        data={
            **_staff_form(name="Li Lei", email="li@topay.example", role="supervisor"),
            "team_ids": [str(team_id)],
            "queue_ids": [str(q)],
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.headers["location"].endswith("done=no_changes")
    assert len(_events(ctx, "agent.role_changed")) == 1
    assert len(_events(ctx, "agent.updated")) == 0


def _actor(ctx, agent_id: int):
    with ctx.read() as s:
        return auth.agent_actor(s, s.get(Agent, agent_id))


def test_admin_cannot_demote_or_deactivate_themself(client, ctx, as_admin):
    page = client.get(f"/agent/admin/staff/{as_admin.id}")
    token = csrf_of(page.text)
    assert 'id="deactivate"' not in page.text  # no button for oneself
    r = client.post(
        f"/agent/admin/staff/{as_admin.id}",
        data={
            **_staff_form(name="Root Admin", email="root@topay.example", role="agent"),
            "csrf_token": token,
        },
    )
    assert r.status_code == 422 and "your own admin role" in r.text
    r = client.post(f"/agent/admin/staff/{as_admin.id}/deactivate", data={"csrf_token": token})
    assert r.status_code == 422 and "deactivate yourself" in r.text
    me = _agent(ctx, "root@topay.example")
    assert me.role == "admin" and me.active
    # another admin may demote them; the workspace still keeps one active admin
    other, other_actor = agent(ctx, "second@topay.example", role="admin")
    changed = staff.update_staff(
        ctx,
        other_actor,
        as_admin.id,
        staff.StaffInput(name="Root Admin", email="root@topay.example", role="agent"),
    )
    assert changed["role"] == ["admin", "agent"]
    token_actor = auth.resolve_token(ctx, auth.create_token(ctx, "admin", "ops").token)
    with pytest.raises(InvalidInput, match="at least one active admin"):
        staff.set_staff_active(ctx, token_actor, other.id, False)
    with pytest.raises(InvalidInput, match="at least one active admin"):
        staff.update_staff(
            ctx,
            token_actor,
            other.id,
            staff.StaffInput(name="x", email="second@topay.example", role="agent"),
        )


def test_deactivation_signs_the_user_out_and_blocks_sign_in(client, ctx, as_admin):
    from fastapi.testclient import TestClient

    target, _ = agent(ctx, "leaving@topay.example")
    with TestClient(client.app) as other:
        assert console_login(other, "leaving@topay.example").status_code == 303
        assert other.get("/agent").status_code == 200
        token = csrf_of(client.get(f"/agent/admin/staff/{target.id}").text)
        r = client.post(
            f"/agent/admin/staff/{target.id}/deactivate",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].endswith("done=deactivated")
        assert other.get("/agent", follow_redirects=False).status_code == 303  # signed out
        with ctx.read() as s:
            assert s.scalar(select(WebSession.id).where(WebSession.agent_id == target.id)) is None
        assert console_login(other, "leaving@topay.example").status_code == 401
        listing = client.get("/agent/admin/staff")
        assert "Deactivated" in listing.text
        r = client.post(
            f"/agent/admin/staff/{target.id}/reactivate",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert r.headers["location"].endswith("done=reactivated")
        assert console_login(other, "leaving@topay.example").status_code == 303
    assert [e.object_id for e in _events(ctx, "agent.deactivated")] == [target.id]
    assert [e.object_id for e in _events(ctx, "agent.reactivated")] == [target.id]


def test_reset_totp_and_set_password(client, ctx, as_admin):
    target, target_actor = agent(ctx, "phone.lost@topay.example")
    secret, _ = auth.begin_totp(ctx, target_actor)
    auth.confirm_totp(ctx, target_actor, pyotp.TOTP(secret).now())
    page = client.get(f"/agent/admin/staff/{target.id}")
    assert 'id="staff-totp">on<' in page.text and secret not in page.text
    token = csrf_of(page.text)
    r = client.post(
        f"/agent/admin/staff/{target.id}/totp-reset",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"].endswith("done=totp_reset")
    assert _agent(ctx, "phone.lost@topay.example").totp_secret is None
    assert _events(ctx, "agent.totp_reset")[-1].details == {"was_enabled": True}
    bad = client.post(
        f"/agent/admin/staff/{target.id}/password", data={"password": "short", "csrf_token": token}
    )
    assert bad.status_code == 422 and "10 characters" in bad.text
    r = client.post(
        f"/agent/admin/staff/{target.id}/password",
        data={"password": "a brand new passphrase", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"].endswith("done=password_set")
    assert "brand new" not in str(_events(ctx, "agent.password_set")[-1].details)
    client.cookies.clear()
    assert console_login(client, "phone.lost@topay.example").status_code == 401
    r = console_login(client, "phone.lost@topay.example", "a brand new passphrase")
    assert r.status_code == 303 and r.headers["location"] == "/agent"  # no 2FA step any more


def test_teams_create_rename_members(client, ctx, as_admin):
    a1, _ = agent(ctx, "a1@topay.example", name="Agent One")
    a2, _ = agent(ctx, "a2@topay.example", name="Agent Two")
    page = client.get("/agent/admin/teams")
    token = csrf_of(page.text)
    r = client.post(
        "/agent/admin/teams",
        data={"name": "Tier 1", "member_ids": [str(a1.id), str(a2.id)], "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    team_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    dup = client.post("/agent/admin/teams", data={"name": "tier 1", "csrf_token": token})
    assert dup.status_code == 409 and 'value="tier 1"' in dup.text
    bad = client.post(
        "/agent/admin/teams", data={"name": "X", "member_ids": ["424242"], "csrf_token": token}
    )
    assert bad.status_code == 422 and "unknown staff user" in bad.text
    r = client.post(
        f"/agent/admin/teams/{team_id}",
        data={"name": "Tier 1 · 一线", "member_ids": [str(a2.id)], "csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"].endswith("done=saved")
    with ctx.read() as s:
        assert s.get(Team, team_id).name == "Tier 1 · 一线"
        assert list(
            s.scalars(select(TeamMember.agent_id).where(TeamMember.team_id == team_id))
        ) == [a2.id]
    ev = _events(ctx, "team.updated")[-1]
    assert ev.details["changes"] == {
        "name": ["Tier 1", "Tier 1 · 一线"],
        "members": {"added": [], "removed": [a1.id]},
    }
    assert "Tier 1 · 一线" in client.get("/agent/admin/teams").text


def test_queues_create_rename_team_members_and_routing(client, ctx, as_admin):
    member, _ = agent(ctx, "vip.agent@topay.example", name="VIP Agent")
    team_id = admin.create_team(ctx, _actor(ctx, as_admin.id), "VIP", [])
    listing = client.get("/agent/admin/queues")
    assert listing.status_code == 200
    assert 'id="default-queue">general-en<' in listing.text
    assert "<code>complaints</code>" in listing.text  # routing table
    form = client.get("/agent/admin/queues/new")
    token = csrf_of(form.text)
    for slug, status in (("VIP EN", 422), ("general-en", 409), ("x", 422)):
        r = client.post(
            "/agent/admin/queues/new", data={"slug": slug, "name": "VIP", "csrf_token": token}
        )
        assert r.status_code == status and 'aria-invalid="true"' in r.text, slug
    bad_team = client.post(
        "/agent/admin/queues/new",
        data={"slug": "vip-en", "name": "VIP", "team_id": "77777", "csrf_token": token},
    )
    assert bad_team.status_code == 422 and "unknown team" in bad_team.text
    bad_locale = client.post(
        "/agent/admin/queues/new",
        data={"slug": "vip-en", "name": "VIP", "locale": "fr", "csrf_token": token},
    )
    assert bad_locale.status_code == 422
    r = client.post(
        "/agent/admin/queues/new",
        data={
            "slug": "vip-en",
            "name": "VIP (English)",
            "name_zh": "贵宾（英文）",
            "team_id": str(team_id),
            "locale": "en",
            "member_ids": [str(member.id)],
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    qid = _queue_id(ctx, "vip-en")
    page = client.get(f"/agent/admin/queues/{qid}")
    assert "No routing rule sends tickets here." in page.text
    r = client.post(
        f"/agent/admin/queues/{qid}",
        data={"name": "VIP desk", "name_zh": "贵宾", "locale": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"].endswith("done=saved")
    with ctx.read() as s:
        q = s.get(Queue, qid)
        assert (q.slug, q.name, q.name_zh, q.team_id, q.locale) == (
            "vip-en",
            "VIP desk",
            "贵宾",
            None,
            None,
        )
    ev = _events(ctx, "queue.updated")[-1]
    assert ev.details["changes"]["members"] == {"added": [], "removed": [member.id]}
    assert ev.details["changes"]["team_id"] == [team_id, None]
    assert _events(ctx, "queue.created")[-1].details["members"] == [member.id]
    # the default queue's page says so
    assert "Default queue" in client.get(f"/agent/admin/queues/{_queue_id(ctx, 'general-en')}").text


def test_supervisor_reads_but_cannot_change(client, ctx):
    target, _ = agent(ctx, "someone@topay.example")
    agent(ctx, "boss@topay.example", role="supervisor")
    console_login(client, "boss@topay.example")
    inbox = client.get("/agent")
    assert 'href="/agent/admin"' in inbox.text
    for url in ("/agent/admin/staff", f"/agent/admin/staff/{target.id}", "/agent/admin/teams"):
        page = client.get(url)
        assert page.status_code == 200 and 'id="read-only"' in page.text, url
    page = client.get(f"/agent/admin/staff/{target.id}")
    assert 'id="save-staff"' not in page.text and 'id="deactivate"' not in page.text
    token = csrf_of(page.text)
    r = client.post(
        f"/agent/admin/staff/{target.id}",
        data={**_staff_form(email="someone@topay.example", role="admin"), "csrf_token": token},
    )
    assert r.status_code == 403
    assert client.get("/agent/admin/staff/new").status_code == 403
    assert _agent(ctx, "someone@topay.example").role == "agent"


def test_pages_in_chinese_and_names_escaped(client, ctx, as_admin):
    agent(ctx, "evil@topay.example", name="<script>alert(1)</script>")
    page = client.get("/agent/admin/staff?lang=zh-CN")
    assert "员工" in page.text and "添加员工" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "团队" in client.get("/agent/admin/teams").text  # remembered by the cookie
    assert "Staff" in client.get("/agent/admin/staff?lang=en").text


def test_catalogs_have_the_same_keys():
    from paydesk.web.pages.admin_texts import TEXTS

    assert TEXTS["en"].keys() == TEXTS["zh-CN"].keys()
