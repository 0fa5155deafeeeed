"""Unit of work: one session, one transaction, side effects registered to fire after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from paydesk.store.bulk import insert_rows

log = logging.getLogger(__name__)


class UnitOfWork:
    """`with uow:` commits on success, rolls back on error, then runs `on_commit` callbacks.

    Callbacks (publishing events, queueing email, starting jobs) run only after the commit has
    succeeded, so nothing outside the database ever sees data that was rolled back.

    `defer_insert` collects rows that nothing reads back in this transaction (audit events,
    automatic links…) and writes them before the commit with one multi-row INSERT per table:
    the intake group commit runs a hook per item, and a statement per item would cost more than
    the hook's own work.
    """

    def __init__(self, session: Session, write_lock: Any = None) -> None:
        self.session = session
        self._after: list[Callable[[], Any]] = []
        self._lock = write_lock  # SQLite: serialise writers (see store.db.SqliteWriteLock)
        self._deferred: dict[Table, list[dict[str, Any]]] = {}

    def on_commit(self, fn: Callable[[], Any]) -> None:
        self._after.append(fn)

    def defer_insert(self, table: Table, row: dict[str, Any]) -> None:
        """Insert `row` into `table` before this unit commits (see the class docstring)."""
        self._deferred.setdefault(table, []).append(row)

    def deferred(self, table: Table) -> list[dict[str, Any]]:
        """The rows still waiting for `table` (read-only view for de-duplication)."""
        return list(self._deferred.get(table, ()))

    def flush_deferred(self) -> None:
        """Write the deferred rows now (one INSERT per table)."""
        deferred, self._deferred = self._deferred, {}
        if deferred:
            conn = self.session.connection()
            for table, rows in deferred.items():
                insert_rows(conn, table, rows)

    def __enter__(self) -> UnitOfWork:
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush_deferred()
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
            if self._lock is not None:
                self._lock.release()
        if exc_type is None:
            for fn in self._after:
                try:
                    fn()
                except Exception:  # a failed notification must not undo a committed write
                    log.exception("after-commit callback failed")
