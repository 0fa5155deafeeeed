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


def test_a_batch_maps_every_new_row_to_its_own_item(ctx) -> None:  # type: ignore[no-untyped-def]
    """Ids of a batch's multi-row INSERTs (customers, tickets, conversations, messages) go back
    to the right items: on SQLite they are read from one RETURNING per statement, not row by
    row."""
    from paydesk.store.customers import CustomerIdentity
    from paydesk.store.tickets import Conversation

    items = [
        msg(f"m{i}@example.com", f"Body number {i}", subject=f"Subject {i}") for i in range(40)
    ]
    out = intake.receive_many(ctx, items)
    with ctx.read() as s:
        for i, r in enumerate(out):
            assert isinstance(r, intake.IntakeResult) and r.action == "created"
            t = s.get(Ticket, r.ticket_id)
            m = s.get(Message, r.message_id)
            assert t is not None and m is not None
            assert (t.subject, m.body, m.ticket_id) == (f"Subject {i}", f"Body number {i}", t.id)
            assert t.customer_id == r.customer_id == m.author_customer_id
            conv = s.get(Conversation, m.conversation_id)
            assert conv is not None and conv.ticket_id == t.id
            owner = s.scalar(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.value == f"m{i}@example.com"
                )
            )
            assert owner == t.customer_id


def test_concurrent_callers_each_get_their_own_answer_and_a_bad_item_fails_alone(ctx) -> None:  # type: ignore[no-untyped-def]
    """Many threads through the group committer at once (turns handed from leader to leader):
    every caller returns, with its own ticket; an item the database refuses fails by itself."""
    import concurrent.futures as cf

    bad = {5, 17}

    def one(i: int) -> intake.IntakeResult | Exception:
        m = msg(f"t{i}@example.com", f"Thread body {i}", subject=f"Thread {i}")
        if i in bad:
            m.fields["oops"] = object()  # type: ignore[assignment]  # not JSON: the INSERT fails
        try:
            return intake.receive(ctx, m)
        except Exception as exc:  # noqa: BLE001 - the answer under test
            return exc

    with cf.ThreadPoolExecutor(16) as pool:
        out = list(pool.map(one, range(40), timeout=120))
    assert all(isinstance(out[i], Exception) for i in bad)
    good = {i: r for i, r in enumerate(out) if i not in bad}
    assert all(isinstance(r, intake.IntakeResult) and r.action == "created" for r in good.values())
    assert len({r.ticket_id for r in good.values()}) == 38  # type: ignore[union-attr]
    with ctx.read() as s:
        for i, r in good.items():
            t = s.get(Ticket, r.ticket_id)  # type: ignore[union-attr]
            assert t is not None and t.subject == f"Thread {i}"
        assert s.scalar(select(func.count()).select_from(Ticket)) == 38


def test_items_queued_while_another_process_writes_join_the_waiting_batch(ctx) -> None:  # type: ignore[no-untyped-def]
    """SQLite: while another process holds the writer's lock, the leader takes in the items
    queued meanwhile, so they are written in its one transaction (one `now` for all of them)
    rather than each in a transaction of its own after the lock comes free."""
    import concurrent.futures as cf
    import fcntl
    import os
    import threading
    import time

    if ctx.dialect != "sqlite":
        return  # PostgreSQL has no writer's lock: nothing to wait for
    path = os.path.abspath(ctx.engine.url.database) + ".writelock"
    other = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # its own open file: another process
    fcntl.flock(other, fcntl.LOCK_EX)
    committer = intake._committer(ctx)
    released = threading.Event()

    def release_when_all_queued() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with committer._lock:
                waiting = len(committer._queue)
            if waiting == 5 and committer._leading:  # a leader has the first, five wait
                break
            time.sleep(0.01)
        time.sleep(0.1)
        fcntl.flock(other, fcntl.LOCK_UN)
        released.set()

    def one(i: int) -> intake.IntakeResult:
        time.sleep(0.05 * i)  # they arrive one after the other, while the lock is held
        return intake.receive(ctx, msg(f"g{i}@example.com", f"Gather {i}", subject=f"G {i}"))

    threading.Thread(target=release_when_all_queued, daemon=True).start()
    with cf.ThreadPoolExecutor(6) as pool:
        out = list(pool.map(one, range(6), timeout=60))
    assert released.is_set()
    os.close(other)
    with ctx.read() as s:
        stamps = {s.get(Ticket, r.ticket_id).created_at for r in out}  # type: ignore[union-attr]
    assert len(stamps) == 1, "all six written by one transaction"


