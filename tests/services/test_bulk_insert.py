"""store.bulk: the hot paths' multi-row INSERT stores exactly what SQLAlchemy's insert() stores,
and returns each row's own id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, text

from paydesk.services.context import AppContext
from paydesk.store.audit import AuditEvent
from paydesk.store.bulk import insert_rows, insert_rows_ids
from paydesk.store.customers import Customer
from paydesk.store.tickets import Conversation, Message, Ticket

T, M, C, A, CU = (
    Ticket.__table__,
    Message.__table__,
    Conversation.__table__,
    AuditEvent.__table__,
    Customer.__table__,
)
AT = datetime(2026, 11, 26, 23, 59, 58, 123456, tzinfo=UTC)


def _raw(ctx: AppContext, table: str, ids: list[int]) -> list[tuple]:  # type: ignore[type-arg]
    """The stored values as the database holds them (no result processing)."""
    with ctx.engine.connect() as conn:
        cols = [c["name"] for c in ctx.engine.dialect.get_columns(conn, table) if c["name"] != "id"]
        where = ", ".join(map(str, ids))
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE id IN ({where}) ORDER BY id"  # noqa: S608
        rows = conn.execute(text(sql))
        return [tuple(r) for r in rows]


def _customer(ctx: AppContext) -> int:
    with ctx.uow() as uow:
        return insert_rows_ids(uow.session.connection(), CU, [{"workspace_id": 1, "name": "B"}])[0]


def test_rows_and_ids_match_sqlalchemy(ctx: AppContext) -> None:
    cust = _customer(ctx)
    tickets = [
        {
            "workspace_id": 1,
            "number": 900000 + k,
            "subject": "退款 'quoted' \"x\"",
            "customer_id": cust,
            "fields": {"transaction_id": "TP1", "nested": [1, {"a": None}], "zh": "到账"},
            "created_at": AT + timedelta(seconds=k % 2),
            "updated_at": AT.astimezone(UTC),
            "last_message_at": AT,
            "queue_id": None,
        }
        for k in range(4)
    ]
    with ctx.uow() as uow:
        conn = uow.session.connection()
        fast = insert_rows_ids(conn, T, tickets[:2])
        slow = list(
            conn.execute(
                insert(T).returning(T.c.id, sort_by_parameter_order=True), tickets[2:]
            ).scalars()
        )
    # each id is its own row's
    with ctx.read() as s:
        numbers = dict(s.execute(select(T.c.id, T.c.number).where(T.c.id.in_(fast + slow))).all())
    assert [numbers[i] for i in fast + slow] == [t["number"] for t in tickets]
    # the stored values are SQLAlchemy's (defaults of absent columns included), apart from
    # the number
    got, want = _raw(ctx, "tickets", fast), _raw(ctx, "tickets", slow)
    assert len(got) == len(want) == 2
    for g, w in zip(got, want, strict=True):
        differ = [i for i, (a, b) in enumerate(zip(g, w, strict=True)) if a != b]
        assert differ == [1], (g, w)
    # read back through the ORM: aware datetimes, JSON, defaults
    with ctx.read() as s:
        t = s.get(Ticket, fast[1])
        assert t is not None
        assert t.created_at == AT + timedelta(seconds=1)
        assert t.fields == tickets[1]["fields"]
        assert (t.status, t.priority, t.escalation_level) == ("new", "normal", 0)

    msgs = [
        {
            "ticket_id": fast[0],
            "author_type": "customer",
            "channel": "chat",
            "body": b,
            "findings": [{"type": "card"}],
            "internal": flag,
        }
        for b, flag in (("a", True), ("b", False))
    ]
    with ctx.uow() as uow:
        conn = uow.session.connection()
        ids = insert_rows_ids(conn, M, msgs)
        insert_rows(conn, C, [{"ticket_id": fast[0], "channel": "chat", "external_ref": None}])
    with ctx.read() as s:
        stored = s.execute(
            select(M.c.id, M.c.body, M.c.internal, M.c.findings, M.c.meta).where(M.c.id.in_(ids))
        ).all()
    assert [tuple(r) for r in stored] == [
        (ids[0], "a", True, [{"type": "card"}], {}),
        (ids[1], "b", False, [{"type": "card"}], {}),
    ]


def test_a_rolled_back_insert_and_ids_after_a_delete(ctx: AppContext) -> None:
    cust = _customer(ctx)
    rows = [
        {"workspace_id": 1, "actor_type": "system", "action": "x.one", "details": {"n": 1}},
        {"workspace_id": 1, "actor_type": "system", "action": "x.two", "customer_id": cust},
    ]
    with ctx.uow() as uow:
        insert_rows(uow.session.connection(), A, rows[:1] + [dict(rows[0], action="x.three")])
    try:
        with ctx.uow() as uow:
            insert_rows(uow.session.connection(), A, [rows[1]])
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with ctx.read() as s:
        actions = s.scalars(select(A.c.action).where(A.c.action.like("x.%")).order_by(A.c.id)).all()
    assert actions == ["x.one", "x.three"]  # the rolled-back row is not there
    with ctx.uow() as uow:  # ids continue after the largest, also after a delete
        conn = uow.session.connection()
        (tid,) = insert_rows_ids(conn, T, [{"workspace_id": 1, "number": 1, "customer_id": cust}])
        a, b = insert_rows_ids(conn, C, [{"ticket_id": tid, "channel": "x"}] * 2)
        conn.execute(delete(C).where(C.c.id == b))
        (c,) = insert_rows_ids(conn, C, [{"ticket_id": tid, "channel": "y"}])
    assert b == a + 1 and c > a


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(ctx: AppContext) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    cust = _customer(ctx)
    row = {"workspace_id": 1, "number": 424242, "customer_id": cust}
    with ctx.uow() as uow:
        insert_rows_ids(uow.session.connection(), T, [row])
    with pytest.raises(IntegrityError):  # the ticket number is unique
        with ctx.uow() as uow:
            insert_rows(uow.session.connection(), T, [row])


def test_json_columns_read_what_older_rows_hold(ctx: AppContext) -> None:
    """JSON is read with orjson; text it refuses (NaN, integers beyond 64 bits, which
    `json.dumps` could write) still reads as `json.loads` reads it."""
    import math

    from paydesk.store.db import json_value

    assert json_value('{"a": [1, "é"]}') == {"a": [1, "é"]}
    odd = json_value('{"n": NaN, "big": 123456789012345678901234567890}')
    assert math.isnan(odd["n"]) and odd["big"] == 123456789012345678901234567890
    with ctx.uow() as uow:
        uow.session.execute(
            insert(A),
            [{"workspace_id": 1, "at": AT, "actor_type": "system", "action": "t", "details": {}}],
        )
    with ctx.engine.begin() as conn:
        newest = conn.execute(select(A.c.id).order_by(A.c.id.desc()).limit(1)).scalar_one()
        if ctx.dialect == "sqlite":  # as json.dumps wrote it (PostgreSQL's json refuses NaN)
            conn.execute(
                text("UPDATE audit_events SET details = :d WHERE id = :i"),
                {"d": '{"big": 123456789012345678901234567890, "n": NaN}', "i": newest},
            )
    with ctx.read() as s:
        details = s.execute(select(A.c.details).where(A.c.id == newest)).scalar_one()
    if ctx.dialect == "sqlite":
        assert details["big"] == 123456789012345678901234567890 and math.isnan(details["n"])
    else:
        assert details == {}


def test_rows_with_different_keys_are_refused_not_half_written(ctx: AppContext) -> None:
    """SQLAlchemy's executemany takes the first row's columns: a later row's extra value would be
    dropped without a word. Both helpers refuse such rows, on every database, and write none."""
    import pytest

    rows = [{"workspace_id": 1, "name": "A"}, {"workspace_id": 1, "name": "B", "locale": "zh-CN"}]
    for helper in (insert_rows, insert_rows_ids):
        with pytest.raises(ValueError, match="different keys"):
            with ctx.uow() as uow:
                helper(uow.session.connection(), CU, [dict(r) for r in rows])
    with ctx.read() as s:
        assert s.scalar(select(text("count(*)")).select_from(CU)) == 0
