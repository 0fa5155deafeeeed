"""SLA through HTTP: the ticket JSON's `sla` object, inbox filter/sort and badges, the ticket
page's SLA panel (holding reply, escalation), the supervisor dashboard and the SLA admin pages
(CSRF, audit, bilingual, 404 for agents). SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from paydesk.store.sla import BusinessCalendarRow, SlaPolicyRow
from paydesk.store.tickets import Ticket
from paydesk.web.sla_texts import TEXTS
from tests.factories import agent, ticket
from tests.security.helpers import console_login, csrf_of, new_ticket


def _overdue(ctx, tid: int, hours: int = 2) -> None:
    """Time travel: the ticket's running targets passed `hours` ago."""
    past = utcnow() - timedelta(hours=hours)
    with ctx.uow() as uow:
        uow.session.execute(
            update(Ticket)
            .where(Ticket.id == tid)
            .values(first_response_due_at=past, resolution_due_at=past, sla_due_at=past)
        )


def _events(ctx, action: str) -> list[AuditEvent]:
    with ctx.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def as_sup(client, ctx):
    agent(ctx, "sup@topay.example", role="supervisor", name="Sup Ervisor")
    assert console_login(client, "sup@topay.example").status_code == 303


@pytest.fixture
def as_admin(client, ctx):
    agent(ctx, "root@topay.example", role="admin", name="Root Admin")
    assert console_login(client, "root@topay.example").status_code == 303


def test_texts_have_the_same_keys() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["zh-CN"])


def test_api_ticket_has_sla_object_and_list_filters(ctx, api) -> None:
    t1 = new_ticket(api, "My transfer is stuck", priority="urgent")
    t2 = new_ticket(api, "Where is my refund")
    t3 = new_ticket(api, "I complain about fees", category="complaint")
    got = api.get(f"/api/v1/tickets/{t1['id']}").json()
    s = got["sla"]
    assert s["first_response"]["state"] == "running"
    assert s["resolution"]["state"] == "running" and s["breached"] is False
    assert s["policy_id"] and s["escalation_level"] == 0 and s["complaint"] is None
    assert api.get(f"/api/v1/tickets/{t3['id']}").json()["sla"]["complaint"]["state"] == "running"

    _overdue(ctx, t2["id"])
    breached = api.get("/api/v1/tickets?sla=breached").json()["tickets"]
    assert [t["id"] for t in breached] == [t2["id"]]
    assert breached[0]["sla"]["breached"] is True
    assert breached[0]["sla"]["first_response"]["seconds_left"] < 0

    by_due = api.get("/api/v1/tickets?sort=due&limit=1").json()
    assert by_due["tickets"][0]["id"] == t2["id"] and by_due["next_cursor"]
    page2 = api.get(f"/api/v1/tickets?sort=due&limit=1&cursor={by_due['next_cursor']}").json()
    assert page2["tickets"][0]["id"] == t1["id"]  # urgent: 30 min first response
    seen = {t2["id"], t1["id"]}
    cursor = page2["next_cursor"]
    while cursor:
        page = api.get(f"/api/v1/tickets?sort=due&limit=1&cursor={cursor}").json()
        seen |= {t["id"] for t in page["tickets"]}
        cursor = page["next_cursor"]
    assert seen == {t1["id"], t2["id"], t3["id"]}

    for bad in ("sla=late", "sort=oldest", "sort=due&cursor=bad", "sort=due&q=refund"):
        r = api.get(f"/api/v1/tickets?{bad}")
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"]


def test_inbox_badges_and_filters(client, ctx, as_sup) -> None:
    fresh = ticket(ctx, subject="Fresh one")
    late = ticket(ctx, subject="Late one")
    _overdue(ctx, late.ticket_id)
    page = client.get("/agent")
    assert page.status_code == 200
    row = re.search(rf'data-id="{late.ticket_id}".*?</tr>', page.text, re.S)
    assert row and "sla-breached" in row.group(0) and "overdue by" in row.group(0)
    row = re.search(rf'data-id="{fresh.ticket_id}".*?</tr>', page.text, re.S)
    assert row and "sla-running" in row.group(0) and "due in" in row.group(0)
    only = client.get("/agent?sla=breached&sort=due")
    assert "Late one" in only.text and "Fresh one" not in only.text
    assert client.get("/agent?sla=bogus").status_code == 422


