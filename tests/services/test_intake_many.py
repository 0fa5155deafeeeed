"""`intake.receive_many`: independent items prepared in the caller's thread and written together;
one bad item gets its own error, the others are committed; a repeated key is a duplicate."""

from __future__ import annotations

from sqlalchemy import func, select

from paydesk.domain.errors import InvalidInput
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.store.tickets import Message, Ticket


def msg(who: str, body: str, key: str | None = None, subject: str = "Top-up") -> InboundMessage:
    return InboundMessage(
        channel=Channel.WEB, subject=subject, body=body, email=who, idempotency_key=key
    )


def test_receive_many_writes_independent_items_and_reports_each(ctx) -> None:  # type: ignore[no-untyped-def]
    items = [
        msg("a@example.com", "My top-up failed", key="k-a"),
        msg("b@example.com", "   ", subject=""),  # empty: refused, alone
        msg("c@example.com", "Card declined twice", key="k-c"),
        msg("a@example.com", "My top-up failed", key="k-a"),  # the same item again
    ]
    out = intake.receive_many(ctx, items)
    assert len(out) == 4
    a, empty, c, again = out
    assert isinstance(empty, InvalidInput)
    assert isinstance(a, intake.IntakeResult) and a.action == "created"
    assert isinstance(c, intake.IntakeResult) and c.action == "created"
    assert isinstance(again, intake.IntakeResult) and again.action == "duplicate"
    assert again.ticket_id == a.ticket_id and again.message_id == a.message_id
    with ctx.read() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 2
        assert s.scalar(select(func.count()).select_from(Message)) == 2
    # committed before the answer: a later single receive of the same key is a duplicate
    later = intake.receive(ctx, msg("c@example.com", "Card declined twice", key="k-c"))
    assert later.action == "duplicate" and later.ticket_id == c.ticket_id
