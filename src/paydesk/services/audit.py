"""Audit trail: append-only events, sealed into a hash chain.

`record` only inserts (no lock, so intake stays fast on PostgreSQL); `seal_chain` links unsealed
events in id order — hash = sha256(prev_hash + canonical JSON of the event) — and runs after
commits and periodically. `verify_chain` recomputes the chain and reports the first broken link.
Sealed rows cannot be updated or deleted (database triggers, migration 0003_privacy).
String details pass through the redactor, so a secret can never be written into the trail.
`search_events` is the auditors' query (by customer, actor, action, time range).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from paydesk.domain.errors import InvalidInput
from paydesk.domain.permissions import Perm
from paydesk.domain.redaction import redact
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from paydesk.store.db import process_turn

MAX_PAGE = 200
_AUDIT = AuditEvent.__table__


def _clean(value: Any, depth: int = 0) -> Any:
    """Details with every string redacted (bounded depth: details are small by design)."""
    if isinstance(value, str):
        # a bare word ("api", "email") cannot hold a secret; everything else is redacted
        return value if len(value) < 3 or value.isalpha() else redact(value).text
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return value


def audit_row(
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: int | None = None,
    customer_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    details_redacted: bool = False,
) -> dict[str, Any]:
    """The column values of one unsealed audit event (details redacted). `details_redacted`:
    the caller built `details` only from text that has passed the redactor already (or from
    names and numbers of its own), so its strings are not scanned a second time (intake, while
    it holds the writer's turn)."""
    return {
        "workspace_id": actor.workspace_id,
        "at": at or utcnow(),
        "actor_type": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "customer_id": customer_id,
        "details": (details if details_redacted else _clean(details)) if details else {},
        "prev_hash": "",
        "hash": "",
    }


def record(session: Session, actor: Actor, action: str, **fields: Any) -> AuditEvent:
    """Add an audit event to the session (flushed with the caller's transaction).
    `fields`: object_type, object_id, customer_id, details, at — as `audit_row`."""
    ev = AuditEvent(**audit_row(actor, action, **fields))
    session.add(ev)
    return ev


def defer(uow: UnitOfWork, actor: Actor, action: str, **fields: Any) -> None:
    """`record` as a row the unit of work writes just before it commits, together with the other
    deferred rows of the transaction in one multi-row INSERT (the intake hooks' path)."""
    uow.defer_insert(_AUDIT, audit_row(actor, action, **fields))


def append(session: Session, actor: Actor, action: str, **fields: Any) -> None:
    """`record` as one INSERT with no ORM object (and nothing returned): for hot paths such as
    intake hooks, where an ORM flush per event costs more than the rest of the hook."""
    session.execute(insert(AuditEvent), [audit_row(actor, action, **fields)])


def event_digest(prev_hash: str, ev: Any) -> str:
    """Hash of one event chained to its predecessor's; `ev` is an AuditEvent or a row of its
    columns."""
    body = {
        "id": ev.id,
        "at": ev.at.isoformat(),
        "actor": [ev.actor_type, ev.actor_id, ev.actor_name],
        "action": ev.action,
        "object": [ev.object_type, ev.object_id],
        "customer_id": ev.customer_id,
        "details": ev.details,
    }
    return hashlib.sha256(
        prev_hash.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


_DIGESTED = (
    _AUDIT.c.id,
    _AUDIT.c.at,
    _AUDIT.c.actor_type,
    _AUDIT.c.actor_id,
    _AUDIT.c.actor_name,
    _AUDIT.c.action,
    _AUDIT.c.object_type,
    _AUDIT.c.object_id,
    _AUDIT.c.customer_id,
    _AUDIT.c.details,
)
_SEAL = (
    update(_AUDIT)
    .where(_AUDIT.c.id == bindparam("b_id"))
    .values(prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
)
SEAL_BATCH = 1000
SEAL_WRITE_ROWS = 200  # SQLite: rows sealed per write transaction
# PostgreSQL hands out ids before commit, so a transaction can commit an event with a lower id
# after a higher one is visible; sealing past it would leave it unsealed inside the chain. The
# background sealer only chains events whose transaction began this long ago (their `at`).
PG_SETTLE_SECONDS = 5.0


def _last_sealed(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(
        select(_AUDIT.c.id, _AUDIT.c.hash)
        .where(_AUDIT.c.hash != "")
        .order_by(_AUDIT.c.id.desc())
        .limit(1)
    ).first()
    return (row.id, row.hash) if row else None


def _links(
    conn: Connection, batch: int, before: datetime | None = None
) -> tuple[tuple[int, str] | None, list[dict[str, Any]]]:
    """The chain's sealed end, and the next unsealed events (oldest first, stopping at the first
    one not `before`) linked to it: the parameters of the sealing UPDATE."""
    tail = _last_sealed(conn)
    prev = tail[1] if tail else ""
    rows = conn.execute(
        select(*_DIGESTED)
        .where(_AUDIT.c.id > (tail[0] if tail else 0))
        .order_by(_AUDIT.c.id)
        .limit(batch)
    ).all()
    links = []
    for ev in rows:
        if before is not None and ev.at >= before:
            break
        digest = event_digest(prev, ev)
        links.append({"b_id": ev.id, "b_prev": prev, "b_hash": digest})
        prev = digest
    return tail, links


_SEALER_LOCK = 727001  # PostgreSQL advisory lock key: one sealer at a time


def _take_turn(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # concurrent sealers take turns
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEALER_LOCK})


def seal_chain(session: Session, batch: int = SEAL_BATCH) -> int:
    """Chain up to `batch` unsealed events, oldest first, in the caller's transaction (which
    commits). Returns how many were sealed: `batch` means more may be waiting."""
    session.flush()  # events added in the caller's transaction are chained too
    conn = session.connection()
    _take_turn(conn)
    _, links = _links(conn, batch)
    if links:
        conn.execute(_SEAL, links)
    return len(links)


def seal_pending(ctx: AppContext, *, wait: bool = True) -> int:
    """Seal everything unsealed (the background sealer, `audit verify`). Returns how many.

    One process seals at a time: the chain is the database's, and the workers of a server
    would otherwise each read and hash every event. On SQLite (a lock file beside the database)
    a sealer that finds another at work returns 0 at once when `wait` is false (the background
    sealer, which runs again in 2 s) and else waits its turn, then seals what is left. A batch is
    read and hashed outside any write transaction; the write transaction only checks that the
    chain's end has not moved and runs one UPDATE, so the desk's writers wait for milliseconds,
    not for a thousand hashes.

    On PostgreSQL a sealer that finds another at work always leaves the backlog to it; there, a
    transaction open while hashing blocks no other writer."""
    if ctx.dialect == "postgresql":
        return _seal_pending_pg(ctx)
    with process_turn(ctx.engine, "sealer", wait=wait) as turn:
        return _seal_pending_sqlite(ctx) if turn else 0


def _seal_pending_sqlite(ctx: AppContext) -> int:
    total = 0
    for _ in range(1000):  # bounded: a sealer that keeps losing races gives up until next time
        with ctx.read() as s:
            tail, links = _links(s.connection(), SEAL_BATCH)
        if not links:
            return total
        # written in short transactions: intake waits for the single writer's lock meanwhile
        # (1,000 rows in one had held it for 30-50 ms under load, a latency spike every 2 s)
        moved = False
        for start in range(0, len(links), SEAL_WRITE_ROWS):
            part = links[start : start + SEAL_WRITE_ROWS]
            end = tail if start == 0 else (links[start - 1]["b_id"], links[start - 1]["b_hash"])
            with ctx.uow() as uow:  # SQLite: the write lock keeps other sealers out meanwhile
                conn = uow.session.connection()
                if _last_sealed(conn) != end:
                    moved = True  # sealed meanwhile by another process: link from the new end
                    break
                _seal_rows_sqlite(conn, part)
            total += len(part)
        if moved:
            continue
        if len(links) < SEAL_BATCH:
            return total
    return total


def _seal_rows_sqlite(conn: Connection, links: list[dict[str, Any]]) -> None:
    """`_SEAL` for many rows in ONE statement (UPDATE … FROM VALUES): SQLite runs it in one
    step, where an executemany is a step per row, and the driver releases the GIL around each
    step: in a busy server process the sealer, holding the writer's lock, waited for the GIL
    once per row."""
    values = ", ".join(["(?, ?, ?)"] * len(links))
    params = [v for link in links for v in (link["b_id"], link["b_prev"], link["b_hash"])]
    conn.exec_driver_sql(
        "UPDATE audit_events SET prev_hash = v.column2, hash = v.column3 "  # noqa: S608
        f"FROM (VALUES {values}) AS v WHERE audit_events.id = v.column1",
        tuple(params),
    )


def _seal_pending_pg(ctx: AppContext) -> int:
    total = 0
    while True:
        with ctx.uow() as uow:
            conn = uow.session.connection()
            got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SEALER_LOCK})
            if not got.scalar():
                return total  # another process is sealing
            before = utcnow() - timedelta(seconds=PG_SETTLE_SECONDS)
            _, links = _links(conn, SEAL_BATCH, before)
            if links:
                conn.execute(_SEAL, links)
        total += len(links)
        if len(links) < SEAL_BATCH:
            return total


def verify_chain(session: Session) -> int | None:
    """Id of the first event whose hash does not match, or None when the sealed chain is intact."""
    return verify_report(session)["first_broken_id"]  # type: ignore[no-any-return]


def verify_report(session: Session) -> dict[str, Any]:
    """Walk the sealed chain in id order (streamed): counts and the first broken link.

    A link breaks when an event's content changed (hash mismatch), when an event was removed
    or inserted (prev_hash no longer the predecessor's hash), or when an unsealed row sits
    before a sealed one (someone blanked a hash)."""
    prev = ""
    sealed = 0
    broken: int | None = None
    reason = ""
    stmt = select(AuditEvent).where(AuditEvent.hash != "").order_by(AuditEvent.id)
    for ev in session.scalars(stmt.execution_options(yield_per=1000)):
        if ev.prev_hash != prev:
            broken, reason = ev.id, "prev_hash does not match the previous event (removed/inserted)"
            break
        if ev.hash != event_digest(prev, ev):
            broken, reason = ev.id, "content changed after sealing"
            break
        prev = ev.hash
        sealed += 1
    last_sealed = session.scalar(
        select(AuditEvent.id).where(AuditEvent.hash != "").order_by(AuditEvent.id.desc()).limit(1)
    )
    if broken is None and last_sealed is not None:
        gap = session.scalar(
            select(AuditEvent.id)
            .where(AuditEvent.hash == "", AuditEvent.id < last_sealed)
            .order_by(AuditEvent.id)
            .limit(1)
        )
        if gap is not None:
            broken, reason = gap, "an event before the sealed head has no hash (blanked)"
    unsealed = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.hash == "")
    )
    return {
        "ok": broken is None,
        "sealed": sealed,
        "unsealed": int(unsealed or 0),
        "first_broken_id": broken,
        "reason": reason,
        "head": prev,
    }


