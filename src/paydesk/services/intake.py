"""The intake pipeline every channel uses.

    persist (the caller's raw store, e.g. the email source) → redact secrets → thread to an
    existing ticket or open one → classify category → route to a queue → (SLA clocks) →
    publish events after commit.

`receive()` does the CPU work (validation, redaction, classification, tokenising) in the calling
thread, then hands the prepared item to the process's group committer: whichever caller holds
the writer turn writes every item waiting at that moment in ONE transaction with multi-row
statements, commits, and only then answers each caller (durability: committed before
acknowledged). A batch that fails is retried item by item, so one bad item never blocks others.

Idempotent: an inbound item with an idempotency key that was already committed returns the
original ticket and message ("duplicate") and writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import nh3
from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from paydesk.domain import tickets as rules
from paydesk.domain.attachments import check_attachment
from paydesk.domain.errors import InvalidInput, TooLarge
from paydesk.domain.events import MessageAdded, TicketOpened
from paydesk.domain.identities import IdentityKind
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.redaction import Redacted
from paydesk.domain.text import detect_locale, search_text
from paydesk.domain.tickets import AuthorType, Category, Priority, Status
from paydesk.services import audit, routing, sla
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.customers import identities_of
from paydesk.services.files import store_bytes
from paydesk.services.uow import UnitOfWork
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from paydesk.store.bulk import insert_rows, insert_rows_ids
from paydesk.store.customers import Customer, CustomerIdentity
from paydesk.store.db import SqliteWriteLock, write_lock_for
from paydesk.store.tickets import Attachment, Conversation, Message, Ticket
from paydesk.store.workspace import Queue

log = logging.getLogger(__name__)
SEARCH_TEXT_LIMIT = 20000
MAX_BATCH = 64
# A leader whose process waits for the other's write turn polls for it (spin, then block): each
# poll that finds newly queued items classifies them outside the lock, where a blocking wait left
# them to be classified inside it (the lock held ~1.6 ms longer a transaction under load).
LOCK_POLL_SECONDS = 0.0003
LOCK_POLLS = 30  # then block: about 10 ms of polling at most

_T = Ticket.__table__
_M = Message.__table__
_A = Attachment.__table__
_C = Conversation.__table__
_CU = Customer.__table__
_CI = CustomerIdentity.__table__
_AU = AuditEvent.__table__


@dataclass(frozen=True, slots=True)
class IntakeResult:
    action: str  # "created" | "appended" | "duplicate"
    ticket_id: int
    ticket_number: int
    message_id: int
    had_secret: bool = False
    status: str = ""
    category: str = ""
    priority: str = ""
    queue_id: int | None = None
    customer_id: int = 0


@dataclass(slots=True)
class _Prepared:
    """An inbound item after the CPU work, ready to be written."""

    actor: Actor
    msg: InboundMessage
    idents: list[tuple[IdentityKind, str]]
    key: str | None
    subject: Redacted
    body: Redacted
    html: str | None
    files: list[tuple[str, str, int, str, str]]
    locale: str
    category: Category | None  # None: decided inside the batch (a follow-up of a closed ticket)
    findings: list[dict[str, Any]] = field(default_factory=list)
    # segmented search text, computed before the write lock: of subject + body for a new ticket,
    # of the body for a follow-up (msg.ticket_id set)
    search: str = ""


def new_ticket_subject(subject: str, body: str) -> str:
    return (subject.strip() or body.strip().split("\n", 1)[0])[:200]


def next_ticket_number(session: Session) -> int:
    return _ticket_numbers(session.connection(), 1)[0]


def _ticket_numbers(conn: Connection, count: int) -> list[int]:
    """`count` fresh ticket numbers (a sequence on PostgreSQL, a counter row on SQLite)."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval('ticket_number_seq') FROM generate_series(1, :n)"), {"n": count}
        )
        return sorted(int(r[0]) for r in rows)
    top = conn.execute(
        text("UPDATE counters SET value = value + :n WHERE name = 'ticket_number' RETURNING value"),
        {"n": count},
    ).scalar_one()
    return list(range(int(top) - count + 1, int(top) + 1))


def queue_id_for(ctx: AppContext, session: Session, workspace_id: int, slug: str) -> int | None:
    return _queue_id(ctx, session.connection(), workspace_id, slug)


def _queue_id(ctx: AppContext, conn: Connection, workspace_id: int, slug: str) -> int | None:
    cache: dict[tuple[int, str], int | None] = ctx.extras.setdefault("queue_ids", {})
    key = (workspace_id, slug)
    if cache.get(key) is None:
        cache[key] = conn.execute(
            select(Queue.id).where(Queue.workspace_id == workspace_id, Queue.slug == slug)
        ).scalar()
    return cache[key]


