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
refunds once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from paydesk.domain.errors import NotFound
from paydesk.payments.money import format_amount
from paydesk.payments.port import PlatformRejected, PlatformUnavailable, Refund
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_customer_notice, add_system_note, platform
from paydesk.services.refund_followup import follow_up_failure
from paydesk.store.accounts import RefundRequest
from paydesk.store.base import utcnow
from paydesk.store.tickets import Ticket

log = logging.getLogger(__name__)

MAX_POLL_SECONDS = 3600  # a refund processing for days is asked about at most hourly
# platform status -> request status ("reversed": the platform took a refund back)
FINAL = {"succeeded": "succeeded", "failed": "failed", "reversed": "failed"}
FOLLOWED = ("submitted", "unconfirmed")  # the states a platform answer moves on
# the platform keeps idempotency keys >= 30 days: past this age a re-send with the same key is
# no longer provably harmless, so a supervisor decides instead
KEY_RETENTION = timedelta(days=25)
LOOKUP_LIMIT = 100  # the account's latest refunds searched for a request's idempotency key

NOTICE = {
    "en": {
        "succeeded": "Your refund of {amount} {currency} for transaction {txn} is complete "
        "(reference {ref}). The money goes back the way you paid; a bank card can take a few "
        "business days to show it.",
        "failed": "We could not complete your refund of {amount} {currency} for transaction "
        "{txn}. Our team has been told and will contact you; you do not need to do anything.",
        "reversed": "Your refund of {amount} {currency} for transaction {txn} (reference {ref}) "
        "was reversed by the payment platform, so the money has not reached you. Our team has "
        "been told and will contact you; you do not need to do anything.",
    },
    "zh-CN": {
        "succeeded": "您交易 {txn} 的退款 {amount} {currency} 已完成（退款编号 {ref}），"
        "款项将原路退回；退回银行卡可能需要几个工作日到账。",
        "failed": "您交易 {txn} 的退款 {amount} {currency} 未能完成。"
        "客服已收到通知并会与您联系，您无需进行任何操作。",
        "reversed": "您交易 {txn} 的退款 {amount} {currency}（退款编号 {ref}）已被支付平台撤销，"
        "款项未能退回。客服已收到通知并会与您联系，您无需进行任何操作。",
    },
}


def notice_text(req: RefundRequest, status: str, locale: str) -> str:
    texts = NOTICE.get(locale, NOTICE["en"])
    return texts[status].format(
        amount=format_amount(req.amount_minor, req.currency),
        currency=req.currency,
        txn=req.transaction_id,
        ref=req.platform_refund_id or "—",
    )


# sending ------------------------------------------------------------------------------------


def send_to_platform(
    ctx: AppContext, actor: Actor, req: RefundRequest, *, interactive: bool
) -> None:
    """Call the platform for a request this caller has claimed (status `executing`), with the
    request's idempotency key, and record the answer. No clear answer (timeout, garbage, platform
    down) → `unconfirmed`: the job then looks the refund up on the platform before anything is
    sent again (an interactive caller also gets the 503). Refused → `failed`."""
    try:
        refund = platform(ctx).request_refund(
            req.transaction_id, req.amount_minor, req.currency, req.reason, req.idempotency_key
        )
    except PlatformUnavailable as exc:
        action = "refund.execute_failed" if interactive else "refund.retry_failed"
        _finish(
            ctx,
            actor,
            req,
            "unconfirmed",
            action,
            {"error": exc.message, "attempt": req.attempts},
            failure=f"no clear answer from the payment platform: {exc.message}",
            note=None
            if req.attempts > 1
            else f"Refund #{req.id}: no clear answer from the payment platform ({exc.message}). "
            "paydesk looks it up on the platform by the request's idempotency key until it has "
            "a definite answer, and never sends a second refund.",
        )
        if interactive:
            raise
        return
    except (PlatformRejected, NotFound) as exc:
        _finish(
            ctx,
            actor,
            req,
            "failed",
            "refund.failed",
            {"error": exc.message},
            failure=exc.message,
            note=f"Refund #{req.id} failed on the payment platform: {exc.message}",
            notify=not interactive,
        )
        if interactive:
            raise PlatformRejected(exc.message) from None
        return
    status = FINAL.get(refund.status, "submitted")
    retry = f", attempt {req.attempts}, same idempotency key" if req.attempts > 1 else ""
    _finish(
        ctx,
        actor,
        req,
        status,
        "refund.executed",
        {
            "platform_refund_id": refund.id,
            "platform_status": refund.status,
            "attempt": req.attempts,
        },
        platform_refund_id=refund.id,
        platform_status=refund.status,
        failure=refund.failure_reason if status == "failed" else None,
        note=f"Refund #{req.id} sent to the payment platform as {refund.id} "
        f"({refund.status}{retry}).",
        notify=not interactive and status != "submitted",
    )


