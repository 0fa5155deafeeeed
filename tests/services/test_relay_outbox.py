"""Embedded mode's cross-process bus (realtime/relay.py) with intake's events: another process
(here: another context on the same database) sees each committed ticket, a rolled-back one
never; on SQLite the event rows are written by the intake transaction itself."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from paydesk.domain.errors import DomainError
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.realtime.relay import RelayBus
from paydesk.services import intake
from paydesk.services.context import AppContext, build_context
from paydesk.store.bus import BusEvent


def _msg(n: int) -> InboundMessage:
    return InboundMessage(
        channel=Channel.API, email=f"relay{n}@example.com", subject=f"Relay {n}", body="hello"
    )


def _rows(ctx: AppContext) -> int:
    with ctx.read() as s:
        return int(s.scalar(select(func.count()).select_from(BusEvent)) or 0)


def test_other_process_sees_committed_intake_events(ctx: AppContext) -> None:
    other = build_context(ctx.settings)
    assert isinstance(ctx.bus, RelayBus) and isinstance(other.bus, RelayBus)

    async def scenario() -> list[dict]:  # type: ignore[type-arg]
        await other.bus.start()
        sub = other.bus.subscribe("inbox:1")
        mine = ctx.bus.subscribe("inbox:1")
        try:
            before = _rows(ctx)
            created = await asyncio.to_thread(intake.receive_many, ctx, [_msg(1), _msg(2), _msg(3)])
            if ctx.dialect == "sqlite":  # in the intake transaction, no writer-thread flush
                assert _rows(ctx) == before + 6  # TicketOpened and MessageAdded each
            got = [await sub.get(timeout=5) for _ in range(3)]
            local = [await mine.get(timeout=1) for _ in range(3)]  # this process: at once
            assert [e["ticket_id"] for e in local] == [r.ticket_id for r in created]  # type: ignore[union-attr]
            return got
        finally:
            sub.close()
            mine.close()
            await other.bus.stop()

    got = asyncio.run(scenario())
    assert [e["type"] for e in got] == ["TicketOpened"] * 3
    assert sorted(e["subject"] for e in got) == ["Relay 1", "Relay 2", "Relay 3"]
    other.engine.dispose()


def test_rolled_back_intake_publishes_nothing(ctx: AppContext) -> None:
    before = _rows(ctx)

    def refuse(*_args: object) -> None:
        raise DomainError("refused by a hook")

    ctx.after_intake.append(refuse)
    sub_events: list[dict] = []  # type: ignore[type-arg]

    async def scenario() -> None:
        sub = ctx.bus.subscribe("inbox:1", on_event=sub_events.append)
        try:
            with pytest.raises(DomainError):
                await asyncio.to_thread(intake.receive, ctx, _msg(9))
            await asyncio.sleep(0.3)
        finally:
            sub.close()

    asyncio.run(scenario())
    ctx.bus.flush()  # type: ignore[attr-defined]
    assert sub_events == []
    assert _rows(ctx) == before


def test_old_rows_are_pruned_a_bounded_number_per_transaction(ctx: AppContext, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import insert

    from paydesk.realtime import relay
    from paydesk.store.base import utcnow

    assert isinstance(ctx.bus, RelayBus)
    monkeypatch.setattr(relay, "PRUNE_ROWS", 4)
    old, new = utcnow() - relay.KEEP - timedelta(seconds=5), utcnow()
    rows = [
        {"origin": "x", "topic": "t", "payload": {"n": i}, "created_at": old if i < 10 else new}
        for i in range(13)
    ]
    with ctx.engine.begin() as conn:
        conn.execute(insert(BusEvent.__table__), rows)
    before = _rows(ctx)
    begun: list[int] = []
    event_name = "begin"
    from sqlalchemy import event

    def count(_conn) -> None:  # type: ignore[no-untyped-def]
        begun.append(1)

    event.listen(ctx.engine, event_name, count)
    assert ctx.bus._prune() == 10
    event.remove(ctx.engine, event_name, count)
    assert len(begun) == 3  # 4 + 4 + 2 rows
    assert _rows(ctx) == before - 10
    with ctx.read() as s:
        kept = s.scalars(select(BusEvent.payload).where(BusEvent.origin == "x")).all()
    assert sorted(p["n"] for p in kept) == [10, 11, 12]
