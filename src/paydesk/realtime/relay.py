"""Embedded-mode fan-out between processes that share a database but no Redis.

`RelayBus` delivers every event to this process's subscribers at once and appends it to the
`bus_events` table (batched by a writer thread: one small transaction per burst); each server
process tails the table every 200 ms and dispatches events that other processes wrote. Rows older
than a minute are pruned. With Redis configured, `RedisBus` is used instead and this is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from paydesk.realtime.bus import InProcessBus, Transaction
from paydesk.store.base import utcnow
from paydesk.store.bus import BusEvent
from paydesk.store.db import write_lock_for

log = logging.getLogger(__name__)
_E = BusEvent.__table__
POLL_SECONDS = 0.2
COALESCE_SECONDS = 0.05
KEEP = timedelta(minutes=1)
PRUNE_ROWS = 2000


class RelayBus(InProcessBus):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")
        self.origin = uuid.uuid4().hex
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0
        self._outbox = engine.dialect.name == "sqlite"

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.hub.dispatch(topic, event)
        with self._lock:
            self._buffer.append(
                {"origin": self.origin, "topic": topic, "payload": event, "created_at": utcnow()}
            )
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_loop, daemon=True, name="paydesk-bus-relay"
                )
                self._writer.start()
        self._wake.set()

    def publish_on_commit(self, uow: Transaction, topic: str, event: dict[str, Any]) -> None:
        """On SQLite the event's row is written by `uow`'s own transaction (a transactional
        outbox) instead of by the writer thread's next one: under load, intake's commits
        otherwise shared the single writer's turn with a relay transaction per burst and process.
        SQLite's one writer commits rows in id order, so the other processes' tails (`id >
        last seen`) miss none. On PostgreSQL concurrent transactions can commit out of id order
        (a tail could pass a row still uncommitted): the event goes out after commit as before."""
        if not self._outbox:
            super().publish_on_commit(uow, topic, event)
            return
        uow.defer_insert(
            _E, {"origin": self.origin, "topic": topic, "payload": event, "created_at": utcnow()}
        )
        uow.on_commit(lambda: self.hub.dispatch(topic, event))

    def flush(self) -> None:
        """Write buffered events now (tests, CLI commands before they exit)."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return
        lock = write_lock_for(self.engine)
        if lock:
            lock.acquire()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(_E), rows)
        except Exception:  # live updates degrade; the data itself is committed already
            log.exception("bus relay write failed")
        finally:
            if lock:
                lock.release()

    def _write_loop(self) -> None:
        while True:
            if not self._wake.wait(timeout=30):
                with self._lock:
                    if not self._buffer:
                        self._writer = None
                        return
            self._wake.clear()
            time.sleep(COALESCE_SECONDS)  # gather a burst: one small write transaction for it
            self.flush()

    async def start(self) -> None:
        def last() -> int:
            with self._reader.connect() as conn:
                return int(conn.execute(select(func.max(_E.c.id))).scalar() or 0)

        self._last_id = await asyncio.to_thread(last)
        self._task = asyncio.create_task(self._tail())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await asyncio.to_thread(self.flush)

    async def _tail(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                rows = await asyncio.to_thread(self._read)
            except Exception:
                log.exception("bus relay read failed")
                continue
            for row in rows:
                self._last_id = max(self._last_id, row.id)
                if row.origin != self.origin:
                    self.hub.dispatch(row.topic, row.payload)
            rounds += 1
            if rounds % 300 == 0:  # about once a minute
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._prune)

    def _read(self) -> list[Any]:
        with self._reader.connect() as conn:
            return list(
                conn.execute(
                    select(_E.c.id, _E.c.origin, _E.c.topic, _E.c.payload)
                    .where(_E.c.id > self._last_id)
                    .order_by(_E.c.id)
                    .limit(2000)
                )
            )

    def _prune(self) -> int:
        """Delete rows older than KEEP, PRUNE_ROWS a transaction (intake writes a few rows per
        ticket: a minute of a busy desk is tens of thousands, and one DELETE of them all would
        hold SQLite's single writer for that long). Returns how many."""
        cutoff = utcnow() - KEEP
        lock = write_lock_for(self.engine)
        total = 0
        while True:
            if lock:
                lock.acquire()
            try:
                with self.engine.begin() as conn:
                    old = (
                        select(_E.c.id)
                        .where(_E.c.created_at < cutoff)
                        .order_by(_E.c.id)
                        .limit(PRUNE_ROWS)
                    )
                    done = conn.execute(delete(_E).where(_E.c.id.in_(old))).rowcount
            finally:
                if lock:
                    lock.release()
            total += done
            if done < PRUNE_ROWS:
                return total
