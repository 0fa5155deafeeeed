"""The refund lifecycle after approval: sending a request to the platform, following it there
until it completes, reconciling answers we never got, and recovering executions that a crash or
an outage left behind.

    approved ──claim──► executing ──send──► submitted ──poll──► succeeded ──(watch)──► reversed
       ▲                   │ │ └─(timeout, garbage: answer unknown)─► unconfirmed       = failed
       │                   │ └─(crash: no answer recorded, older than N min)─► unconfirmed
       │                   └─(refused)─► failed                                    (ticket
    unconfirmed ──lookup by refund id / idempotency key──► found: submitted | final   reopened,
       │  (unavailable: checked again with backoff)     └► not there: re-sent,     owners alerted,
       │                                                   SAME key, with backoff    customer told)
       └─(retries exhausted, key too old, platform lost a refund)─► stuck (a supervisor decides)

`run_once(ctx)` does one round of all jobs; the server runs it every `refund_sync_seconds` in
its background loop and `paydesk refunds sync` runs it from cron. Several processes may run it at
once: rows are claimed with conditional UPDATEs (and `FOR UPDATE SKIP LOCKED` on PostgreSQL), and
every final transition is a conditional UPDATE whose single winner writes the customer notice and
the audit event — so a customer is told once. The platform is only asked to refund again after it
said it has no refund with the request's idempotency key, and then with that same key — so it
refunds once. The exchange itself (send, record, look up, flag) is `services/refund_platform.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from paydesk.domain.errors import NotFound
from paydesk.payments.port import PlatformUnavailable
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.payments import platform
from paydesk.services.refund_platform import (
    FINAL,
    find_platform_refund,
    flag,
    poll_interval,
    record_platform_status,
    retry_delay,
    send_to_platform,
    watch_next,
)
from paydesk.store.accounts import RefundRequest
from paydesk.store.base import utcnow

log = logging.getLogger(__name__)

# the platform keeps idempotency keys >= 30 days: past this age a re-send with the same key is
# no longer provably harmless, so a supervisor decides instead
KEY_RETENTION = timedelta(days=25)


# following submitted (and watching succeeded) refunds ------------------------------------------


def _claim(
    ctx: AppContext, due: Any, limit: int, lease: Callable[[RefundRequest], datetime | None]
) -> list[RefundRequest]:
    """Claim due rows in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the single
    writer on SQLite) by moving their `next_check_at` forward: other processes skip them until
    then. Returns the rows (detached, as read)."""
    with ctx.read() as s:  # cheap check first: no write transaction when nothing is due
        if s.scalar(select(RefundRequest.id).where(due).limit(1)) is None:
            return []
    with ctx.uow() as uow:
        stmt = select(RefundRequest).where(due).order_by(RefundRequest.id).limit(limit)
        if ctx.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(uow.session.scalars(stmt))
        for r in rows:
            r.next_check_at = lease(r)
        uow.session.flush()
        uow.session.expunge_all()
        return rows


def sync_submitted(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 100
) -> dict[str, int]:
    """Poll the platform for submitted refunds that are due (and succeeded ones watched for a
    reversal) and record final answers."""
    now = now or utcnow()
    out = {"checked": 0, "succeeded": 0, "failed": 0, "unavailable": 0, "unknown": 0}
    due = and_(
        RefundRequest.platform_refund_id.is_not(None),
        or_(
            and_(
                RefundRequest.status == "submitted",
                or_(RefundRequest.next_check_at.is_(None), RefundRequest.next_check_at <= now),
            ),
            and_(RefundRequest.status == "succeeded", RefundRequest.next_check_at <= now),
        ),
    )

    def lease(r: RefundRequest) -> datetime | None:
        if r.status == "succeeded":
            return watch_next(ctx, r.updated_at, now)
        return now + poll_interval(ctx, now - r.updated_at)

    for req in _claim(ctx, due, limit, lease):
        try:
            refund = platform(ctx).get_refund(req.platform_refund_id or "")
        except PlatformUnavailable as exc:
            log.warning("refund sync: platform unavailable (%s); next round", exc.message)
            out["unavailable"] += 1
            break  # the claimed rows come due again at their next check (backed off)
        except NotFound:
            log.warning("refund sync: the platform does not know refund %s", req.platform_refund_id)
            out["unknown"] += 1
            if req.status == "submitted":
                _platform_lost(ctx, req, now)
            continue
        out["checked"] += 1
        if record_platform_status(ctx, req.id, refund) and refund.status in FINAL:
            out[FINAL[refund.status]] += 1
    return out


def _platform_lost(ctx: AppContext, req: RefundRequest, now: datetime) -> None:
    """The platform does not know a refund id it gave us: look for the request's key once more,
    else flag it for a supervisor (never re-sent automatically: the platform confirmed it once)."""
    try:
        found = find_platform_refund(ctx, req)
    except PlatformUnavailable:
        return  # checked again at its next poll
    if found is not None and found.id != req.platform_refund_id:
        record_platform_status(ctx, req.id, found)
        return
    version = and_(RefundRequest.id == req.id, RefundRequest.status == "submitted")
    flag(
        ctx,
        req.id,
        version,
        "submitted",
        req.attempts,
        now,
        reason=f"the payment platform no longer knows refund {req.platform_refund_id} and has "
        "no refund with this request's idempotency key; check the platform before any retry",
    )


# reconciling unknown answers -------------------------------------------------------------------


def reconcile_unconfirmed(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 50
) -> dict[str, int]:
    """Requests whose platform answer we never got (`unconfirmed`): when due (backed off like a
    poll: 30 s, then a quarter of the time since the last attempt, at most hourly) look each up on
    the platform (`reconcile_one`)."""
    now = now or utcnow()
    out = {"reconciled": 0, "resent": 0, "waiting": 0, "flagged": 0, "unavailable": 0}
    due = and_(
        RefundRequest.status == "unconfirmed",
        or_(RefundRequest.next_check_at.is_(None), RefundRequest.next_check_at <= now),
    )
    rows = _claim(ctx, due, limit, lambda r: now + poll_interval(ctx, now - r.updated_at))
    for req in rows:
        outcome = reconcile_one(ctx, req.id, now=now)
        out[outcome] = out.get(outcome, 0) + 1
        if outcome == "unavailable":
            break  # the platform is not answering: the claimed rows come due again later
    return out


def reconcile_one(
    ctx: AppContext,
    request_id: int,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
    force: bool = False,
) -> str:
    """Settle one `unconfirmed` request with a definite answer from the platform:

    - the platform has a refund for it (by refund id, or by idempotency key) → recorded as it is
      (`reconciled`; submitted/succeeded/failed, the customer told once) — nothing sent again;
    - it answered and has none → the refund was never made: re-sent with the SAME key once the
      backoff has passed (`resent`; `waiting` before that, `force` skips the wait), or flagged
      `stuck` after `refund_max_retries` or when the key is older than the platform keeps keys;
    - no definite answer (timeout, garbage) → `unavailable`: asked again later.
    Returns the outcome (`skipped` when another process got there first)."""
    now = now or utcnow()
    with ctx.read() as s:
        req = s.get(RefundRequest, request_id)
        if req is None or req.status != "unconfirmed":
            return "skipped"
        s.expunge(req)
    try:
        found = find_platform_refund(ctx, req)
    except PlatformUnavailable as exc:
        log.warning("refund reconcile #%s: no answer (%s)", request_id, exc.message)
        return "unavailable"
    if found is not None:
        return "reconciled" if record_platform_status(ctx, request_id, found) else "skipped"
    version = and_(
        RefundRequest.id == request_id,
        RefundRequest.status == "unconfirmed",
        RefundRequest.attempts == req.attempts,
    )
    if now - req.created_at > KEY_RETENTION:
        reason = (
            "the payment platform has no refund for this request, and its idempotency key is "
            "older than the platform keeps keys; a retry could refund twice: check first"
        )
        return (
            "flagged"
            if flag(ctx, request_id, version, "unconfirmed", req.attempts, now, reason=reason)
            else "skipped"
        )
    if req.attempts > ctx.settings.refund_max_retries:
        flagged = flag(ctx, request_id, version, "unconfirmed", req.attempts, now)
        return "flagged" if flagged else "skipped"
    if not force and now - req.updated_at < retry_delay(ctx, req.attempts):
        return "waiting"
    with ctx.uow() as uow:
        won = uow.session.execute(
            update(RefundRequest)
            .where(version)
            .values(status="executing", attempts=req.attempts + 1, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            return "skipped"
        audit.record(
            uow.session,
            actor or system_actor(req.workspace_id),
            "refund.retried",
            object_type="refund_request",
            object_id=request_id,
            customer_id=req.customer_id,
            details={
                "from": "unconfirmed",
                "attempt": req.attempts + 1,
                "same_key": True,
                "platform_has_none": True,
            },
        )
    req.status, req.attempts = "executing", req.attempts + 1
    send_to_platform(ctx, actor or system_actor(req.workspace_id), req, interactive=False)
    return "resent"


# recovering stalled executions --------------------------------------------------------------


def retry_stalled(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 50
) -> dict[str, int]:
    """Executions left behind, once their backoff has passed (N minutes after the last attempt,
    then 2N, 4N …):

    - `executing` (the process died between the platform call and recording its answer): the
      answer is unknown, so it becomes `unconfirmed` and is looked up before anything is re-sent;
    - `approved` (a crash before the first call): sent with the request's idempotency key.
    After `refund_max_retries` retries a request becomes `stuck` for a supervisor."""
    now = now or utcnow()
    first = now - timedelta(seconds=ctx.settings.refund_stuck_seconds)
    out = {"retried": 0, "flagged": 0, "interrupted": 0}
    with ctx.read() as s:
        rows = s.execute(
            select(RefundRequest.id, RefundRequest.status, RefundRequest.attempts)
            .where(
                RefundRequest.status.in_(("executing", "approved")),
                RefundRequest.updated_at < first,
            )
            .order_by(RefundRequest.updated_at)
            .limit(limit)
        ).all()
    for rid, status, attempts in rows:
        # (status, attempts) is the row's version: every claim increments attempts
        version = and_(
            RefundRequest.id == rid,
            RefundRequest.status == status,
            RefundRequest.attempts == attempts,
            RefundRequest.updated_at < now - retry_delay(ctx, attempts),
        )
        if status == "executing":
            out["interrupted"] += _interrupted(ctx, rid, version, now)
            continue
        if attempts > ctx.settings.refund_max_retries:
            out["flagged"] += flag(ctx, rid, version, status, attempts, now)
            continue
        with ctx.uow() as uow:
            won = uow.session.execute(
                update(RefundRequest)
                .where(version)
                .values(status="executing", attempts=attempts + 1, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            continue
        with ctx.read() as s:
            req = s.get(RefundRequest, rid)
            assert req is not None
        with ctx.uow() as uow:
            audit.record(
                uow.session,
                system_actor(req.workspace_id),
                "refund.retried",
                object_type="refund_request",
                object_id=rid,
                customer_id=req.customer_id,
                details={"from": status, "attempt": req.attempts, "same_key": True},
            )
        send_to_platform(ctx, system_actor(req.workspace_id), req, interactive=False)
        out["retried"] += 1
    return out


def _interrupted(ctx: AppContext, rid: int, version: Any, now: datetime) -> int:
    """An execution that never recorded the platform's answer: hand it to reconciliation (due at
    once; `updated_at` keeps the time of the attempt, which the re-send backoff counts from)."""
    with ctx.uow() as uow:
        s = uow.session
        res = s.execute(
            update(RefundRequest)
            .where(version)
            .values(
                status="unconfirmed",
                next_check_at=now,
                failure_reason="no answer recorded (the process stopped during the platform call)",
            )
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        req = s.get(RefundRequest, rid)
        assert req is not None
        audit.record(
            s,
            system_actor(req.workspace_id),
            "refund.unconfirmed",
            object_type="refund_request",
            object_id=rid,
            customer_id=req.customer_id,
            details={"from": "executing", "attempt": req.attempts},
        )
    return 1


# the job ------------------------------------------------------------------------------------


def run_once(ctx: AppContext, *, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """One round: recover stalled executions, reconcile unknown answers, then follow submitted
    (and watched succeeded) refunds. Returns the counts of all three (summed where they share a
    name, e.g. `flagged`)."""
    now = now or utcnow()
    out: dict[str, int] = {}
    for part in (
        retry_stalled(ctx, now=now, limit=limit),
        reconcile_unconfirmed(ctx, now=now, limit=limit),
        sync_submitted(ctx, now=now, limit=limit),
    ):
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return out


async def refund_loop(ctx: AppContext) -> None:
    """The server's background loop (every `refund_sync_seconds`; 0 turns it off)."""
    interval = ctx.settings.refund_sync_seconds
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(run_once, ctx)
        except Exception:
            log.exception("refund job failed")


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("background", []).append(refund_loop)
