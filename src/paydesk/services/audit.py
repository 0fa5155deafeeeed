"""Audit trail: append-only events, sealed into a hash chain.

`record` only inserts (no lock, so intake stays fast on PostgreSQL); `seal_chain` links unsealed
events in id order — hash = sha256(prev_hash + canonical JSON of the event) — and runs after
commits and periodically. `verify_chain` recomputes the chain and reports the first broken link.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from paydesk.services.actors import Actor
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: int | None = None,
    customer_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    ev = AuditEvent(
        workspace_id=actor.workspace_id,
        at=at or utcnow(),
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        customer_id=customer_id,
        details=details or {},
    )
    session.add(ev)
    return ev


def event_digest(prev_hash: str, ev: AuditEvent) -> str:
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


def seal_chain(session: Session, batch: int = 5000) -> int:
    """Chain every unsealed event (caller commits). Returns how many were sealed.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent sealers take turns.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.hash != "").order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    prev = last.hash if last else ""
    after = last.id if last else 0
    todo = session.scalars(
        select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
    ).all()
    for ev in todo:
        ev.prev_hash = prev
        ev.hash = event_digest(prev, ev)
        prev = ev.hash
    return len(todo)


def verify_chain(session: Session) -> int | None:
    """Id of the first event whose hash does not match, or None when the sealed chain is intact."""
    prev = ""
    for ev in session.scalars(
        select(AuditEvent).where(AuditEvent.hash != "").order_by(AuditEvent.id)
    ):
        if ev.prev_hash != prev or ev.hash != event_digest(prev, ev):
            return ev.id
        prev = ev.hash
    return None