def redact_inbound(ctx: AppContext, msg: InboundMessage) -> tuple[Redacted, Redacted, str | None]:
    """(subject, body, sanitised+redacted html). Nothing unredacted leaves this function."""
    subject = ctx.redactor.redact(msg.subject or "")
    body = ctx.redactor.redact(msg.body or "")
    html = None
    if msg.body_html:
        html = ctx.redactor.redact(nh3.clean(msg.body_html)).text
    for k, v in list(msg.fields.items()):
        if isinstance(v, str):
            msg.fields[k] = ctx.redactor.redact(v).text
    return subject, body, html


def validate_inbound(ctx: AppContext, msg: InboundMessage) -> None:
    if len(msg.body.encode("utf-8", "surrogatepass")) > ctx.settings.max_body_bytes:
        raise TooLarge(
            f"message body is larger than {ctx.settings.max_body_bytes} bytes", field="body"
        )
    if not msg.body.strip() and not msg.attachments and not msg.subject.strip():
        raise InvalidInput("the message is empty", field="body")
    if msg.category is not None and msg.category not in Category.__members__.values():
        raise InvalidInput(f"unknown category {msg.category!r}", field="category")
    if msg.priority is not None and msg.priority not in Priority.__members__.values():
        raise InvalidInput(f"unknown priority {msg.priority!r}", field="priority")


def receive(ctx: AppContext, msg: InboundMessage, *, actor: Actor | None = None) -> IntakeResult:
    """Run one inbound item through the pipeline (see module docstring). Returns once the item is
    committed. Must not be called from inside an intake hook (use uow.on_commit for that)."""
    return _submit(ctx, _prepare(ctx, msg, actor or system_actor()))


# an event loop prepares items up to this size itself (`receive_async`): ~2.5 ms of the loop at
# most (jieba and the redactor take time in proportion; 8,000 characters took ~9 ms); bigger
# ones are prepared in a thread, off the loop
INLINE_PREPARE_CHARS = 2_000


async def receive_async(
    ctx: AppContext, msg: InboundMessage, *, actor: Actor | None = None
) -> IntakeResult:
    """`receive` for an event loop (the API's ticket route): the item is prepared in the loop
    and awaits its batch there, written by a thread of the group committer, so a request costs
    no thread hand-off of its own (a pool thread per request, then its wake-up, its answer
    handed back to the loop: under load that was a large part of a ticket's CPU, and the more
    threads want the GIL, the longer the writer waits for it). Only for small items without
    attachments (`INLINE_PREPARE_CHARS`): anything else goes through `receive` in a thread."""
    item = _prepare(ctx, msg, actor or system_actor())
    try:
        return await _committer(ctx).submit_async(item)
    except (IntegrityError, OperationalError) as exc:  # the rare retry path reads: in a thread
        return await asyncio.get_running_loop().run_in_executor(None, _submit, ctx, item, exc)


def receive_many(
    ctx: AppContext, msgs: list[InboundMessage], *, actor: Actor | None = None
) -> list[IntakeResult | Exception]:
    """`receive` for several items that do not depend on each other (a backlog of unrelated
    mail): each is prepared in this thread, then all are queued to the group committer at once,
    so they share transactions (up to MAX_BATCH each) instead of one batch per caller thread.
    Returns once every item is committed; an item that failed gets its exception, the others
    are written all the same. A reply and the message it answers go in separate calls."""
    actor = actor or system_actor()
    out: list[IntakeResult | Exception | None] = [None] * len(msgs)
    prepared: list[tuple[int, _Prepared]] = []
    for i, msg in enumerate(msgs):
        try:
            prepared.append((i, _prepare(ctx, msg, actor)))
        except Exception as exc:  # noqa: BLE001 - this item's answer; the others go on
            out[i] = exc
    futures = _committer(ctx).submit_many([item for _, item in prepared])
    for (i, item), fut in zip(prepared, futures, strict=True):
        exc = fut.exception()
        try:
            out[i] = fut.result() if exc is None else _submit(ctx, item, failed=exc)
        except Exception as again:  # noqa: BLE001 - as above
            out[i] = again
    results = [r for r in out if r is not None]
    assert len(results) == len(msgs)
    return results


