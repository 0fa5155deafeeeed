"""SLA clocks through the services (intake, replies, status changes, complaints, escalation,
admin configuration) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from paydesk.domain import sla as rules
from paydesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake, sla, sla_admin
from paydesk.services.tickets import add_agent_message, update_ticket
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from paydesk.store.sla import SlaPolicyRow
from paydesk.store.tickets import Ticket
from tests.factories import ALICE, agent, ticket


def _t(ctx, tid: int) -> Ticket:
    with ctx.read() as s:
        t = s.get(Ticket, tid)
        assert t is not None
        s.expunge(t)
        return t


def _events(ctx, action: str) -> list[AuditEvent]:
    with ctx.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _cfg(ctx):
    cfg = sla.config(ctx, 1)
    policy = cfg.policies[0]
    return cfg, policy, cfg.calendar_for(policy)[0]


def _follow_up(ctx, tid: int, body: str = "any news?"):
    return intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB, subject="", body=body, email=ALICE.email, ticket_id=tid
        ),
    )


def test_defaults_are_seeded_once(ctx) -> None:
    from paydesk.services.bootstrap import prepare

    prepare(ctx)
    with ctx.read() as s:
        assert len(s.scalars(select(SlaPolicyRow)).all()) == 1
    cfg, policy, cal = _cfg(ctx)
    assert policy.name == "Standard" and cal.timezone == "Asia/Shanghai"


def test_intake_starts_clocks_and_replies_move_them(ctx) -> None:
    _, wang = agent(ctx, role="supervisor")
    cfg, policy, cal = _cfg(ctx)
    r = ticket(ctx)
    t = _t(ctx, r.ticket_id)
    assert t.sla_policy_id == policy.id
    assert t.first_response_due_at == rules.add_business_time(cal, t.created_at, 4 * 3600)
    assert t.resolution_due_at == rules.add_business_time(cal, t.created_at, 24 * 3600)
    assert t.sla_due_at == t.first_response_due_at
    assert t.final_answer_due_at is None and t.escalation_level == 0

    add_agent_message(ctx, wang, r.ticket_id, "We are looking into it.")
    t = _t(ctx, r.ticket_id)
    assert t.status == "pending" and t.first_response_at is not None
    assert t.resolution_due_at is None and t.resolution_left_seconds is not None
    assert 0 < t.resolution_left_seconds <= 24 * 3600
    assert t.sla_due_at is None
    state = sla.sla_public(t, utcnow())
    assert state["first_response"]["state"] == "met"
    assert state["resolution"]["state"] == "paused"

    # an internal note changes nothing
    add_agent_message(ctx, wang, r.ticket_id, "note", internal=True)
    assert _t(ctx, r.ticket_id).resolution_left_seconds == t.resolution_left_seconds

    # the customer writes back: open again, resolution resumes, next response starts
    _follow_up(ctx, r.ticket_id)
    t2 = _t(ctx, r.ticket_id)
    assert t2.status == "open"
    assert t2.resolution_due_at is not None and t2.resolution_left_seconds is None
    assert t2.next_response_due_at is not None
    assert t2.sla_due_at == min(t2.next_response_due_at, t2.resolution_due_at)

    # the next public reply meets next response; solving stops resolution (met)
    add_agent_message(ctx, wang, r.ticket_id, "Done, refunded.")
    update_ticket(ctx, wang, r.ticket_id, {"status": "solved"})
    t3 = _t(ctx, r.ticket_id)
    assert t3.next_response_due_at is None and t3.resolution_due_at is None
    assert t3.resolution_left_seconds is not None and t3.resolution_left_seconds > 0
    assert sla.sla_public(t3, utcnow())["resolution"]["state"] == "met"
    assert sla.sla_public(t3, utcnow())["breached"] is False

    # reopened by the customer: continues where it stopped
    _follow_up(ctx, r.ticket_id, "still not there")
    t4 = _t(ctx, r.ticket_id)
    assert t4.status == "open" and t4.resolution_due_at is not None


def test_on_hold_pauses_and_priority_change_retargets(ctx) -> None:
    _, wang = agent(ctx, role="supervisor")
    r = ticket(ctx)
    update_ticket(ctx, wang, r.ticket_id, {"status": "on-hold"})
    t = _t(ctx, r.ticket_id)
    assert t.resolution_due_at is None and t.resolution_left_seconds is not None
    assert t.sla_due_at == t.first_response_due_at  # first response does not pause
    update_ticket(ctx, wang, r.ticket_id, {"status": "open", "priority": "urgent"})
    t = _t(ctx, r.ticket_id)
    _, policy, cal = _cfg(ctx)
    assert t.first_response_due_at == rules.add_business_time(cal, t.created_at, 30 * 60)
    # resolution: the new 4-hour target minus the few seconds already used
    assert t.resolution_due_at is not None and t.resolution_left_seconds is None
    expected = rules.add_business_time(cal, t.created_at, 4 * 3600)
    assert abs((t.resolution_due_at - expected).total_seconds()) < 120
    # lowered while on hold: stays paused with the low target's time left
    update_ticket(ctx, wang, r.ticket_id, {"status": "on-hold"})
    update_ticket(ctx, wang, r.ticket_id, {"priority": "low"})
    t = _t(ctx, r.ticket_id)
    assert t.resolution_due_at is None
    assert 48 * 3600 - 120 < (t.resolution_left_seconds or 0) <= 48 * 3600


def test_breached_while_paused_shows_breached(ctx) -> None:
    _, wang = agent(ctx, role="supervisor")
    r = ticket(ctx)
    # time travel: the ticket's targets passed a day ago
    past = utcnow() - timedelta(days=1)
    with ctx.uow() as uow:
        uow.session.execute(
            update(Ticket)
            .where(Ticket.id == r.ticket_id)
            .values(first_response_due_at=past, resolution_due_at=past, sla_due_at=past)
        )
    t = _t(ctx, r.ticket_id)
    assert sla.sla_public(t, utcnow())["breached"] is True
    add_agent_message(ctx, wang, r.ticket_id, "sorry for the wait")
    t = _t(ctx, r.ticket_id)
    pub = sla.sla_public(t, utcnow())
    assert t.resolution_left_seconds is not None and t.resolution_left_seconds < 0
    assert pub["first_response"]["state"] == "breached"  # met late
    assert pub["resolution"]["state"] == "breached" and pub["breached"] is True


def test_complaint_deadline_and_holding_reply(ctx) -> None:
    _, wang = agent(ctx, role="supervisor")
    cfg, policy, cal = _cfg(ctx)
    r = ticket(ctx, body="I want to complain formally", category="complaint")
    t = _t(ctx, r.ticket_id)
    assert t.final_answer_due_at == rules.add_business_days(cal, t.created_at, 15)

    sla.send_holding_reply(ctx, wang, r.ticket_id, "We need more time to investigate.")
    t = _t(ctx, r.ticket_id)
    assert t.final_answer_due_at == rules.add_business_days(cal, t.created_at, 35)
    assert t.holding_reply_at is not None
    ev = _events(ctx, "ticket.complaint_extended")
    assert len(ev) == 1 and ev[0].object_id == r.ticket_id
    with pytest.raises(Conflict):
        sla.send_holding_reply(ctx, wang, r.ticket_id, "again")

    update_ticket(ctx, wang, r.ticket_id, {"status": "solved"})
    t = _t(ctx, r.ticket_id)
    assert t.final_answer_at is not None
    assert sla.sla_public(t, utcnow())["complaint"]["state"] == "met"

    plain = ticket(ctx, body="how do I top up", category="account")
    assert _t(ctx, plain.ticket_id).final_answer_due_at is None
    with pytest.raises(InvalidInput):
        sla.send_holding_reply(ctx, wang, plain.ticket_id, "hold on")
    # recategorised as a complaint: the clock starts from the ticket's creation
    update_ticket(ctx, wang, plain.ticket_id, {"category": "complaint"})
    t = _t(ctx, plain.ticket_id)
    assert t.final_answer_due_at == rules.add_business_days(cal, t.created_at, 15)


def test_holding_reply_after_the_deadline_is_refused(ctx) -> None:
    _, wang = agent(ctx, role="supervisor")
    r = ticket(ctx, body="complaint", category="complaint")
    with ctx.uow() as uow:
        uow.session.execute(
            update(Ticket)
            .where(Ticket.id == r.ticket_id)
            .values(final_answer_due_at=utcnow() - timedelta(hours=1))
        )
    with pytest.raises(Conflict):
        sla.send_holding_reply(ctx, wang, r.ticket_id, "late")
    assert _events(ctx, "ticket.complaint_extended") == []


def test_escalation_levels_are_audited_and_access_checked(ctx) -> None:
    _, sup = agent(ctx, role="supervisor")
    _, outsider = agent(ctx, "out@topay.example", role="agent", queues=[], name="Out")
    _, auditor = agent(ctx, "aud@topay.example", role="auditor", name="Aud")
    r = ticket(ctx)
    with pytest.raises(InvalidInput):
        sla.set_escalation(ctx, sup, r.ticket_id, 1, "")  # a reason is required
    with pytest.raises(InvalidInput):
        sla.set_escalation(ctx, sup, r.ticket_id, "9", "x")
    sla.set_escalation(ctx, sup, r.ticket_id, "2", "customer threatens regulator")
    assert _t(ctx, r.ticket_id).escalation_level == 2
    ev = _events(ctx, "ticket.escalated")
    assert ev[0].details["level"] == [0, 2]
    with pytest.raises(NotFound):
        sla.set_escalation(ctx, outsider, r.ticket_id, 3, "x")
    with pytest.raises(PermissionDenied):
        sla.set_escalation(ctx, auditor, r.ticket_id, 3, "x")
    sla.set_escalation(ctx, sup, r.ticket_id, 0, "")
    assert _events(ctx, "ticket.deescalated")


def test_admin_changes_apply_to_new_tickets_and_are_audited(ctx) -> None:
    _, admin = agent(ctx, "root@topay.example", role="admin", name="Root")
    _, sup = agent(ctx, "sup@topay.example", role="supervisor", name="Sup")
    cals = sla_admin.list_calendars(ctx, admin)
    ticket(ctx)  # warms the cache
    urgent_247 = sla_admin.PolicyInput(
        name="Complaints 24/7",
        position="10",
        business_hours=False,
        category="complaint",
        calendar_id=str(cals[0]["id"]),
        targets={"normal.first_response": "15", "normal.resolution": "120"},
    )
    pid = sla_admin.save_policy(ctx, admin, None, urgent_247)
    with pytest.raises(PermissionDenied):
        sla_admin.save_policy(ctx, sup, pid, urgent_247)
    r = ticket(ctx, body="complaint!", category="complaint")
    t = _t(ctx, r.ticket_id)
    assert t.sla_policy_id == pid
    assert t.first_response_due_at == t.created_at + timedelta(minutes=15)
    assert _events(ctx, "sla.policy_created")
    # unchanged save writes nothing
    sla_admin.save_policy(ctx, admin, pid, urgent_247)
    assert not _events(ctx, "sla.policy_updated")
    for bad in (
        {"targets": {}},
        {"targets": {"normal.first_response": "0"}},
        {"targets": {"normal.first_response": "abc"}},
        {"queue_id": "99999"},
        {"category": "nope"},
        {"position": "x"},
    ):
        data = sla_admin.PolicyInput(**{**urgent_247.__dict__, **bad})
        with pytest.raises(InvalidInput):
            sla_admin.save_policy(ctx, admin, pid, data)


def test_calendar_edit_validation(ctx) -> None:
    _, admin = agent(ctx, "root@topay.example", role="admin", name="Root")
    cal = sla_admin.list_calendars(ctx, admin)[0]
    good = sla_admin.CalendarInput(
        name="Shanghai",
        timezone="Asia/Shanghai",
        hours={"mon": "09:00-12:00, 13:00-18:00", "sat": "22:00-06:00"},
        holidays="2026-10-01 2026-10-02,2026-10-01",
        extra_days="2026-09-27",
        complaint_days="15",
        complaint_extended_days="35",
    )
    sla_admin.save_calendar(ctx, admin, cal["id"], good)
    saved = sla_admin.calendar_detail(ctx, admin, cal["id"])
    assert saved["hours"]["mon"] == "09:00-12:00, 13:00-18:00"
    assert saved["hours"]["sat"] == "22:00-06:00" and saved["hours"]["tue"] == ""
    assert saved["holidays"] == ["2026-10-01", "2026-10-02"]
    ev = _events(ctx, "sla.calendar_updated")
    assert len(ev) == 1 and "hours" in ev[0].details["changes"]
    assert sla.config(ctx, 1).calendars[cal["id"]][0].holidays  # cache dropped and reloaded
    for field, bad in (
        ("timezone", {"timezone": "Mars/Base"}),
        ("hours_mon", {"hours": {"mon": "9-18"}}),
        ("hours_mon", {"hours": {"mon": "25:00-26:00"}}),
        ("hours_mon", {"hours": {}, "extra_days": ""}),
        ("holidays", {"holidays": "2026-02-30"}),
        ("complaint_extended_days", {"complaint_extended_days": "10"}),
        ("complaint_days", {"complaint_days": "-1"}),
    ):
        data = sla_admin.CalendarInput(**{**good.__dict__, **bad})
        with pytest.raises(InvalidInput) as exc:
            sla_admin.save_calendar(ctx, admin, cal["id"], data)
        assert exc.value.field == field, bad
    with pytest.raises(NotFound):
        sla_admin.calendar_detail(ctx, admin, 424242)


def test_breach_watch_publishes_sla_breached(ctx) -> None:
    import asyncio

    r = ticket(ctx)
    other = ticket(ctx)
    now = utcnow()
    due = now - timedelta(seconds=10)
    with ctx.uow() as uow:  # time travel: the first ticket's target passed 10 s ago
        uow.session.execute(update(Ticket).where(Ticket.id == r.ticket_id).values(sla_due_at=due))

    async def watch() -> list[dict]:
        sub = ctx.bus.subscribe("inbox:1")
        try:
            n = await asyncio.to_thread(sla.publish_breaches, ctx, now - timedelta(seconds=30), now)
            assert n == 1
            return [await sub.get(timeout=5)]
        finally:
            sub.close()

    events = asyncio.run(watch())
    assert events[0]["type"] == "SlaBreached" and events[0]["ticket_id"] == r.ticket_id
    # outside the window (already reported) or not yet due: nothing
    assert sla.publish_breaches(ctx, now, now + timedelta(seconds=30)) == 0
    assert other.ticket_id != r.ticket_id
