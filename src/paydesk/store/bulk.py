"""Multi-row INSERTs for the hot write paths (intake's group commit, deferred audit rows).

On SQLite the rows go straight to the driver as multi-row VALUES statements (up to
ROWS_PER_STATEMENT rows each: one SQLite step, so one release of the GIL, per statement), with
the column values passed through the same bind processors SQLAlchemy would apply (JSON, aware
UTC datetimes, booleans), so what is stored is identical. SQLAlchemy's per-statement work (cache
key, compilation lookup, building the statement and its parameters in Python) cost more than
SQLite's own work on these paths, and it is paid while the single writer's lock is held. Ids
come from the table's largest rowid: the caller holds SQLite's only write transaction, so nobody
else inserts in between.

PostgreSQL, and any table the plan cannot take as is (a column default that needs an execution
context), take SQLAlchemy's own `insert()`. Rows with different keys are refused (ValueError):
SQLAlchemy's executemany would take the first row's columns and drop the others' values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError

_Processor = Callable[[Any], Any] | None
_ROW, _ID, _VALUE, _CALL = range(4)


class _Plan:
    """A prepared INSERT for one table and one set of row keys: for each parameter of the
    statement, where its value comes from and the bind processor it goes through."""

    __slots__ = ("head", "row", "slots", "statements")

    def __init__(self, sql: str, slots: list[tuple[int, Any, _Processor]]) -> None:
        head, _, row = sql.partition(" VALUES ")
        self.head, self.row = head + " VALUES ", row  # "INSERT INTO t (...)", "(?, ?, ...)"
        self.slots = slots  # (_ROW, key | _ID, None | _VALUE, default | _CALL, fn; processor)
        self.statements: dict[int, str] = {}

    def sql(self, n: int) -> str:
        """The statement for `n` rows: one multi-row VALUES, so SQLite runs it in one step (the
        driver releases the GIL around each step; with one step per row, a busy process made
        the lock holder wait for the GIL once per row)."""
        stmt = self.statements.get(n)
        if stmt is None:
            stmt = self.statements[n] = self.head + ", ".join([self.row] * n)
        return stmt

    def params(self, rows: list[dict[str, Any]], first_id: int) -> list[Any]:
        """Every row's values, flat, in statement order. Built a column at a time (list
        comprehensions and C-level maps, no per-value branching), then interleaved."""
        n = len(rows)
        columns: list[list[Any]] = []
        for kind, arg, proc in self.slots:
            if kind == _ROW:
                col = [row[arg] for row in rows]
            elif kind == _ID:
                col = list(range(first_id, first_id + n))
            elif kind == _VALUE:
                col = [arg] * n
            else:
                col = [arg(None) for _ in rows]  # a column default; ours take no context
            if proc is not None:
                col = _processed(col, proc)
            columns.append(col)
        return list(chain.from_iterable(zip(*columns, strict=True)))


def _processed(col: list[Any], proc: Callable[[Any], Any]) -> list[Any]:
    """`proc` applied to each value; a batch's rows share a few timestamps ("now", due dates),
    so a column of datetimes converts each distinct one once."""
    if all(type(v) is datetime for v in col):
        done = {v: proc(v) for v in set(col)}
        return [done[v] for v in col]
    return list(map(proc, col))


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
    """The SQLite plan for `rows` (None on other databases, or for a table it cannot take).
    Checks, on every database, that the rows share one set of keys."""
    keys = rows[0].keys()
    for r in rows:
        if r.keys() != keys:
            # SQLAlchemy's executemany would take the first row's columns and silently drop the
            # values of any other (a complaint's deadline was lost that way)
            raise ValueError(
                f"rows for {table.name} have different keys: {sorted(keys)} and {sorted(r.keys())}"
            )
    if conn.dialect.name != "sqlite":
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
    _run(conn, plan, rows, 0)


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
    driver = conn.connection.driver_connection
    name = conn.dialect.identifier_preparer.format_table(table)
    top = driver.execute(f"SELECT max(id) FROM {name}").fetchone()[0]  # type: ignore[union-attr]  # noqa: S608 - our table
    first = int(top or 0) + 1
    _run(conn, plan, rows, first)
    return list(range(first, first + len(rows)))


ROWS_PER_STATEMENT = 200  # well under SQLite's 32,766 parameters for our widest table


def _run(conn: Connection, plan: _Plan, rows: list[dict[str, Any]], first_id: int) -> None:
    """INSERT `rows` in multi-row statements, with the driver's errors raised as SQLAlchemy
    raises them (IntegrityError, OperationalError...), so callers handle them as they handle
    SQLAlchemy's own statements."""
    driver = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        sql, params = plan.sql(len(part)), plan.params(part, first_id + start)
        try:
            driver.execute(sql, params)  # type: ignore[union-attr]
        except dbapi.Error as err:
            raise DBAPIError.instance(sql, params, err, dbapi.Error) from err