def search_events(
    session: Session,
    actor: Actor,
    *,
    customer_id: int | None = None,
    actor_type: str | None = None,
    actor_id: int | None = None,
    actor_name: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Auditor search, newest first; `before_id` pages backwards. Needs audit.read.

    `action` matches a prefix when it ends with "." or "*" ("ticket." → every ticket action).
    The search itself is audited (who looked at whose trail)."""
    actor.require(Perm.AUDIT_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if since and until and since > until:
        raise InvalidInput("since is after until", field="since")
    stmt = select(AuditEvent).where(AuditEvent.workspace_id == actor.workspace_id)
    if customer_id is not None:
        stmt = stmt.where(AuditEvent.customer_id == customer_id)
    if actor_type:
        stmt = stmt.where(AuditEvent.actor_type == actor_type)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if actor_name:
        stmt = stmt.where(AuditEvent.actor_name == actor_name)
    if action:
        if action.endswith(("*", ".")):
            prefix = action.rstrip("*")
            stmt = stmt.where(AuditEvent.action.startswith(prefix, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if until:
        stmt = stmt.where(AuditEvent.at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


def event_dict(ev: AuditEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "at": ev.at.isoformat(),
        "actor": {"type": ev.actor_type, "id": ev.actor_id, "name": ev.actor_name},
        "action": ev.action,
        "object": {"type": ev.object_type, "id": ev.object_id},
        "customer_id": ev.customer_id,
        "details": ev.details,
        "sealed": bool(ev.hash),
        "hash": ev.hash or None,
    }
