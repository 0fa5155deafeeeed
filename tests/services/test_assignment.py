"""Automatic assignment on SQLite and PostgreSQL: round-robin and least-loaded among online queue
members who speak the ticket's language and are below the queue's limit; after the intake
commit (background step), audited, never over a manual assignment."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from paydesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from paydesk.services import admin, assignment, presence, routing, tickets
from paydesk.services.actors import system_actor
from paydesk.services.auth import agent_actor
from paydesk.services.staff import create_agent
from paydesk.store.agents import Agent
from paydesk.store.audit import AuditEvent
from paydesk.store.routing import TicketRouting
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue
from tests.factories import LI, PASSWORD, agent, ticket

ADMIN = system_actor()


def _staff(
    ctx, email: str, queues: list[str], languages: list[str] | None = None, online: bool = True
):
    a = create_agent(
        ctx,
        email=email,
        name=email.split("@")[0],
        password=PASSWORD,
        queues=queues,
        languages=languages,
    )
    with ctx.read() as s:
        actor = agent_actor(s, s.get(Agent, a.id))
    if online:
        presence.set_presence(ctx, actor, "online")
    return a.id, actor


def _qid(ctx, slug: str) -> int:
    with ctx.read() as s:
        return s.scalar(select(Queue.id).where(Queue.slug == slug))


def _ticket_row(ctx, tid: int) -> Ticket:
    with ctx.read() as s:
        t = s.get(Ticket, tid)
        s.expunge(t)
        return t


def _pending(ctx, tid: int) -> bool:
    with ctx.read() as s:
        return s.get(TicketRouting, tid).assign_pending


@pytest.fixture
def tech(ctx) -> int:
    """The "technical" queue with least-loaded assignment, limit 2."""
    qid = _qid(ctx, "technical")
    assert assignment.set_queue_assignment(ctx, ADMIN, qid, "least_loaded", 2)
    return qid


def _tech_ticket(ctx, n: int, who=None, **kw):
    body = kw.pop("body", f"The app crashes with an error on login screen {n}")
    args = (who,) if who else ()
    return ticket(ctx, *args, body=body, subject=f"crash {n}", category="technical", **kw)


def test_least_loaded_fills_the_emptier_agent_and_respects_the_limit(ctx, tech) -> None:
    a1, _ = _staff(ctx, "a1@topay.example", ["technical"])
    a2, _ = _staff(ctx, "a2@topay.example", ["technical"])
    _staff(ctx, "other@topay.example", ["account-en"])  # online but not in the queue
    ids = [_tech_ticket(ctx, n).ticket_id for n in range(5)]
    assert all(_pending(ctx, t) for t in ids)
    done = assignment.assign_pending(ctx)
    assert [t for t, _ in done] == ids[:4]
    owners = [a for _, a in done]
    assert sorted(owners) == sorted([a1, a1, a2, a2]) and owners[:2] == [a1, a2]
    first = _ticket_row(ctx, ids[0])
    assert (first.assignee_id, first.status) == (a1, "open")
    # both agents are at their limit (2): the fifth waits, and is assigned once one is freed
    assert _pending(ctx, ids[4]) and _ticket_row(ctx, ids[4]).assignee_id is None
    assert assignment.assign_pending(ctx) == []
    tickets.update_ticket(ctx, ADMIN, ids[1], {"status": "solved"})
    assert assignment.assign_pending(ctx) == [(ids[4], a2)]
    assert not _pending(ctx, ids[4])
    loads = {r["id"]: r["open"] for r in assignment.agent_loads(ctx, ADMIN)}
    assert loads[a1] == 2 and loads[a2] == 2
    with ctx.read() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.auto_assigned")).all()
    assert len(ev) == 5 and ev[0].details == {
        "assignee_id": a1,
        "mode": "least_loaded",
        "queue_id": tech,
    }


def test_round_robin_takes_turns(ctx) -> None:
    qid = _qid(ctx, "technical")
    assignment.set_queue_assignment(ctx, ADMIN, qid, "round_robin", 50)
    a1, _ = _staff(ctx, "r1@topay.example", ["technical"])
    a2, _ = _staff(ctx, "r2@topay.example", ["technical"])
    a3, _ = _staff(ctx, "r3@topay.example", ["technical"])
    ids = [_tech_ticket(ctx, n).ticket_id for n in range(4)]
    assert [a for _, a in assignment.assign_pending(ctx)] == [a1, a2, a3, a1]
    more = _tech_ticket(ctx, 9).ticket_id
    assert assignment.assign_pending(ctx) == [(more, a2)]
    assert len(ids) == 4


def test_language_presence_and_manual_assignment(ctx, tech) -> None:
    en_only, _ = _staff(ctx, "en@topay.example", ["technical"], ["en"])
    zh, zh_actor = _staff(ctx, "zh@topay.example", ["technical"], ["zh-CN"], online=False)
    t_zh = _tech_ticket(ctx, 1, LI, body="应用登录时一直闪退报错").ticket_id
    assert assignment.assign_pending(ctx) == []  # the zh speaker is offline
    assert _pending(ctx, t_zh)
    presence.set_presence(ctx, zh_actor, "online")
    assert assignment.assign_pending(ctx) == [(t_zh, zh)]
    # an agent assigned by hand before the sweep: the sweep leaves it alone
    t_en = _tech_ticket(ctx, 2).ticket_id
    tickets.update_ticket(ctx, ADMIN, t_en, {"assignee_id": zh})
    assert assignment.assign_pending(ctx) == []
    assert _ticket_row(ctx, t_en).assignee_id == zh and not _pending(ctx, t_en)
    assert en_only


def test_a_rule_team_limits_the_candidates(ctx, tech) -> None:
    a1, _ = _staff(ctx, "t1@topay.example", ["technical"])
    a2, _ = _staff(ctx, "t2@topay.example", ["technical"])
    team = admin.create_team(ctx, ADMIN, "Senior tech", [a2])
    routing.create_rule(
        ctx,
        ADMIN,
        {
            "name": "outage",
            "conditions": {"keywords": ["outage"]},
            "actions": {"queue": "technical", "team_id": team},
        },
    )
    t = _tech_ticket(ctx, 1, body="Is there an outage? Nothing loads").ticket_id
    with ctx.read() as s:
        assert s.get(TicketRouting, t).team_id == team
    assert assignment.assign_pending(ctx) == [(t, a2)]
    assert a1 != a2


def test_queues_without_assignment_are_left_alone(ctx) -> None:
    _staff(ctx, "x@topay.example", ["technical"])
    t = _tech_ticket(ctx, 1).ticket_id
    assert not _pending(ctx, t)
    assert assignment.assign_pending(ctx) == []
    assert _ticket_row(ctx, t).assignee_id is None


def test_settings_are_validated_audited_and_admin_only(ctx) -> None:
    qid = _qid(ctx, "technical")
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    _, ag = agent(ctx, "ag@topay.example")
    for mode, limit, field in [
        ("random", 5, "mode"),
        ("round_robin", 0, "max_open"),
        ("round_robin", "x", "max_open"),
    ]:
        with pytest.raises(InvalidInput) as err:
            assignment.set_queue_assignment(ctx, ADMIN, qid, mode, limit)
        assert err.value.field == field
    with pytest.raises(NotFound):
        assignment.set_queue_assignment(ctx, ADMIN, 999999, "off", 5)
    with pytest.raises(PermissionDenied):
        assignment.set_queue_assignment(ctx, sup, qid, "round_robin", 5)
    with pytest.raises(NotFound):
        assignment.queue_settings(ctx, ag)
    assert assignment.set_queue_assignment(ctx, ADMIN, qid, "round_robin", 5)
    assert not assignment.set_queue_assignment(ctx, ADMIN, qid, "round_robin", "5")
    row = next(q for q in assignment.queue_settings(ctx, sup) if q["id"] == qid)
    assert (row["mode"], row["max_open"]) == ("round_robin", 5)
    with ctx.read() as s:
        ev = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "queue.assignment_changed")
        ).one()
    assert ev.details["mode"] == ["off", "round_robin"]


def test_the_server_assigns_in_the_background_after_the_commit(ctx, api) -> None:
    qid = _qid(ctx, "technical")
    assignment.set_queue_assignment(ctx, ADMIN, qid, "least_loaded", 5)
    a1, _ = _staff(ctx, "bg@topay.example", ["technical"])
    r = api.post(
        "/api/v1/tickets",
        json={
            "customer": {"email": "carol@example.com"},
            "subject": "crash",
            "body": "The app crashes on start",
            "channel": "api",
            "category": "technical",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["assignee_id"] is None if "assignee_id" in r.json() else True
    tid = r.json()["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _ticket_row(ctx, tid).assignee_id is None:
        time.sleep(0.1)
    assert _ticket_row(ctx, tid).assignee_id == a1