def _prepare(ctx: AppContext, msg: InboundMessage, actor: Actor) -> _Prepared:
    """The CPU work of intake, before the write lock: validation, redaction, attachments,
    locale, search text."""
    validate_inbound(ctx, msg)
    idents = identities_of(msg.email, msg.phone, msg.platform_user_id, msg.visitor_id)
    if not idents:
        raise InvalidInput(
            "a customer needs an email, phone, platform user id or visitor id", field="customer"
        )
    key = f"{msg.channel.value}:{msg.idempotency_key}" if msg.idempotency_key else None
    # a key committed earlier is found by the group commit, in the same transaction as the write
    subject, body, html = redact_inbound(ctx, msg)
    # attachments are checked and written (content-addressed) before the transaction
    files = []
    name_findings: list[dict[str, Any]] = []
    for att in msg.attachments:
        named = ctx.redactor.redact(att.filename)  # "card_4111111111111111.jpg" is a secret too
        name_findings += [{**f.as_dict(), "in": "attachment"} for f in named.findings]
        name, ctype = check_attachment(
            named.text, att.data, att.content_type, ctx.settings.max_attachment_bytes
        )
        storage_key, digest = store_bytes(ctx.settings.data_dir, "attachments", att.data)
        files.append((name, ctype, len(att.data), digest, storage_key))
    locale = (
        msg.locale
        if msg.locale in ("zh-CN", "en")
        else detect_locale(f"{subject.text} {body.text}", ctx.settings.default_locale)
    )
    # an explicit category is taken as is; otherwise the group committer classifies the items of
    # a batch together (a model call for many texts costs little more than for one)
    category = Category(msg.category) if msg.category else None
    if msg.ticket_id is None:
        subj = new_ticket_subject(subject.text, body.text)
        search = search_text(f"{subj}\n{body.text}")[:SEARCH_TEXT_LIMIT]
    else:
        search = search_text(body.text)
    return _Prepared(
        actor,
        msg,
        idents,
        key,
        subject,
        body,
        html,
        files,
        locale,
        category,
        [f.as_dict() for f in subject.findings + body.findings] + name_findings,
        search,
    )


def _submit(ctx: AppContext, item: _Prepared, failed: BaseException | None = None) -> IntakeResult:
    """Write a prepared item through the group committer. `failed`: the error of a first attempt
    made by the caller (receive_many)."""
    key = item.key
    for attempt in range(3):
        try:
            if failed is not None:
                raise failed
            return _committer(ctx).submit(item)
        except (IntegrityError, OperationalError):
            failed = None
            # a concurrent retry of the same item committed first: answer with its result
            if key:
                dup = _find_duplicate(ctx, key)
                if dup:
                    return dup
            # another process created the same new customer (unique identity) or PostgreSQL
            # broke a deadlock: the next attempt sees the committed rows
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _category(
    ctx: AppContext, msg: InboundMessage, subject: str, body: str, locale: str
) -> Category:
    if msg.category:
        return Category(msg.category)
    return ctx.classifier(f"{subject}\n{body}", locale)


_DUPLICATE_COLUMNS = (
    _M.c.idempotency_key,
    _M.c.id,
    _M.c.ticket_id,
    _T.c.number,
    _T.c.status,
    _T.c.category,
    _T.c.priority,
    _T.c.queue_id,
    _T.c.customer_id,
)


def _duplicate(row: Any) -> IntakeResult:
    return IntakeResult(
        "duplicate",
        row.ticket_id,
        row.number,
        row.id,
        False,
        row.status,
        row.category,
        row.priority,
        row.queue_id,
        row.customer_id,
    )


_COMMITTED_KEYS = (
    select(*_DUPLICATE_COLUMNS)
    .join(_T, _T.c.id == _M.c.ticket_id)
    .where(_M.c.idempotency_key.in_(bindparam("keys", expanding=True)))
)


def _committed_keys(conn: Connection, keys: list[str]) -> dict[str, IntakeResult]:
    rows = conn.execute(_COMMITTED_KEYS, {"keys": keys})
    return {row.idempotency_key: _duplicate(row) for row in rows}


def _find_duplicate(ctx: AppContext, key: str) -> IntakeResult | None:
    with ctx.read() as s:
        return _committed_keys(s.connection(), [key]).get(key)


# --- group commit ---------------------------------------------------------------------------


class _Caller:
    """A thread waiting in `GroupCommitter.submit_many`: woken when a batch holding its items is
    written, or when the writer turn is handed to it (`lead`). Each thread keeps one (`_me`):
    an Event is a Condition and a lock, built anew per request otherwise."""

    __slots__ = ("busy", "lead", "wake")

    def __init__(self) -> None:
        self.busy = False
        self.lead = False
        self.wake = threading.Event()


_CALLERS = threading.local()


def _me() -> _Caller:
    """This thread's caller, reset: no item of a finished submission is queued any more, so a
    wake-up still set from it is cleared before anything new is queued."""
    me: _Caller | None = getattr(_CALLERS, "me", None)
    if me is None or me.busy:  # (busy: a submission from inside another, never ours)
        me = _Caller()
        if getattr(_CALLERS, "me", None) is None:
            _CALLERS.me = me
    me.lead = False
    me.wake.clear()
    return me


