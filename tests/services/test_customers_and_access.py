"""Customers (identities, merge) and who may see which ticket (access_*)."""

from __future__ import annotations

import pytest

from paydesk.domain.errors import NotFound, PermissionDenied
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.customers import merge_customers
from paydesk.services.queries import TicketFilter, list_tickets, ticket_detail
from paydesk.services.tickets import add_agent_message, update_ticket
from tests.factories import ALICE, BOB, LI, agent, customer_actor, ticket


def test_identities_link_channels_to_one_customer(ctx):
    a = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB,
            body="hi",
            email="pat@example.com",
            phone="+8613800138000",
            name="Pat",
        ),
    )
    b = intake.receive(
        ctx, InboundMessage(channel=Channel.PHONE, body="call notes", phone="138 0013 8000")
    )
    c = intake.receive(
        ctx, InboundMessage(channel=Channel.EMAIL, body="mail", email="PAT@example.com")
    )
    assert a.customer_id == b.customer_id == c.customer_id


def test_batch_of_concurrent_intakes_shares_new_customer(ctx):
    import concurrent.futures as cf

    def one(i: int):
        return intake.receive(
            ctx,
            InboundMessage(
                channel=Channel.API,
                body=f"m{i}",
                email="same@example.com",
                idempotency_key=f"k{i % 10}",
            ),
        )

    with cf.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(40)))
    assert len({r.customer_id for r in results}) == 1
    by_key: dict[int, set[int]] = {}
    for i, r in enumerate(results):
        by_key.setdefault(i % 10, set()).add(r.ticket_id)
    assert all(len(v) == 1 for v in by_key.values())  # idempotency held under concurrency
    assert len({r.ticket_id for r in results}) == 10
    assert len({r.ticket_number for r in results}) == 10


def test_append_to_ticket_and_follow_up_of_closed(ctx):
    first = ticket(ctx, ALICE)
    again = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB, body="any news?", email=ALICE.email, ticket_id=first.ticket_id
        ),
    )
    assert again.action == "appended" and again.ticket_id == first.ticket_id
    sup = agent(ctx, "sup@topay.example", role="supervisor")[1]
    update_ticket(ctx, sup, first.ticket_id, {"status": "closed"})
    follow = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB, body="still broken", email=ALICE.email, ticket_id=first.ticket_id
        ),
    )
    assert follow.action == "created" and follow.ticket_id != first.ticket_id
    detail = ticket_detail(ctx, sup, follow.ticket_id)
    assert detail["fields"]["follow_up_of"] == first.ticket_number


def test_merge_customers_moves_everything(ctx):
    a = ticket(ctx, ALICE)
    b = ticket(ctx, BOB)
    sup = agent(ctx, "sup@topay.example", role="supervisor")[1]
    merge_customers(ctx, sup, b.customer_id, a.customer_id)
    again = intake.receive(ctx, InboundMessage(channel=Channel.EMAIL, body="x", email=BOB.email))
    assert again.customer_id == a.customer_id
    with ctx.read() as s:
        rows, _ = list_tickets(ctx, s, sup, TicketFilter(customer_id=a.customer_id))
    assert {r.id for r in rows} >= {a.ticket_id, b.ticket_id}
    plain = agent(ctx, "plain@topay.example")[1]
    with pytest.raises(PermissionDenied):
        merge_customers(ctx, plain, a.customer_id, b.customer_id)


def test_customers_see_only_their_own_tickets(ctx):
    a = ticket(ctx, ALICE)
    b = ticket(ctx, BOB)
    alice = customer_actor(ctx, a.customer_id)
    with ctx.read() as s:
        assert access_ticket(s, alice, a.ticket_id).id == a.ticket_id
        with pytest.raises(NotFound):
            access_ticket(s, alice, b.ticket_id)
        rows, _ = list_tickets(ctx, s, alice, TicketFilter())
    assert [r.id for r in rows] == [a.ticket_id]


def test_internal_notes_hidden_from_customers(ctx):
    a = ticket(ctx, ALICE)
    sup = agent(ctx, "sup@topay.example", role="supervisor")[1]
    add_agent_message(ctx, sup, a.ticket_id, "VIP, be nice", internal=True)
    add_agent_message(ctx, sup, a.ticket_id, "We are on it")
    seen = ticket_detail(ctx, customer_actor(ctx, a.customer_id), a.ticket_id)
    assert [m["body"] for m in seen["messages"]][1:] == ["We are on it"]


def test_queue_scoped_visibility(ctx):
    zh = ticket(ctx, LI, body="我的退款怎么还没到账", subject="退款")  # transactions-zh
    en = ticket(ctx, BOB, body="my transfer is pending", subject="transfer")  # transactions-en
    _, zh_agent = agent(ctx, "zh@topay.example", queues=["transactions-zh"])
    with ctx.read() as s:
        assert access_ticket(s, zh_agent, zh.ticket_id)
        with pytest.raises(NotFound):
            access_ticket(s, zh_agent, en.ticket_id)
        rows, _ = list_tickets(ctx, s, zh_agent, TicketFilter())
    assert [r.id for r in rows] == [zh.ticket_id]
    with pytest.raises(NotFound):
        add_agent_message(ctx, zh_agent, en.ticket_id, "hi")
    # assignment makes a ticket visible outside one's queues
    sup = agent(ctx, "sup@topay.example", role="supervisor")[1]
    update_ticket(ctx, sup, en.ticket_id, {"assignee_id": zh_agent.id})
    with ctx.read() as s:
        assert access_ticket(s, zh_agent, en.ticket_id)


def test_auditor_reads_but_cannot_write(ctx):
    a = ticket(ctx, ALICE)
    _, auditor = agent(ctx, "audit@topay.example", role="auditor")
    assert ticket_detail(ctx, auditor, a.ticket_id)["id"] == a.ticket_id
    with pytest.raises(PermissionDenied):
        add_agent_message(ctx, auditor, a.ticket_id, "hello")


def test_views_are_audited(ctx):
    from sqlalchemy import select

    from paydesk.store.audit import AuditEvent

    a = ticket(ctx, ALICE)
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    ticket_detail(ctx, sup, a.ticket_id)
    with ctx.read() as s:
        actions = [(e.action, e.actor_id, e.customer_id) for e in s.scalars(select(AuditEvent))]
    assert ("ticket.viewed", sup.id, a.customer_id) in actions
    assert any(x[0] == "ticket.created" for x in actions)


def test_workspace_isolation_of_tickets(ctx):
    a = ticket(ctx, ALICE)
    stranger = Actor(kind="token", id=99, workspace_id=2, role="admin")
    with ctx.read() as s, pytest.raises(NotFound):
        access_ticket(s, stranger, a.ticket_id)


def test_two_processes_creating_the_same_new_customer(ctx, settings):
    """Two app processes (two contexts, two connection pools) race to create one customer."""
    import concurrent.futures as cf

    from paydesk.services.context import build_context

    other = build_context(settings)
    try:

        def one(i: int):
            c = ctx if i % 2 else other
            return intake.receive(
                c,
                InboundMessage(channel=Channel.API, body=f"m{i}", email=f"race{i % 3}@example.com"),
            )

        with cf.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(one, range(48)))
    finally:
        other.engine.dispose()
    assert len({r.customer_id for r in results}) == 3
    assert len({r.ticket_id for r in results}) == 48
