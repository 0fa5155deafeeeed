"""Multi-row INSERTs for the hot write paths (intake's group commit, deferred audit rows).

On SQLite the rows go to the driver's `executemany` (one prepared statement, a loop in C) with
the column values passed through the same bind processors SQLAlchemy would apply (JSON, aware
UTC datetimes, booleans), so what is stored is identical; SQLAlchemy's per-statement work
(cache key, compilation lookup, building one multi-row VALUES string and its parameters in
Python) cost more than SQLite's own work on these paths, and it is paid while the single
writer's lock is held. Ids come from the table's largest rowid: the caller holds SQLite's only
write transaction, so nobody else inserts in between.

PostgreSQL, and any row set the plan cannot take as is (rows with different keys, a column
default that needs an execution context), take SQLAlchemy's own `insert()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError

_Processor = Callable[[Any], Any] | None
_ROW, _ID, _VALUE, _CALL = range(4)


class _Plan:
    """A prepared INSERT for one table and one set of row keys: for each parameter of the
    statement, where its value comes from and the bind processor it goes through."""

    __slots__ = ("slots", "sql")

    def __init__(self, sql: str, slots: list[tuple[int, Any, _Processor]]) -> None:
        self.sql = sql
        self.slots = slots  # (_ROW, key | _ID, None | _VALUE, default | _CALL, fn; processor)

    def params(self, rows: list[dict[str, Any]], first_id: int) -> list[tuple[Any, ...]]:
        out = []
        # a batch's rows share a few timestamps ("now", due dates): each is converted once
        stamps: dict[tuple[int, datetime], Any] = {}
        for k, row in enumerate(rows):
            values = []
            for n, (kind, arg, proc) in enumerate(self.slots):
                if kind == _ROW:
                    v = row[arg]
                elif kind == _ID:
                    v = first_id + k
                elif kind == _VALUE:
                    v = arg
                else:
                    v = arg(None)  # a column default; our models' take no execution context
                if proc is not None:
                    if type(v) is datetime:
                        key = (n, v)
                        if key not in stamps:
                            stamps[key] = proc(v)
                        v = stamps[key]
                    else:
                        v = proc(v)
                values.append(v)
            out.append(tuple(values))
        return out


_PLANS: dict[tuple[int, tuple[str, ...], bool], _Plan | None] = {}
_PLANS_GUARD = threading.Lock()


def _plan(conn: Connection, table: Table, keys: tuple[str, ...], with_id: bool) -> _Plan | None:
    cache_key = (id(table), keys, with_id)
    if cache_key in _PLANS:
        return _PLANS[cache_key]
    dialect = conn.dialect
    plan = None
    if set(keys) <= set(table.c.keys()) and (not with_id or "id" not in keys):
        # SQLAlchemy writes the statement: the rows' columns, the id, and every absent column
        # that has a default, as qmark parameters in the order of `positiontup`
        compiled = insert(table).compile(
            dialect=dialect, column_keys=[*keys, *(["id"] if with_id else [])]
        )
        slots: list[tuple[int, Any, _Processor]] | None = []
        for name in compiled.positiontup or []:
            col = table.c[name]
            # what SQLAlchemy itself applies to a value of this column
            proc = col.type._cached_bind_processor(dialect)
            d: Any = col.default
            if name in keys:
                slots.append((_ROW, name, proc))
            elif with_id and name == "id":
                slots.append((_ID, None, proc))
            elif d is not None and d.is_scalar:
                slots.append((_VALUE, d.arg, proc))
            elif d is not None and d.is_callable:
                slots.append((_CALL, d.arg, proc))
            else:  # a sequence, a SQL expression: SQLAlchemy's own path
                slots = None
                break
        if slots is not None:
            plan = _Plan(compiled.string, slots)
    with _PLANS_GUARD:
        _PLANS[cache_key] = plan
    return plan


def _sqlite_plan(
    conn: Connection, table: Table, rows: list[dict[str, Any]], with_id: bool
) -> _Plan | None:
    if conn.dialect.name != "sqlite":
        return None
    keys = rows[0].keys()
    if any(r.keys() != keys for r in rows):
        return None
    return _plan(conn, table, tuple(keys), with_id)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`."""
    if not rows:
        return
    plan = _sqlite_plan(conn, table, rows, with_id=False)
    if plan is None:
        conn.execute(insert(table), rows)
        return
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        _run(conn, cur, plan.sql, plan.params(rows, 0))
    finally:
        cur.close()


def insert_rows_ids(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT `rows` into `table` (integer primary key `id`) and return their new ids in the
    order of `rows`. On SQLite the caller must hold the write transaction (every write path
    does: BEGIN IMMEDIATE)."""
    if not rows:
        return []
    plan = _sqlite_plan(conn, table, rows, with_id=True)
    if plan is None:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        name = conn.dialect.identifier_preparer.format_table(table)
        top = cur.execute(f"SELECT max(id) FROM {name}").fetchone()[0]  # noqa: S608 - our table
        first = int(top or 0) + 1
        _run(conn, cur, plan.sql, plan.params(rows, first))
    finally:
        cur.close()
    return list(range(first, first + len(rows)))


def _run(conn: Connection, cur: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
    """executemany, with the driver's errors raised as SQLAlchemy raises them (IntegrityError,
    OperationalError...), so callers handle them as they handle SQLAlchemy's own statements."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        cur.executemany(sql, params)
    except dbapi.Error as err:
        raise DBAPIError.instance(sql, params, err, dbapi.Error) from err