class _LoopCaller:
    """An item awaited on an event loop (`receive_async`): it never leads (a loop must not block
    on a write), and its wake-up resolves its future on its loop."""

    __slots__ = ("future", "lead", "loop", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.lead = False
        self.wake = self  # the leader calls `caller.wake.set()`, as for a thread's Event

    def set(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._resolve)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _resolve(self) -> None:
        if not self.future.done():  # (cancelled: the client went away; the item is written)
            self.future.set_result(None)


class _Answer:
    """The outcome of one queued item, set once by the writer: a Future without its own
    Condition (the caller waits on its `_Caller` event, and reads this once woken)."""

    __slots__ = ("_done", "_error", "_result")

    def __init__(self) -> None:
        self._done = False
        self._result: IntakeResult | None = None
        self._error: BaseException | None = None

    def set_result(self, result: IntakeResult) -> None:
        self._result = result
        self._done = True

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done = True

    def done(self) -> bool:
        return self._done

    def exception(self) -> BaseException | None:
        return self._error

    def result(self) -> IntakeResult:
        if self._error is not None:
            raise self._error
        assert self._result is not None, "result read before the item was written"
        return self._result


_Queued = tuple[_Prepared, _Answer, "_Caller | _LoopCaller"]  # an item, its answer, its caller


class GroupCommitter:
    """Leader/follower group commit: callers queue their items; one caller at a time leads and
    writes every queued item (up to MAX_BATCH per transaction), holding the writer turn. Threads
    lead themselves; items awaited on an event loop (`submit_async`) are led by the committer's
    one writer thread, started on demand.

    A leader writes until its own items are done (the writer thread: until the queue is empty),
    then hands the turn straight to the owner of the oldest waiting item; the others sleep on
    their own event until a batch holding their items is written. (Taking turns on one lock made
    every caller queue for it, the finished ones too: a chain of thread wake-ups in front of the
    next batch.)"""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._turn = threading.Lock()  # held while a batch is written (tests hold it to queue)
        self._lock = threading.Lock()  # guards _queue and _leading
        self._leading = False
        self._queue: deque[_Queued] = deque()
        # leads for items awaited on a loop; its thread starts with the first of them
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="intake-writer")

    def submit(self, item: _Prepared) -> IntakeResult:
        return self.submit_many([item])[0].result()

    def submit_many(self, items: list[_Prepared]) -> list[_Answer]:
        """Queue the items together and return once each is written (its answer done)."""
        me = _me()
        me.busy = True
        try:
            return self._submit_many(me, items)
        finally:
            me.busy = False

    def _submit_many(self, me: _Caller, items: list[_Prepared]) -> list[_Answer]:
        futures = [_Answer() for _ in items]
        with self._lock:
            self._queue.extend((item, fut, me) for item, fut in zip(items, futures, strict=True))
            if not self._leading:
                self._leading = me.lead = True
        try:
            while not me.lead:
                me.wake.wait()
                me.wake.clear()  # the state is read after clearing: a later wake-up is not lost
                if not me.lead and all(f.done() for f in futures):
                    return futures
        except BaseException:  # interrupted while waiting: pass on a turn handed to us
            with self._lock:
                if me.lead:
                    self._hand_off()
            raise
        self._lead(me, futures)
        return futures

    async def submit_async(self, item: _Prepared) -> IntakeResult:
        """Queue `item` from an event loop and await its answer. The loop never writes: when
        nobody leads, the committer's writer thread does (`_write_queue`)."""
        caller = _LoopCaller(asyncio.get_running_loop())
        answer = _Answer()
        with self._lock:
            self._queue.append((item, answer, caller))
            start = not self._leading
            self._leading = True
        if start:
            self._start_writer()
        await caller.future
        return answer.result()

    def _start_writer(self) -> None:
        """Have the writer thread lead until the queue is empty (called with the turn given to
        it: `_leading` set)."""
        self._writer.submit(self._write_queue)

    def _write_queue(self) -> None:
        me = _me()
        me.busy = True
        try:
            self._lead(me, None)
        except BaseException:  # noqa: BLE001 - the batch's callers have their errors (_lead)
            log.exception("intake writer failed")
        finally:
            me.busy = False

    def _hand_off(self) -> None:
        """Give the turn to the owner of the oldest waiting item, if any (holding `_lock`): a
        waiting thread, or the writer thread for an item awaited on a loop."""
        nxt = self._queue[0][2] if self._queue else None
        self._leading = nxt is not None
        if isinstance(nxt, _LoopCaller):
            self._start_writer()
        elif nxt is not None:
            nxt.lead = True
            nxt.wake.set()

    def _lead(self, me: _Caller, futures: list[_Answer] | None) -> None:
        """Write batches until `futures` are done (None: until the queue is empty), then hand
        the turn on."""
        batch: list[_Queued] = []
        try:
            while True:
                with self._turn:
                    with self._lock:
                        if not self._queue if futures is None else all(f.done() for f in futures):
                            self._hand_off()
                            return
                        batch = self._take(MAX_BATCH)
                    self._write(batch)  # may add items that arrived meanwhile
                for c in {c for _, _, c in batch if c is not me}:
                    c.wake.set()
                batch = []
        except BaseException as exc:  # not from _run's own failures (it sets them): do not strand
            for _, fut, c in batch:
                if not fut.done():
                    fut.set_exception(exc)
                c.wake.set()
            with self._lock:
                self._hand_off()
            raise

    def _take(self, n: int) -> list[_Queued]:
        """Up to `n` queued items, oldest first (holding `_lock`)."""
        return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    def _write(self, batch: list[_Queued]) -> None:
        """Classify and write `batch` in one transaction.

        On SQLite the processes of a server take turns on one writer's lock. While another
        process holds it, the items queued meanwhile are classified and join this batch (up to
        MAX_BATCH), polling for the turn a short while before blocking on it; once the turn is
        ours, the items that queued while we waited for it join too. Fewer, fuller
        transactions: each one's fixed cost (BEGIN, the lookups, COMMIT, a hand-over between
        processes) is shared by more items, and no item waits a whole extra turn."""
        _classify([item for item, _, _ in batch], self.ctx)
        lock = write_lock_for(self.ctx.engine)
        held = False
        try:
            polls = 0
            while lock is not None and not (held := lock.try_acquire()):
                with self._lock:
                    more = self._take(MAX_BATCH - len(batch))
                if not more:
                    if polls >= LOCK_POLLS or len(batch) >= MAX_BATCH:
                        break  # wait for the turn in the unit of work
                    polls += 1
                    time.sleep(LOCK_POLL_SECONDS)
                    continue
                _classify([item for item, _, _ in more], self.ctx)
                batch.extend(more)
            taken, held = (lock if held else None), False  # _run releases it, whatever happens
            self._run(batch, held=taken, gather=lock is not None)
        finally:
            if held and lock is not None:  # interrupted before _run took it over
                lock.release()

    def _run(
        self, batch: list[_Queued], held: SqliteWriteLock | None = None, gather: bool = False
    ) -> None:
        """Write classified items in one transaction; a batch that fails is retried item by
        item, so one bad item never blocks the others. `held`: the writer's lock, taken by the
        caller, handed to the unit of work. `gather`: once in the transaction, the items queued
        meanwhile join the batch."""
        try:
            with self.ctx.uow() as uow:
                if held is not None:
                    held.release()  # the unit of work holds it now (re-entrant)
                    held = None
                if gather and len(batch) < MAX_BATCH:
                    with self._lock:
                        late = self._take(MAX_BATCH - len(batch))
                    if late:
                        _classify([item for item, _, _ in late], self.ctx)
                        batch.extend(late)
                results = _write_batch(self.ctx, uow, [item for item, _, _ in batch])
        except Exception as exc:
            if held is not None:
                held.release()
                held = None
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for one in batch:
                self._run([one])
            return
        finally:
            if held is not None:  # interrupted before the unit of work took it over
                held.release()
        for (_, fut, _), result in zip(batch, results, strict=True):
            fut.set_result(result)


