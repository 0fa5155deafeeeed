"""Incidents (DESIGN capability 3) through the services, on SQLite and PostgreSQL: a flood of
similar technical tickets is suggested as one incident, grouped, escalated to the technical
on-call (assignment, bus event, a real SMTP email), resolved, and every linked customer is told
once in their language and channel, even when two people click at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_string, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from paydesk.channels.mailer import SmtpEmailSender
from paydesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from paydesk.domain.tickets import AuthorType, Channel
from paydesk.services import incident_notify, incident_suggest, incident_views, incidents
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.incident_suggest import bursting, group_similar
from paydesk.services.tickets import update_ticket
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailOutbox
from paydesk.store.tickets import Message, Ticket
from tests.factories import LI, Persona, agent, ticket
from tests.payments.conftest import Inbox, free_port

ALL_QUEUES = ["general-en", "general-zh", "technical", "account-en", "transactions-en"]


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=inbox.port, server_hostname="mx.test")
    ctl.start()
    yield inbox
    ctl.stop()


def _flood(
    ctx: AppContext, n: int, body: str = "The app crashes at login since this morning"
) -> list[int]:
    ids = []
    for i in range(n):
        who = Persona(f"user{i}@example.com", f"User {i}")
        ids.append(
            ticket(
                ctx, who, body=f"{body} ({i})", subject="App crash", category="technical"
            ).ticket_id
        )
    return ids


def _audits(ctx: AppContext, action: str) -> int:
    with ctx.read() as s:
        q = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(s.scalar(q) or 0)


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


def _ticket(ctx: AppContext, ticket_id: int) -> Ticket:
    with ctx.read() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        return t


def test_grouping_is_pure_and_ignores_small_talk() -> None:
    docs = [(i, f"hello please help app crash login error {i}") for i in range(5)]
    docs += [(10 + i, f"您好 转账 失败 银行卡 {i}") for i in range(5)]
    docs += [(20, "hello please help password reset")]
    groups = group_similar(docs, min_size=4)
    assert groups[0][0] in ("crash", "error", "login") and groups[1][0] in (
        "失败",
        "转账",
        "银行卡",
    )
    assert {tuple(sorted(g[2])) for g in groups} == {tuple(range(5)), tuple(range(10, 15))}
    assert all(w not in ("hello", "please", "help", "您好") for g in groups for w in g[1])
    assert group_similar(docs, min_size=6) == []


def test_common_words_do_not_make_a_group() -> None:
    baseline = [f"money transfer this morning {i}" for i in range(30)]
    window = [(i, f"login crash this morning {i}") for i in range(6)]
    window += [(10 + i, f"money transfer this morning {i}") for i in range(6)]
    allowed = bursting([t for _, t in window], baseline)
    assert allowed is not None
    assert "login" in allowed and "morning" not in allowed and "transfer" not in allowed
    groups = group_similar(window, 5, allowed=allowed)
    assert [sorted(g[2]) for g in groups] == [list(range(6))]
    assert group_similar(window, 5)[0][0] == "morning"  # what the baseline prevents
    assert bursting(["login"], baseline[:5]) is None  # too little history to judge


def test_flood_is_suggested_then_grouped_into_an_incident(ctx: AppContext) -> None:
    ctx.settings.incident_suggest_min_tickets = 5
    flood = _flood(ctx, 6)
    other = ticket(
        ctx,
        Persona("x@example.com", "X"),
        body="How do I change my phone number",
        category="account",
    ).ticket_id
    _, sup = agent(ctx, email="sup@topay.example", role="supervisor")
    (sg,) = incident_suggest.suggestions(ctx, sup)
    assert sorted(sg.ticket_ids) == sorted(flood) and other not in sg.ticket_ids
    assert sg.keyword in ("app", "crashes", "login", "morning", "crash")
    # outside the window nothing is suggested
    later = incident_suggest.suggestions(ctx, sup, now=sg.last_at + timedelta(hours=2))
    assert later == []

    inc = incidents.create_incident(
        ctx,
        sup,
        title="App crashes at login",
        affected_service="App login",
        ticket_ids=list(sg.ticket_ids),
    )
    assert inc.status == "investigating"
    for tid in flood:
        assert _ticket(ctx, tid).type == "incident"
    assert _audits(ctx, "incident.created") == 1 and _audits(ctx, "incident.ticket_linked") == 6
    # grouped tickets are no longer suggested; a new one matches the open incident
    assert incident_suggest.suggestions(ctx, sup) == []
    more = _flood(ctx, 5, body="Login crash again on the app")
    (sg2,) = incident_suggest.suggestions(ctx, sup)
    assert sorted(sg2.ticket_ids) == sorted(more)
    assert sg2.incident_id == inc.id  # "link them to INC-1"
    res = incidents.link_tickets(ctx, sup, inc.id, [*more, flood[0], 999999])
    assert res.linked == more and res.already == [flood[0]] and res.not_found == [999999]
    detail = incident_views.incident_detail(ctx, sup, inc.id)
    assert detail["linked"] == 11 and detail["to_notify"] == 11

    # a ticket belongs to one incident at a time
    inc2 = incidents.create_incident(ctx, sup, title="Second")
    assert incidents.link_tickets(ctx, sup, inc2.id, [flood[1]]).elsewhere == {flood[1]: inc.id}
    with pytest.raises(Conflict):
        incidents.create_incident(ctx, sup, title="Third", ticket_ids=[flood[1]])
    # unlink: the type goes back
    incidents.unlink_ticket(ctx, sup, inc.id, flood[1])
    assert _ticket(ctx, flood[1]).type == "question"
    assert _audits(ctx, "incident.ticket_unlinked") == 1


def test_permissions_and_bad_input(ctx: AppContext) -> None:
    tid = _flood(ctx, 1)[0]
    _, outsider = agent(ctx, email="outsider@topay.example", queues=["account-zh"])
    _, agent_ = agent(ctx, email="a@topay.example", queues=ALL_QUEUES)
    _, auditor = agent(ctx, email="audit@topay.example", role="auditor")
    # an agent may open an incident from a ticket they can see …
    inc = incidents.create_from_ticket(ctx, agent_, tid, affected_service="App")
    assert inc.title == "App crash" and inc.source_ticket_id == tid
    # … but not from one outside their queues (404, nothing created)
    with pytest.raises(NotFound):
        incidents.create_from_ticket(ctx, outsider, tid)
    assert incidents.link_tickets(ctx, outsider, inc.id, [tid]).not_found == [tid]
    with pytest.raises(PermissionDenied):
        incidents.update_incident(ctx, agent_, inc.id, status="resolved")
    with pytest.raises(PermissionDenied):
        incident_notify.notify_resolved(ctx, agent_, inc.id)
    with pytest.raises(PermissionDenied):
        incidents.create_incident(ctx, auditor, title="x")
    _, tech = agent(ctx, email="tech@topay.example", role="technical", queues=["technical"])
    with pytest.raises(InvalidInput):
        incidents.update_incident(ctx, tech, inc.id, status="fixed")
    with pytest.raises(InvalidInput):
        incidents.create_incident(ctx, tech, title="   ")
    with pytest.raises(InvalidInput):
        incidents.link_tickets(ctx, tech, inc.id, ["1"])
    with pytest.raises(NotFound):
        incidents.update_incident(ctx, tech, 424242, status="resolved")
    with pytest.raises(NotFound):  # an unknown source ticket: 404, not a foreign-key error
        incidents.create_incident(ctx, tech, title="Outage", source_ticket_id=424242)
    with pytest.raises(Conflict):  # not resolved yet: nobody is told anything
        incident_notify.notify_resolved(ctx, tech, inc.id)
    # secrets typed into an incident are redacted like everything else
    inc2 = incidents.create_incident(ctx, tech, title="Card 4111 1111 1111 1111 declined")
    assert "4111 1111 1111 1111" not in inc2.title


def test_escalation_assigns_the_least_busy_technical_oncall(ctx: AppContext, smtp: Inbox) -> None:
    ctx.mailer = SmtpEmailSender("127.0.0.1", smtp.port)
    tid = _flood(ctx, 1)[0]
    _, agent_ = agent(ctx, email="a@topay.example", queues=ALL_QUEUES)
    inc = incidents.create_from_ticket(ctx, agent_, tid)
    with pytest.raises(Conflict):  # nobody on call yet
        incidents.escalate(ctx, agent_, inc.id)
    busy, _ = agent(ctx, email="busy@topay.example", role="technical", name="Busy Tech")
    free, _ = agent(ctx, email="free@topay.example", role="technical", name="Free Tech")
    update_ticket(ctx, agent_, tid, {"assignee_id": busy.id})
    with pytest.raises(InvalidInput):  # only technical staff can be the on-call
        incidents.escalate(ctx, agent_, inc.id, agent_id=agent_.id)

    async def watch() -> list[dict[str, Any]]:
        sub = ctx.bus.subscribe(f"agent:{free.id}")
        try:
            await asyncio.to_thread(incidents.escalate, ctx, agent_, inc.id, note="prod down")
            return [await sub.get(timeout=5)]
        finally:
            sub.close()

    (ev,) = asyncio.run(watch())
    assert ev["type"] == "AgentAlert" and ev["alert"] == "incident_escalated"
    assert ev["incident_id"] == inc.id
    detail = incident_views.incident_detail(ctx, agent_, inc.id)
    assert detail["oncall"] == "Free Tech" and detail["escalated_at"]
    mails = smtp.to("free@topay.example")
    assert len(mails) == 1 and f"INC-{inc.id}" in str(mails[0]["Subject"])
    assert _audits(ctx, "incident.escalated") == 1
    # the explicit choice wins
    incidents.escalate(ctx, agent_, inc.id, agent_id=busy.id)
    assert incident_views.incident_detail(ctx, agent_, inc.id)["oncall"] == "Busy Tech"


def test_resolved_incident_notifies_every_customer_once_in_their_language(ctx: AppContext) -> None:
    web = _flood(ctx, 3)
    mail = (
        f"From: 李娜 <{LI.email}>\r\nTo: support@topay.example\r\nSubject: App 闪退\r\n"
        "Message-ID: <inc1@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "App 登录就闪退，怎么办？\r\n"
    ).encode()
    zh = ingest_bytes(ctx, mail, source="cli").ticket_id
    assert zh is not None
    closed = _flood(ctx, 1, body="crash closed case")[0]
    _, tech = agent(ctx, email="tech@topay.example", role="technical", queues=ALL_QUEUES)
    _, sup = agent(ctx, email="sup@topay.example", role="supervisor")
    update_ticket(ctx, sup, closed, {"status": "closed"})
    inc = incidents.create_incident(
        ctx, tech, title="Login crash", affected_service="App login", ticket_ids=[*web, zh, closed]
    )
    incidents.update_incident(ctx, tech, inc.id, status="identified", note="bad release 5.2")
    incidents.update_incident(ctx, tech, inc.id, status="resolved", note="rolled back")

    # a double click: two notifications at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda _: incident_notify.notify_resolved(ctx, tech, inc.id), range(2))
        )
    assert sorted(len(r.notified) for r in results) in ([0, 4], [1, 3], [2, 2])
    assert sum(len(r.notified) for r in results) == 4
    assert sum(len(r.skipped_closed) for r in results) == 1
    for tid in web:
        notes = _public(ctx, tid)
        assert len(notes) == 1 and "App login" in notes[0] and "fixed" in notes[0]
        assert _ticket(ctx, tid).status == "solved"
    (zh_note,) = _public(ctx, zh)
    assert "已经修复" in zh_note and _ticket(ctx, zh).status == "solved"
    assert _public(ctx, closed) == [] and _ticket(ctx, closed).status == "closed"
    with ctx.read() as s:  # the email customer gets it by email, in Chinese
        out = s.scalars(
            select(EmailOutbox).where(EmailOutbox.ticket_id == zh, EmailOutbox.kind == "reply")
        ).all()
    assert len(out) == 1 and out[0].to_addr == LI.email
    body = message_from_string(out[0].mime, policy=policy.SMTP).get_body(("plain",))
    assert body is not None and "已经修复" in body.get_content()
    assert _audits(ctx, "incident.customer_notified") == 4

    # again: nobody is told twice; a ticket linked later is told on the next click only
    again = incident_notify.notify_resolved(ctx, tech, inc.id)
    assert again.notified == [] and again.already == 5
    late = ticket(
        ctx,
        Persona("late@example.com", "Late", "en"),
        body="crash?",
        channel=Channel.WEB,
        category="technical",
    ).ticket_id
    incidents.link_tickets(ctx, tech, inc.id, [late])
    custom = incident_notify.notify_resolved(
        ctx, tech, inc.id, set_status="pending", message_en="Fixed — please confirm it works."
    )
    assert custom.notified == [late] and _public(ctx, late) == ["Fixed — please confirm it works."]
    assert _ticket(ctx, late).status == "pending"
    detail = incident_views.incident_detail(ctx, tech, inc.id)
    assert detail["notified_count"] == 5 and detail["to_notify"] == 0
    kinds = [u["kind"] for u in detail["updates"]]
    assert kinds.count("notified") == 2 and "status" in kinds and "created" in kinds
