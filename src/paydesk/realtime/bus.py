"""Event bus. `publish` is synchronous and thread-safe (called after commit from worker threads);
subscribers are asyncio consumers (WebSockets) in the server's event loop.

Topics are strings such as "inbox:1" (a workspace's inbox) or "ticket:42".
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)


class Transaction(Protocol):
    """What a bus needs of a unit of work (services.uow.UnitOfWork)."""

    def on_commit(self, fn: Callable[[], Any]) -> None: ...

    def defer_insert(self, table: Any, row: dict[str, Any]) -> None: ...


class EventBus(Protocol):
    def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def publish_on_commit(self, uow: Transaction, topic: str, event: dict[str, Any]) -> None:
        """Publish once `uow` has committed (never, if it rolls back)."""
        ...

    def subscribe(
        self, *topics: str, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> Subscription: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Subscription:
    """An async iterator of events for some topics; `close()` (or leaving `async with`) ends it.

    With `on_event`, events are handed to that function in the subscriber's loop instead of
    being queued: no queue and no consumer task per subscriber (thousands of chat sockets)."""

    __slots__ = ("_hub", "topics", "queue", "loop", "on_event", "__weakref__")

    def __init__(
        self,
        hub: _LocalHub,
        topics: tuple[str, ...],
        maxsize: int = 1000,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._hub = hub
        self.topics = topics
        self.on_event = on_event
        self.queue: asyncio.Queue[dict[str, Any]] | None = (
            None if on_event else asyncio.Queue(maxsize=maxsize)
        )
        self.loop = asyncio.get_running_loop()
        hub.add(self)

    def deliver(self, event: dict[str, Any]) -> None:  # runs in the subscriber's loop
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # one subscriber's failure never reaches the publisher
                log.exception("subscriber failed on an event for %s", self.topics)
            return
        assert self.queue is not None
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a stuck consumer loses live events, never blocks others
            log.warning("subscription queue full; dropping event for %s", self.topics)

    async def get(self, timeout: float | None = None) -> dict[str, Any]:
        assert self.queue is not None, "a callback subscription has no queue"
        if timeout is None:
            return await self.queue.get()
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self._hub.remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[dict[str, Any]]:
        assert self.queue is not None, "a callback subscription has no queue"
        while True:
            yield await self.queue.get()


class _LocalHub:
    """Subscribers of this process, by topic. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        with self._lock:
            for t in sub.topics:
                self._subs.setdefault(t, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        with self._lock:
            for t in sub.topics:
                s = self._subs.get(t)
                if s:
                    s.discard(sub)
                    if not s:
                        del self._subs[t]

    def dispatch(self, topic: str, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs.get(topic, ()))
        for sub in subs:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sub.loop:
                sub.deliver(event)
            elif not sub.loop.is_closed():
                sub.loop.call_soon_threadsafe(sub.deliver, event)


class InProcessBus:
    """Embedded mode: events reach subscribers of this process only."""

    def __init__(self) -> None:
        self.hub = _LocalHub()

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.hub.dispatch(topic, event)

    def publish_on_commit(self, uow: Transaction, topic: str, event: dict[str, Any]) -> None:
        uow.on_commit(lambda: self.publish(topic, event))

    def subscribe(
        self, *topics: str, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> Subscription:
        return Subscription(self.hub, topics, on_event=on_event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus:
    """Scale-out mode: every publish goes through Redis pub/sub, and each process's listener
    dispatches to its local subscribers, so a socket on any process sees every event.

    `publish` only queues the event: one publisher thread per process sends what is queued in
    one pipelined round trip, in the order it was published. A committing thread (intake's group
    commit holds its batch's callers until it returns) no longer waits for a Redis round trip
    per event; the events are in the database already, so a reconnecting client finds them there
    whatever happens to a live publish."""

    PREFIX = "paydesk:"
    PIPELINE = 500  # events per round trip at most

    def __init__(self, url: str, prefix: str | None = None) -> None:
        import redis

        self.url = url
        self.PREFIX = prefix or RedisBus.PREFIX  # tests use a unique prefix on a shared Redis
        self.hub = _LocalHub()
        self._sync = redis.Redis.from_url(url)
        self._task: asyncio.Task[None] | None = None
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._publisher: threading.Thread | None = None
        self._publisher_guard = threading.Lock()

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        self._outbox.append((self.PREFIX + topic, orjson.dumps(event)))
        self._idle.clear()  # after the append: the publisher re-checks the outbox after idling
        if self._publisher is None:
            self._start_publisher()
        self._wake.set()

    def publish_on_commit(self, uow: Transaction, topic: str, event: dict[str, Any]) -> None:
        uow.on_commit(lambda: self.publish(topic, event))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was sent (CLI commands before they exit, tests)."""
        return self._idle.wait(timeout)

    def _start_publisher(self) -> None:
        with self._publisher_guard:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_loop, daemon=True, name="paydesk-redis-publish"
                )
                self._publisher.start()
                atexit.register(self.flush)

    def _publish_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = []
                while self._outbox and len(batch) < self.PIPELINE:
                    batch.append(self._outbox.popleft())
                try:
                    pipe = self._sync.pipeline(transaction=False)
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    pipe.execute()
                except Exception:  # Redis down: live updates degrade, writes already committed
                    log.exception("redis publish failed (%d events)", len(batch))
            if not self._outbox:
                self._idle.set()
                if self._outbox:  # published between the check and set: go round again
                    self._idle.clear()
                    self._wake.set()

    def subscribe(
        self, *topics: str, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> Subscription:
        return Subscription(self.hub, topics, on_event=on_event)

    async def start(self) -> None:
        if self._task is not None:
            return
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready))
        await asyncio.wait_for(ready.wait(), 10)

    async def _listen(self, ready: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                pubsub = client.pubsub()
                await pubsub.psubscribe(self.PREFIX + "*")
                ready.set()
                async for msg in pubsub.listen():
                    if msg.get("type") != "pmessage":
                        continue
                    topic = msg["channel"].decode()[len(self.PREFIX) :]
                    try:
                        event = orjson.loads(msg["data"])
                    except orjson.JSONDecodeError:
                        continue
                    self.hub.dispatch(topic, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis listener failed; reconnecting")
                ready.set()
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def stop(self) -> None:
        await asyncio.to_thread(self.flush)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def make_bus(redis_url: str | None, prefix: str | None = None) -> EventBus:
    return RedisBus(redis_url, prefix) if redis_url else InProcessBus()