def _classify(items: list[_Prepared], ctx: AppContext) -> None:
    """Decide the category of every new-ticket item of a batch (outside the write lock). An item
    left undecided (the model failed) is classified one by one in the batch write."""
    todo = [p for p in items if p.category is None and p.msg.ticket_id is None]
    if not todo:
        return
    texts = [(f"{p.subject.text}\n{p.body.text}", p.locale) for p in todo]
    many = ctx.extras.get("classify_many")
    try:
        cats = many(texts) if many else [ctx.classifier(t, loc) for t, loc in texts]
    except Exception:  # noqa: BLE001 - the batch write falls back to ctx.classifier per item
        log.exception("batch classification failed")
        return
    for p, c in zip(todo, cats, strict=True):
        p.category = c


_COMMITTERS_GUARD = threading.Lock()


def _committer(ctx: AppContext) -> GroupCommitter:
    gc = ctx.extras.get("_group_committer")
    if gc is None:
        with _COMMITTERS_GUARD:
            gc = ctx.extras.get("_group_committer")
            if gc is None:
                gc = ctx.extras["_group_committer"] = GroupCommitter(ctx)
    return gc  # type: ignore[no-any-return]


# --- the batch write: multi-row Core statements (this is the desk's hottest write path) ------


def _write_batch(ctx: AppContext, uow: UnitOfWork, items: list[_Prepared]) -> list[IntakeResult]:
    conn = uow.session.connection()
    now = utcnow()
    results: list[IntakeResult | None] = [None] * len(items)

    # an idempotency key repeated inside one batch: the first item writes, the rest are duplicates
    first_of_key: dict[str, int] = {}
    dup_of: dict[int, int] = {}
    for i, p in enumerate(items):
        if p.key:
            if p.key in first_of_key:
                dup_of[i] = first_of_key[p.key]
            else:
                first_of_key[p.key] = i
    # keys committed earlier (a client's retry): one query for the batch, inside the write
    # transaction, so no item pays a read of its own before it queues
    committed = _committed_keys(conn, list(first_of_key)) if first_of_key else {}
    for key, i in first_of_key.items():
        if key in committed:
            results[i] = committed[key]
    live = [i for i in range(len(items)) if i not in dup_of and results[i] is None]
    if not live:  # every item was a retry of something committed before
        for i, first in dup_of.items():
            results[i] = results[first]
        return [r for r in results if r is not None]

    customer_ids = _customers(conn, [items[i] for i in live], now)
    cust = dict(zip(live, customer_ids, strict=True))

    # threading: follow-ups of closed (or foreign) tickets become new tickets
    targets: dict[int, Any] = {}
    wanted = {items[i].msg.ticket_id for i in live if items[i].msg.ticket_id is not None}
    if wanted:
        for row in conn.execute(
            select(
                _T.c.id,
                _T.c.number,
                _T.c.status,
                _T.c.workspace_id,
                _T.c.queue_id,
                _T.c.subject,
                _T.c.category,
                _T.c.locale,
                _T.c.channel,
                _T.c.priority,
                _T.c.search_text,
                _T.c.customer_id,
                *sla.CLOCK_COLUMNS,  # SLA: the follow-up moves the clocks (services/sla.py)
            ).where(_T.c.id.in_(wanted))
        ):
            targets[row.id] = row
    new_idx: list[int] = []
    append_idx: list[int] = []
    for i in live:
        p = items[i]
        row = targets.get(p.msg.ticket_id) if p.msg.ticket_id is not None else None
        if (
            row is not None
            and row.workspace_id == p.actor.workspace_id
            and row.status != Status.CLOSED
        ):
            append_idx.append(i)
            continue
        if row is not None and row.status == Status.CLOSED:
            p.msg.fields.setdefault("follow_up_of", row.number)
        if p.category is None:
            p.category = _category(ctx, p.msg, p.subject.text, p.body.text, p.locale)
        new_idx.append(i)

    tickets: dict[int, Any] = {}
    if new_idx:
        numbers = _ticket_numbers(conn, len(new_idx))
        router = routing.BatchRouter(ctx, conn, [(items[i], cust[i]) for i in new_idx])
        rows = []
        clocks: dict[tuple[Any, ...], dict[str, Any]] = {}
        for k, (n, i) in enumerate(zip(numbers, new_idx, strict=True)):
            p = items[i]
            assert p.category is not None
            subj = new_ticket_subject(p.subject.text, p.body.text)
            if p.msg.ticket_id is None:
                st = p.search
            else:  # a follow-up of a closed ticket: its new ticket is searched by subject too
                st = search_text(f"{subj}\n{p.body.text}")[:SEARCH_TEXT_LIMIT]
            routed = router.decide(k, p.category, st)  # editable rules (services/routing.py)
            rows.append(
                {
                    "workspace_id": p.actor.workspace_id,
                    "number": n,
                    "subject": subj or "(no subject)",
                    "status": Status.NEW.value,
                    "priority": routed.priority or p.msg.priority or Priority.NORMAL.value,
                    "category": p.category.value,
                    "type": rules.type_for_category(p.category).value,
                    "channel": p.msg.channel.value,
                    "locale": p.locale,
                    "queue_id": routed.queue_id,
                    "assignee_id": None,
                    "customer_id": cust[i],
                    "fields": dict(p.msg.fields),
                    "idempotency_key": p.key,
                    "search_text": st,
                    "created_at": now,
                    "updated_at": now,
                    "last_message_at": now,
                    "first_response_at": None,
                    "solved_at": None,
                    "closed_at": None,
                }
            )
            # SLA clocks, same INSERT: a pure function of these columns and `now`, which the
            # batch's tickets share (mostly the same queue, category and priority too)
            row = rows[-1]
            sla_key = (row["workspace_id"], row["queue_id"], row["category"], row["priority"])
            if sla_key not in clocks:
                clocks[sla_key] = sla.intake_columns(ctx, conn, row, now)
            row.update(clocks[sla_key])
        ids = insert_rows_ids(conn, _T, rows)
        for i, tid, row in zip(new_idx, ids, rows, strict=True):
            tickets[i] = SimpleNamespace(id=tid, **row)
    if append_idx:
        updates = []
        for i in append_idx:
            p, row = items[i], targets[items[i].msg.ticket_id]
            status = rules.status_after_customer_message(Status(row.status)).value
            st = row.search_text
            if len(st) < SEARCH_TEXT_LIMIT:
                st = (st + " " + p.search)[:SEARCH_TEXT_LIMIT]
            updates.append(
                {
                    "tid": row.id,
                    "status": status,
                    "st": st,
                    **sla.follow_up_columns(ctx, conn, row, status, now),  # SLA clocks
                }
            )
            tickets[i] = SimpleNamespace(
                id=row.id,
                workspace_id=row.workspace_id,
                number=row.number,
                subject=row.subject,
                status=status,
                priority=row.priority,
                category=row.category,
                channel=row.channel,
                locale=row.locale,
                queue_id=row.queue_id,
                customer_id=row.customer_id,
                last_message_at=now,
                updated_at=now,
            )
        conn.execute(
            update(_T)
            .where(_T.c.id == bindparam("tid"))
            .values(
                status=bindparam("status"),
                search_text=bindparam("st"),
                last_message_at=now,
                updated_at=now,
                **sla.CLOCK_BINDS,
            ),
            updates,
        )

    convs = _conversations(conn, items, live, tickets, set(append_idx), now)
    msg_rows = [
        {
            "ticket_id": tickets[i].id,
            "conversation_id": convs[i],
            "author_type": AuthorType.CUSTOMER.value,
            "author_agent_id": None,
            "author_customer_id": cust[i],
            "channel": items[i].msg.channel.value,
            "body": items[i].body.text,
            "body_html": items[i].html,
            "internal": False,
            "findings": items[i].findings,
            "meta": items[i].msg.metadata,
            "idempotency_key": items[i].key,
            "delivery_status": None,
            "created_at": now,
        }
        for i in live
    ]
    msg_ids = insert_rows_ids(conn, _M, msg_rows)
    messages = {
        i: SimpleNamespace(id=mid, **row)
        for i, mid, row in zip(live, msg_ids, msg_rows, strict=True)
    }

    att_rows = [
        {
            "message_id": messages[i].id,
            "filename": n,
            "content_type": c,
            "size": z,
            "sha256": d,
            "storage_key": k,
            "created_at": now,
        }
        for i in live
        for n, c, z, d, k in items[i].files
    ]
    if att_rows:
        insert_rows(conn, _A, att_rows)
    for row in (
        audit.audit_row(
            items[i].actor,
            "message.received" if i in append_idx else "ticket.created",
            object_type="ticket",
            object_id=tickets[i].id,
            customer_id=cust[i],
            details={
                "channel": items[i].msg.channel.value,
                "message_id": messages[i].id,
                "findings": [f["type"] for f in items[i].findings],
            },
            at=now,
            details_redacted=True,  # a channel name, an id and our redactor's rule names
        )
        for i in live
    ):
        uow.defer_insert(_AU, row)  # one INSERT with the hooks' audit rows, before the commit

    appended = set(append_idx)
    for i in live:
        # hooks get read-only snapshots (attribute access like the ORM rows) of what was just
        # written; a hook that changes data writes through uow.session
        for hook in ctx.after_intake:
            hook(ctx, uow, tickets[i], messages[i], items[i].msg, i not in appended)
        t = tickets[i]
        results[i] = IntakeResult(
            "appended" if i in appended else "created",
            t.id,
            t.number,
            messages[i].id,
            bool(items[i].findings),
            t.status,
            t.category,
            t.priority,
            t.queue_id,
            cust[i],
        )
    for i, first in dup_of.items():
        r = results[first]
        assert r is not None
        results[i] = IntakeResult(
            "duplicate",
            r.ticket_id,
            r.ticket_number,
            r.message_id,
            False,
            r.status,
            r.category,
            r.priority,
            r.queue_id,
            r.customer_id,
        )

    bus = ctx.bus
    for i in live:  # published once the batch has committed
        t, created = tickets[i], i not in appended
        ws = t.workspace_id
        if created:
            ev: Any = TicketOpened(
                t.id, t.number, str(t.queue_id) if t.queue_id else None, t.subject
            )
            bus.publish_on_commit(uow, f"inbox:{ws}", ev.payload())
        added = MessageAdded(t.id, messages[i].id, AuthorType.CUSTOMER.value, False).payload()
        bus.publish_on_commit(uow, f"ticket:{t.id}", added)
        if not created:
            bus.publish_on_commit(uow, f"inbox:{ws}", added)
    return [r for r in results if r is not None]