def test_ticket_panel_holding_reply_and_escalation(client, ctx, as_sup) -> None:
    r = ticket(ctx, body="formal complaint about a fee", category="complaint")
    page = client.get(f"/agent/tickets/{r.ticket_id}")
    assert 'id="sla-panel"' in page.text and 'id="holding-reply-form"' in page.text
    token = csrf_of(page.text)
    # no CSRF token: refused, nothing extended
    bad = client.post(f"/agent/tickets/{r.ticket_id}/holding-reply", data={"body": "wait"})
    assert bad.status_code == 403
    ok = client.post(
        f"/agent/tickets/{r.ticket_id}/holding-reply",
        data={"body": "We need two more weeks.", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert len(_events(ctx, "ticket.complaint_extended")) == 1
    again = client.post(
        f"/agent/tickets/{r.ticket_id}/holding-reply",
        data={"body": "again", "csrf_token": token},
    )
    assert again.status_code == 409 and "already extended" in again.text
    page = client.get(f"/agent/tickets/{r.ticket_id}")
    assert "extended by a holding reply" in page.text and 'id="holding-reply-form"' not in page.text

    esc = client.post(
        f"/agent/tickets/{r.ticket_id}/escalation",
        data={"level": "2", "reason": "<b>regulator</b> letter", "csrf_token": token},
        follow_redirects=False,
    )
    assert esc.status_code == 303
    assert _events(ctx, "ticket.escalated")[0].details["level"] == [0, 2]
    page = client.get(f"/agent/tickets/{r.ticket_id}")
    assert 'data-level="2"' in page.text
    bad_level = client.post(
        f"/agent/tickets/{r.ticket_id}/escalation", data={"level": "x", "csrf_token": token}
    )
    assert bad_level.status_code == 422


def test_supervisor_dashboard(client, ctx, as_sup) -> None:
    late = ticket(ctx, subject="Late", body="transfer failed")
    ticket(ctx, subject="Fine", body="transfer failed again")
    c = ticket(ctx, subject="Complaint <script>", body="I complain", category="complaint")
    _overdue(ctx, late.ticket_id)
    page = client.get("/agent/supervisor")
    assert page.status_code == 200
    assert re.search(r'id="total-open">\s*3<', page.text)
    assert re.search(r'id="total-breached">\s*1<', page.text)
    assert f'data-id="{c.ticket_id}"' in page.text
    assert (
        "Complaint &lt;script&gt;" in page.text
        and "<script>" not in page.text.split("sup-complaints")[1].split("</table>")[0]
    )
    partial = client.get("/agent/supervisor?partial=1")
    assert partial.status_code == 200 and "<html" not in partial.text
    zh = client.get("/agent/supervisor?lang=zh-CN")
    assert "主管看板" in zh.text and "投诉答复期限" in zh.text


def test_attainment_counts_met_and_missed(client, ctx, as_sup) -> None:
    _, sup = agent(ctx, "sup2@topay.example", role="supervisor", name="Other")
    from paydesk.services.tickets import add_agent_message

    met = ticket(ctx, subject="met")
    add_agent_message(ctx, sup, met.ticket_id, "hello")
    missed = ticket(ctx, subject="missed")
    _overdue(ctx, missed.ticket_id)
    page = client.get("/agent/supervisor")
    block = page.text.split('data-days="7"')[1].split("</section>")[0]
    assert "50.0%" in block and "(1 met / 1 missed)" in block


@pytest.mark.parametrize("role", ["agent", "technical"])
def test_dashboard_and_sla_admin_are_404_for_agents(client, ctx, role) -> None:
    agent(ctx, "a@topay.example", role=role, name="A")
    console_login(client, "a@topay.example")
    for url in ("/agent/supervisor", "/agent/admin/sla", "/agent/admin/sla/policies/1"):
        assert client.get(url).status_code == 404, url
    assert "/agent/supervisor" not in client.get("/agent").text


def test_admin_edits_calendar_and_policy(client, ctx, as_admin) -> None:
    home = client.get("/agent/admin/sla")
    assert home.status_code == 200 and 'id="calendars"' in home.text
    with ctx.read() as s:
        cal_id = s.scalars(select(BusinessCalendarRow.id)).first()
        pol_id = s.scalars(select(SlaPolicyRow.id)).first()
    form = client.get(f"/agent/admin/sla/calendars/{cal_id}")
    token = csrf_of(form.text)
    data = {
        "csrf_token": token,
        "name": "Shanghai office",
        "timezone": "Asia/Shanghai",
        "hours_mon": "09:00-18:00",
        "hours_tue": "09:00-18:00",
        "hours_wed": "09:00-18:00",
        "hours_thu": "09:00-18:00",
        "hours_fri": "09:00-17:00",
        "holidays": "2027-01-01\n2027-02-17",
        "extra_days": "",
        "complaint_days": "15",
        "complaint_extended_days": "35",
    }
    r = client.post(f"/agent/admin/sla/calendars/{cal_id}", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    ev = _events(ctx, "sla.calendar_updated")
    assert len(ev) == 1 and set(ev[0].details["changes"]) == {"name", "hours", "holidays"}
    bad = client.post(
        f"/agent/admin/sla/calendars/{cal_id}", data={**data, "hours_mon": "nine to six"}
    )
    assert bad.status_code == 422
    assert 'name="hours_mon" value="nine to six"' in bad.text and "aria-invalid" in bad.text
    no_csrf = client.post(f"/agent/admin/sla/calendars/{cal_id}", data={**data, "csrf_token": ""})
    assert no_csrf.status_code == 403

    pform = client.get(f"/agent/admin/sla/policies/{pol_id}?lang=zh-CN")
    assert "SLA 策略" in pform.text
    pdata = {
        "csrf_token": token,
        "name": "Standard",
        "position": "100",
        "active": "1",
        "business_hours": "1",
        "target_normal_first_response": "60",
        "target_normal_resolution": "600",
    }
    r = client.post(f"/agent/admin/sla/policies/{pol_id}", data=pdata, follow_redirects=False)
    assert r.status_code == 303
    new = ticket(ctx)
    with ctx.read() as s:
        t = s.get(Ticket, new.ticket_id)
        assert t is not None and t.first_response_due_at is not None
        assert t.first_response_due_at > t.created_at
    r = client.post(
        "/agent/admin/sla/policies/new",
        data={**pdata, "name": "Broken", "target_normal_first_response": "-5"},
    )
    assert r.status_code == 422 and "aria-invalid" in r.text
    assert len(_events(ctx, "sla.policy_updated")) == 1
    assert not _events(ctx, "sla.policy_created")


def test_supervisor_reads_admin_pages_but_cannot_post(client, ctx, as_sup) -> None:
    page = client.get("/agent/admin/sla")
    assert page.status_code == 200 and 'id="read-only"' in page.text
    with ctx.read() as s:
        pol_id = s.scalars(select(SlaPolicyRow.id)).first()
    form = client.get(f"/agent/admin/sla/policies/{pol_id}")
    r = client.post(
        f"/agent/admin/sla/policies/{pol_id}",
        data={"csrf_token": csrf_of(form.text), "name": "Hacked", "target_normal_resolution": "1"},
    )
    assert r.status_code == 403


def test_sla_api_actions_and_overview(ctx, api, client) -> None:
    c = new_ticket(api, "I complain about a double charge", category="complaint")
    plain = new_ticket(api, "how do I top up")
    r = api.post(f"/api/v1/tickets/{c['id']}/holding-reply", json={"body": "Investigating."})
    assert r.status_code == 200, r.text
    assert r.json()["sla"]["complaint"]["extended"] is True
    again = api.post(f"/api/v1/tickets/{c['id']}/holding-reply", json={"body": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"]
    assert (
        api.post(f"/api/v1/tickets/{plain['id']}/holding-reply", json={"body": "x"}).status_code
        == 422
    )
    assert api.post(f"/api/v1/tickets/{c['id']}/holding-reply", json={}).status_code == 422
    assert (
        api.post("/api/v1/tickets/999999/escalation", json={"level": 1, "reason": "x"}).status_code
        == 404
    )
    assert api.post(f"/api/v1/tickets/{c['id']}/escalation", json={"level": 7}).status_code == 422
    r = api.post(f"/api/v1/tickets/{c['id']}/escalation", json={"level": 1, "reason": "angry"})
    assert r.status_code == 200 and r.json()["sla"]["escalation_level"] == 1
    ov = api.get("/api/v1/sla/overview").json()
    assert ov["totals"]["open"] == 2
    assert [x["id"] for x in ov["complaints"]] == [c["id"]]
    assert {a["days"] for a in ov["attainment"]} == {7, 30}
    pol = api.get("/api/v1/sla/policies").json()
    assert pol["policies"][0]["targets"]["urgent"]["first_response"] == 30
    from paydesk.services.auth import create_token

    agent_token = create_token(ctx, "agent", "bot").token
    client.headers["Authorization"] = f"Bearer {agent_token}"
    assert client.get("/api/v1/sla/overview").status_code == 404