def _finish(
    ctx: AppContext,
    actor: Actor,
    req: RefundRequest,
    status: str,
    action: str,
    details: dict[str, Any],
    *,
    failure: str | None = None,
    platform_refund_id: str | None = None,
    platform_status: str | None = None,
    note: str | None = None,
    notify: bool = False,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now, "failure_reason": None}
    if failure is not None:
        values["failure_reason"] = failure[:500]
    if platform_refund_id is not None:
        values["platform_refund_id"] = platform_refund_id
        values["platform_status"] = platform_status
    if status in ("submitted", "unconfirmed"):
        values["next_check_at"] = now + _poll_interval(ctx, timedelta(0))
    elif status == "succeeded":
        values["next_check_at"] = _watch_next(ctx, now, now)
    with ctx.uow() as uow:
        s = uow.session
        res = s.execute(
            update(RefundRequest)
            .where(RefundRequest.id == req.id, RefundRequest.status == "executing")
            .values(**values)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return  # another process recorded an answer first (same key, same refund)
        audit.record(
            s,
            actor,
            action,
            object_type="refund_request",
            object_id=req.id,
            customer_id=req.customer_id,
            details=details,
        )
        ticket = s.get(Ticket, req.ticket_id)
        if ticket is not None:
            if note:
                add_system_note(ctx, uow, ticket, note)
            fresh = s.get(RefundRequest, req.id)
            assert fresh is not None
            if notify and status in FINAL:
                add_customer_notice(ctx, uow, ticket, notice_text(fresh, status, _locale(ticket)))
            if status == "failed":
                follow_up_failure(ctx, uow, fresh, ticket)


def _locale(ticket: Ticket) -> str:
    return ticket.locale if ticket.locale in NOTICE else "en"


# recording what the platform says -------------------------------------------------------------


def record_platform_status(ctx: AppContext, request_id: int, refund: Refund) -> bool:
    """Record what the platform says about a request that is `submitted` or `unconfirmed` (or
    `succeeded`, watched for a reversal). A final answer moves the request once (conditional
    UPDATE on the status read): the winner audits it, tells the customer in their language on the
    ticket (delivered by the ticket's channel) and, on failure or reversal, leaves a note for the
    agents, reopens a solved/closed ticket and alerts its owners. An `unconfirmed` request the
    platform has as processing becomes `submitted`. Returns True when this call moved it."""
    new = FINAL.get(refund.status)
    reversal = refund.status == "reversed"
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        current = s.scalar(select(RefundRequest.status).where(RefundRequest.id == request_id))
        if current not in FOLLOWED and not (reversal and current == "succeeded"):
            return False
        if new is None and current == "submitted":  # still processing: remember what it said
            s.execute(
                update(RefundRequest)
                .where(
                    RefundRequest.id == request_id,
                    RefundRequest.status == "submitted",
                    or_(
                        RefundRequest.platform_status.is_(None),
                        RefundRequest.platform_status != refund.status,
                    ),
                )
                .values(platform_status=refund.status)
            )
            return False
        values: dict[str, Any] = {
            "status": new or "submitted",
            "platform_refund_id": refund.id,
            "platform_status": refund.status,
            "updated_at": now,
            "failure_reason": None,
            "next_check_at": None,
        }
        if new is None:  # unconfirmed, and the platform has it: follow it like a submitted one
            values["next_check_at"] = now + _poll_interval(ctx, timedelta(0))
        elif new == "succeeded":
            values["next_check_at"] = _watch_next(ctx, now, now)
        else:
            why = "reversed by the payment platform" if reversal else "refused by the platform"
            values["failure_reason"] = (refund.failure_reason or why)[:500]
        res = s.execute(
            update(RefundRequest)
            .where(RefundRequest.id == request_id, RefundRequest.status == current)
            .values(**values)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return False
        req = s.get(RefundRequest, request_id)
        assert req is not None
        action = "refund.reconciled" if new is None else f"refund.{new}"
        audit.record(
            s,
            system_actor(req.workspace_id),
            "refund.reversed" if reversal else action,
            object_type="refund_request",
            object_id=req.id,
            customer_id=req.customer_id,
            details={
                "from": current,
                "platform_refund_id": refund.id,
                "platform_status": refund.status,
                "failure_reason": refund.failure_reason,
            },
        )
        ticket = s.get(Ticket, req.ticket_id)
        if ticket is None:
            return True
        if current == "unconfirmed":
            add_system_note(
                ctx,
                uow,
                ticket,
                f"Refund #{req.id} found on the payment platform as {refund.id} "
                f"({refund.status}); recorded — nothing was sent again.",
            )
        if new is None:
            return True
        add_customer_notice(
            ctx, uow, ticket, notice_text(req, "reversed" if reversal else new, _locale(ticket))
        )
        if new == "failed":
            add_system_note(
                ctx,
                uow,
                ticket,
                f"Refund #{req.id} ({refund.id}) "
                + ("was reversed by" if reversal else "failed on")
                + f" the payment platform: {values['failure_reason']}. "
                "The customer was told we will contact them.",
            )
            follow_up_failure(ctx, uow, req, ticket, reversed_=reversal)
    return True


def find_platform_refund(ctx: AppContext, req: RefundRequest) -> Refund | None:
    """The platform's refund for a request: by its refund id when we have one, else (or when the
    platform does not know that id) among the account's latest refunds by the request's
    idempotency key. None means the platform answered and holds no such refund; it raises
    `PlatformUnavailable` when there is no definite answer."""
    p = platform(ctx)
    if req.platform_refund_id:
        try:
            return p.get_refund(req.platform_refund_id)
        except NotFound:
            pass
    try:
        items = p.list_refunds(req.account_id, limit=LOOKUP_LIMIT)
    except NotFound:
        return None
    return next((r for r in items if r.idempotency_key == req.idempotency_key), None)


# following submitted (and watching succeeded) refunds ------------------------------------------


def _poll_interval(ctx: AppContext, age: timedelta) -> timedelta:
    """Ask often about a fresh refund, rarely about one that has been processing for days."""
    base = max(1.0, ctx.settings.refund_sync_seconds or 30.0)
    return timedelta(seconds=min(MAX_POLL_SECONDS, max(base, age.total_seconds() / 4)))


def _watch_next(ctx: AppContext, since: datetime, now: datetime) -> datetime | None:
    """A succeeded refund is re-checked for a reversal after 1 h, then each time at twice its
    age (2 h, 4 h …) until `refund_reversal_watch_seconds` — about eight calls a week."""
    watch = ctx.settings.refund_reversal_watch_seconds
    if watch <= 0:
        return None
    nxt = now + timedelta(seconds=max(3600.0, (now - since).total_seconds()))
    return nxt if nxt - since <= timedelta(seconds=watch) else None


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
            return _watch_next(ctx, r.updated_at, now)
        return now + _poll_interval(ctx, now - r.updated_at)

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
    _flag(
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
    rows = _claim(ctx, due, limit, lambda r: now + _poll_interval(ctx, now - r.updated_at))
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
            if _flag(ctx, request_id, version, "unconfirmed", req.attempts, now, reason=reason)
            else "skipped"
        )  # noqa: E501
    if req.attempts > ctx.settings.refund_max_retries:
        flagged = _flag(ctx, request_id, version, "unconfirmed", req.attempts, now)
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


def retry_delay(ctx: AppContext, attempts: int) -> timedelta:
    """How long after its last attempt a request may be sent again: N, 2N, 4N … minutes."""
    return timedelta(seconds=ctx.settings.refund_stuck_seconds * 2 ** max(0, attempts - 1))


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
            out["flagged"] += _flag(ctx, rid, version, status, attempts, now)
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


def _flag(
    ctx: AppContext,
    rid: int,
    version: Any,
    status: str,
    attempts: int,
    now: datetime,
    *,
    reason: str = "",
) -> int:
    reason = reason or (
        f"no answer recorded from the payment platform after {attempts} attempts "
        "(same idempotency key each time); check the platform, then retry or contact support"
    )
    with ctx.uow() as uow:
        s = uow.session
        res = s.execute(
            update(RefundRequest)
            .where(version)
            .values(status="stuck", failure_reason=reason[:500], updated_at=now, next_check_at=None)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        req = s.get(RefundRequest, rid)
        assert req is not None
        audit.record(
            s,
            system_actor(req.workspace_id),
            "refund.flagged",
            object_type="refund_request",
            object_id=rid,
            customer_id=req.customer_id,
            details={"from": status, "attempts": attempts, "reason": reason},
        )
        ticket = s.get(Ticket, req.ticket_id)
        if ticket is not None:
            add_system_note(
                ctx,
                uow,
                ticket,
                f"Refund #{rid} needs a supervisor: {reason}. See /agent/refunds.",
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