# built once (every batch runs it): an expanding IN takes the batch's values at execution
_KNOWN_IDENTITIES = (
    select(_CI.c.workspace_id, _CI.c.kind, _CI.c.value, _CI.c.customer_id, _CU.c.name)
    .join(_CU, _CU.c.id == _CI.c.customer_id)
    .where(_CI.c.value.in_(bindparam("values", expanding=True)))
)


def _customers(conn: Connection, items: list[_Prepared], now: Any) -> list[int]:
    """Customer id of each item: the owner of its first known identity, else a new customer
    (shared by items of the batch that have an identity in common). Free identities are
    attached to the customer, so later mail from the same phone or address finds them."""
    values = {v for p in items for _, v in p.idents}
    known: dict[tuple[int, str, str], int] = {}
    names: dict[int, str] = {}
    if values:
        for r in conn.execute(_KNOWN_IDENTITIES, {"values": list(values)}):
            known[(r.workspace_id, r.kind, r.value)] = r.customer_id
            names[r.customer_id] = r.name
    slots: list[int | str] = []  # an existing customer id, or "new:N"
    free: list[
        tuple[int, str, str, int | str]
    ] = []  # identities to attach: (ws, kind, value, slot)
    new_rows: list[dict[str, Any]] = []
    fill_names: dict[int, str] = {}
    for p in items:
        ws = p.actor.workspace_id
        slot: int | str | None = next(
            (known[(ws, k.value, v)] for k, v in p.idents if (ws, k.value, v) in known), None
        )
        name = (p.msg.name or "").strip()[:200]
        if slot is None:
            slot = f"new:{len(new_rows)}"
            new_rows.append(
                {
                    "workspace_id": ws,
                    "name": name,
                    "locale": p.locale,
                    "created_at": now,
                    "merged_into_id": None,
                    "erased_at": None,
                }
            )
        elif isinstance(slot, int) and name and not names.get(slot):
            fill_names.setdefault(slot, name)
        for k, v in p.idents:
            if (ws, k.value, v) not in known:
                known[(ws, k.value, v)] = slot  # type: ignore[assignment]
                free.append((ws, k.value, v, slot))
        slots.append(slot)
    new_ids: list[int] = []
    if new_rows:
        new_ids = insert_rows_ids(conn, _CU, new_rows)

    def resolve(slot: int | str) -> int:
        return new_ids[int(slot[4:])] if isinstance(slot, str) else slot

    ident_rows = [
        {
            "workspace_id": ws,
            "customer_id": resolve(slot),
            "kind": kind,
            "value": value,
            "verified": False,
            "created_at": now,
        }
        for ws, kind, value, slot in free
    ]
    if ident_rows:
        insert_rows(conn, _CI, ident_rows)
    if fill_names:
        conn.execute(
            update(_CU)
            .where(_CU.c.id == bindparam("cid"), _CU.c.name == "")
            .values(name=bindparam("nm")),
            [{"cid": c, "nm": n} for c, n in fill_names.items()],
        )
    return [resolve(slot) for slot in slots]