def test_items_awaited_on_an_event_loop_share_batches_with_threads(ctx) -> None:  # type: ignore[no-untyped-def]
    """`receive_async`: coroutines queue their items and await them; the committer's writer
    thread writes them (the loop never does), together with items of waiting threads in the
    same transaction; every caller gets its own answer and a bad item fails alone."""
    import asyncio
    import threading

    committer = intake._committer(ctx)
    loop_thread = threading.get_ident()
    writers: set[str] = set()
    real_run = committer._run

    def spy(batch, *a, **kw):  # type: ignore[no-untyped-def]
        writers.add(threading.current_thread().name)
        assert threading.get_ident() != loop_thread, "the event loop wrote a batch"
        return real_run(batch, *a, **kw)

    committer._run = spy  # type: ignore[method-assign]
    thread_out: list[intake.IntakeResult] = []

    def a_thread() -> None:
        thread_out.append(intake.receive(ctx, msg("th@example.com", "From a thread", subject="T")))

    async def main() -> list[intake.IntakeResult | BaseException]:
        async def one(i: int) -> intake.IntakeResult:
            m = msg(f"l{i}@example.com", f"Loop body {i}", subject=f"Loop {i}")
            if i == 3:
                m.fields["oops"] = object()  # type: ignore[assignment]  # not JSON: refused
            return await intake.receive_async(ctx, m)

        with committer._turn:  # everyone queues first: one batch of the loop's and a thread's
            calls = [asyncio.ensure_future(one(i)) for i in range(8)]
            t = threading.Thread(target=a_thread)
            t.start()
            for _ in range(3000):
                await asyncio.sleep(0.01)
                if len(committer._queue) >= 8:
                    break
            queued = len(committer._queue)
        out = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)
        await asyncio.to_thread(t.join, 60)
        assert queued >= 8
        return out

    try:
        out = asyncio.run(main())
    finally:
        del committer._run
    assert isinstance(out[3], Exception)
    good = [r for i, r in enumerate(out) if i != 3]
    assert all(isinstance(r, intake.IntakeResult) and r.action == "created" for r in good)
    assert len(thread_out) == 1 and thread_out[0].action == "created"
    assert writers and all(w.startswith(("intake-writer", "Thread")) for w in writers)
    with ctx.read() as s:
        for i, r in enumerate(out):
            if i != 3:
                t = s.get(Ticket, r.ticket_id)  # type: ignore[union-attr]
                assert t is not None and t.subject == f"Loop {i}"
        assert s.scalar(select(func.count()).select_from(Ticket)) == 8  # 7 + the thread's


def test_a_cancelled_await_still_writes_and_the_next_items_go_through(ctx) -> None:  # type: ignore[no-untyped-def]
    """A client that goes away cancels its coroutine: its item is still written (it was queued),
    and the committer keeps serving later items."""
    import asyncio

    committer = intake._committer(ctx)

    async def main() -> intake.IntakeResult:
        with committer._turn:
            first = asyncio.ensure_future(
                intake.receive_async(ctx, msg("x@example.com", "Gone", subject="Gone"))
            )
            await asyncio.sleep(0.05)
            first.cancel()
        with __import__("contextlib").suppress(asyncio.CancelledError):
            await first
        return await asyncio.wait_for(
            intake.receive_async(ctx, msg("y@example.com", "Next", subject="Next")), 60
        )

    nxt = asyncio.run(main())
    assert nxt.action == "created"
    with ctx.read() as s:
        subjects = set(s.scalars(select(Ticket.subject)))
    assert subjects == {"Gone", "Next"}


def test_a_batch_with_a_complaint_keeps_the_multi_row_insert(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Complaints carry a final-answer deadline; every ticket row of a batch has that column, so
    a batch mixing complaints and other tickets is still one multi-row INSERT on SQLite (rows
    with different keys fall back to SQLAlchemy's slower insert)."""
    from paydesk.store import bulk

    fallbacks: list[str] = []
    real_plan = bulk._sqlite_plan

    def spy(conn, table, rows, with_id):  # type: ignore[no-untyped-def]
        plan = real_plan(conn, table, rows, with_id)
        if plan is None:
            fallbacks.append(table.name)
        return plan

    monkeypatch.setattr(bulk, "_sqlite_plan", spy)
    out = intake.receive_many(
        ctx,
        [
            msg("p@example.com", "My top-up failed twice", subject="Top-up"),
            msg("q@example.com", "我要投诉，你们的服务太差了", subject="投诉"),
            msg("r@example.com", "Card declined at the shop", subject="Card"),
        ],
    )
    assert all(isinstance(r, intake.IntakeResult) for r in out)
    if ctx.dialect == "sqlite":
        assert "tickets" not in fallbacks
    with ctx.read() as s:
        got = {t.subject: t for t in s.scalars(select(Ticket))}
    assert got["投诉"].category == "complaint" and got["投诉"].final_answer_due_at is not None
    assert got["Top-up"].final_answer_due_at is None and got["Card"].final_answer_due_at is None


def test_one_key_from_two_processes_at_once_is_one_ticket(ctx) -> None:  # type: ignore[no-untyped-def]
    """Two processes (two contexts, two committers, one database) receive the same item with
    the same idempotency key on their event loops at the same moment: one ticket is created and
    the other caller gets it as a duplicate. (PostgreSQL: the second batch hits the unique key
    and the loop caller's retry finds the first; SQLite: the write turn orders them.)"""
    import asyncio

    from paydesk.services.context import build_context

    other = build_context(ctx.settings, engine=ctx.engine)
    one, two = intake._committer(ctx), intake._committer(other)

    async def main() -> list[intake.IntakeResult]:
        with one._turn, two._turn:  # both queue first, then both batches start together
            calls = [
                asyncio.ensure_future(
                    intake.receive_async(c, msg("k@example.com", "Same mail", key="same-key"))
                )
                for c in (ctx, other)
            ]
            for _ in range(3000):
                await asyncio.sleep(0.01)
                if len(one._queue) + len(two._queue) == 2:
                    break
        return list(await asyncio.wait_for(asyncio.gather(*calls), 60))

    a, b = asyncio.run(main())
    assert sorted([a.action, b.action]) == ["created", "duplicate"]
    assert a.ticket_id == b.ticket_id and a.message_id == b.message_id
    with ctx.read() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        assert s.scalar(select(func.count()).select_from(Message)) == 1
