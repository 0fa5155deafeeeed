"""Engine and session factory for SQLite (embedded, WAL) and PostgreSQL (scale-out)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as operators write them) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def json_text(value: Any) -> str:
    """JSON columns' serializer: orjson (several times faster than `json.dumps` on the intake
    path, where every ticket writes a few JSON values while the writer's lock is held). Keys
    that are not strings are written as strings, as `json.dumps` does; non-ASCII text is stored
    as UTF-8 rather than `\\u` escapes (both read back the same)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_value(text: str) -> Any:
    """JSON columns' deserializer: orjson; text it refuses (NaN, integers beyond 64 bits, which
    `json.dumps` wrote in older rows) is read by `json.loads`, as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=20,
            json_serializer=json_text,
            json_deserializer=json_value,
        )
        _sqlite_pragmas(engine)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=1800,
        json_serializer=json_text,
        json_deserializer=json_value,
    )


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy, not pysqlite, decide when transactions begin (see _begin)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-32000")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: no SQLITE_BUSY upgrade deadlocks between the
        # processes of a multi-worker server. Read-only sessions use `read_session` (deferred).
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


class SqliteWriteLock:
    """Serialises write transactions on one SQLite file across the threads of this process
    (an RLock) and across processes (flock on a lock file beside the database).

    SQLite allows one writer; without this, writers of a multi-worker server collide and SQLite's
    busy handler backs off with sleeps of up to 100 ms (seen as p99 spikes). A kernel lock hands
    the write turn over immediately instead.
    """

    def __init__(self, db_path: str) -> None:
        self._tlock = threading.RLock()
        self._depth = 0
        self._fd = os.open(db_path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        self._tlock.acquire()
        self._depth += 1
        if self._depth == 1:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def try_acquire(self) -> bool:
        """`acquire` if nobody (no other thread, no other process) holds the lock; else False at
        once."""
        if not self._tlock.acquire(blocking=False):
            return False
        if self._depth == 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._tlock.release()
                return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._tlock.release()


_WRITE_LOCKS: dict[str, SqliteWriteLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


# A forked child drops the inherited locks: flock belongs to the open file description, which a
# fork shares, so parent and child would otherwise hold "the" lock together. The child has one
# thread, so no guard (another thread may have held it at the fork).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WRITE_LOCKS.clear)


def write_lock_for(engine: Engine) -> SqliteWriteLock | None:
    """The process-wide write lock of a SQLite file engine (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database
    if not path or path == ":memory:":
        return None
    path = os.path.abspath(path)
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(path)
        if lock is None:
            lock = _WRITE_LOCKS[path] = SqliteWriteLock(path)
        return lock


@contextlib.contextmanager
def process_turn(engine: Engine, job: str, *, wait: bool) -> Iterator[bool]:
    """One process at a time for `job` on a SQLite file (an flock on a file beside it): yields
    True with the turn held, or False at once when another process (or thread) has it and
    `wait` is false. Other databases, and in-memory SQLite, always yield True: they coordinate
    their own way (PostgreSQL advisory locks)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield True
        return
    fd = os.open(os.path.abspath(path) + f".{job}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the descriptor releases the lock
    finally:
        os.close(fd)