def _conversations(
    conn: Connection,
    items: list[_Prepared],
    live: list[int],
    tickets: dict[int, Any],
    appended: set[int],
    now: Any,
) -> dict[int, int]:
    """The channel thread of each item: an existing conversation of the same channel and
    external reference for follow-ups, a new one otherwise."""
    out: dict[int, int] = {}
    existing: dict[tuple[int, str, str | None], int] = {}
    append_tids = {tickets[i].id for i in appended}
    if append_tids:
        for r in conn.execute(
            select(_C.c.id, _C.c.ticket_id, _C.c.channel, _C.c.external_ref)
            .where(_C.c.ticket_id.in_(append_tids))
            .order_by(_C.c.id)
        ):
            existing[(r.ticket_id, r.channel, r.external_ref)] = r.id
    todo: dict[tuple[int, str, str | None], list[int]] = {}
    for i in live:
        ref = items[i].msg.metadata.get("thread_ref") if items[i].msg.metadata else None
        k = (tickets[i].id, items[i].msg.channel.value, ref)
        if k in existing:
            out[i] = existing[k]
        else:
            todo.setdefault(k, []).append(i)
    if todo:
        keys = list(todo)
        ids = insert_rows_ids(
            conn,
            _C,
            [
                {"ticket_id": t, "channel": c, "external_ref": r, "created_at": now}
                for t, c, r in keys
            ],
        )
        for k, cid in zip(keys, ids, strict=True):
            for i in todo[k]:
                out[i] = cid
    return out
