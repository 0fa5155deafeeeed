"""The refund lifecycle after approval: sending a request to the platform, following it there
until it completes, and recovering executions that a crash or an outage left behind.

    approved ──claim──► executing ──send──► submitted ──poll──► succeeded | failed
       ▲   (platform down) │  │                              (customer notified, audited)
       └───────────────────┘  └─(crash: no answer recorded)─► executing, older than N minutes
    executing/approved after retries ──► re-sent with the SAME idempotency key, with backoff
                                     └─► stuck (retries exhausted: a supervisor decides)

`run_once(ctx)` does one round of both jobs; the server runs it every `refund_sync_seconds` in
its background loop and `paydesk refunds sync` runs it from cron. Several processes may run it at
once: rows are claimed with conditional UPDATEs (and `FOR UPDATE SKIP LOCKED` on PostgreSQL), and
every final transition is a conditional UPDATE whose single winner writes the customer notice and
the audit event — so a customer is told once, and the platform is asked with the request's
idempotency key, so it refunds once.
"""

from __future__ import annotations

import asyncio
import logging
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
from paydesk.store.accounts import RefundRequest
from paydesk.store.base import utcnow
from paydesk.store.tickets import Ticket

log = logging.getLogger(__name__)

MAX_POLL_SECONDS = 3600  # a refund processing for days is asked about at most hourly
FINAL = {"succeeded": "succeeded", "failed": "failed"}  # platform status -> request status

NOTICE = {
    "en": {
        "succeeded": "Your refund of {amount} {currency} for transaction {txn} is complete "
        "(reference {ref}). The money goes back the way you paid; a bank card can take a few "
        "business days to show it.",
        "failed": "We could not complete your refund of {amount} {currency} for transaction "
        "{txn}. Our team has been told and will contact you; you do not need to do anything.",
    },
    "zh-CN": {
        "succeeded": "您交易 {txn} 的退款 {amount} {currency} 已完成（退款编号 {ref}），"
        "款项将原路退回；退回银行卡可能需要几个工作日到账。",
        "failed": "您交易 {txn} 的退款 {amount} {currency} 未能完成。"
        "客服已收到通知并会与您联系，您无需进行任何操作。",
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
    request's idempotency key, and record the answer. Platform down → back to `approved`
    (retried later by the job; an interactive caller gets the 503). Refused → `failed`."""
    try:
        refund = platform(ctx).request_refund(
            req.transaction_id, req.amount_minor, req.currency, req.reason, req.idempotency_key
        )
    except PlatformUnavailable as exc:
        action = "refund.execute_failed" if interactive else "refund.retry_failed"
        _finish(
            ctx, actor, req, "approved", action, {"error": exc.message, "attempt": req.attempts}
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
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if failure is not None:
        values["failure_reason"] = failure[:500]
    if platform_refund_id is not None:
        values["platform_refund_id"] = platform_refund_id
        values["platform_status"] = platform_status
    if status == "submitted":
        values["next_check_at"] = now + _poll_interval(ctx, timedelta(0))
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
            if notify and status in FINAL:
                fresh = s.get(RefundRequest, req.id)
                assert fresh is not None
                add_customer_notice(ctx, uow, ticket, notice_text(fresh, status, _locale(ticket)))


def _locale(ticket: Ticket) -> str:
    return ticket.locale if ticket.locale in NOTICE else "en"


# following submitted refunds ----------------------------------------------------------------


def record_platform_status(ctx: AppContext, request_id: int, refund: Refund) -> bool:
    """Record what the platform says about a submitted refund. A final answer moves the request
    to succeeded/failed once (conditional UPDATE): the winner audits it, tells the customer in
    their language on the ticket (delivered by the ticket's channel) and, on failure, leaves a
    note for the agents. Returns True when this call made the transition."""
    new = FINAL.get(refund.status)
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        if new is None:  # still processing: remember what the platform said, nothing else
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
            "status": new,
            "platform_status": refund.status,
            "updated_at": now,
            "next_check_at": None,
        }
        if new == "failed":
            values["failure_reason"] = (refund.failure_reason or "refused by the platform")[:500]
        res = s.execute(
            update(RefundRequest)
            .where(RefundRequest.id == request_id, RefundRequest.status == "submitted")
            .values(**values)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return False
        req = s.get(RefundRequest, request_id)
        assert req is not None
        audit.record(
            s,
            system_actor(req.workspace_id),
            f"refund.{new}",
            object_type="refund_request",
            object_id=req.id,
            customer_id=req.customer_id,
            details={
                "platform_refund_id": refund.id,
                "platform_status": refund.status,
                "failure_reason": refund.failure_reason,
            },
        )
        ticket = s.get(Ticket, req.ticket_id)
        if ticket is not None:
            add_customer_notice(ctx, uow, ticket, notice_text(req, new, _locale(ticket)))
            if new == "failed":
                add_system_note(
                    ctx,
                    uow,
                    ticket,
                    f"Refund #{req.id} ({refund.id}) failed on the payment platform: "
                    f"{values['failure_reason']}. The customer was told we will contact them.",
                )
    return True


def _poll_interval(ctx: AppContext, age: timedelta) -> timedelta:
    """Ask often about a fresh refund, rarely about one that has been processing for days."""
    base = max(1.0, ctx.settings.refund_sync_seconds or 30.0)
    return timedelta(seconds=min(MAX_POLL_SECONDS, max(base, age.total_seconds() / 4)))


def _claim_submitted(ctx: AppContext, now: datetime, limit: int) -> list[tuple[int, str]]:
    due = (
        RefundRequest.status == "submitted",
        RefundRequest.platform_refund_id.is_not(None),
        or_(RefundRequest.next_check_at.is_(None), RefundRequest.next_check_at <= now),
    )
    with ctx.read() as s:  # cheap check first: no write transaction when nothing is due
        if s.scalar(select(RefundRequest.id).where(*due).limit(1)) is None:
            return []
    with ctx.uow() as uow:
        stmt = select(RefundRequest).where(*due).order_by(RefundRequest.id).limit(limit)
        if ctx.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(uow.session.scalars(stmt))
        for r in rows:  # the lease: another process skips these until the next check is due
            r.next_check_at = now + _poll_interval(ctx, now - r.updated_at)
        return [(r.id, r.platform_refund_id or "") for r in rows]


def sync_submitted(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 100
) -> dict[str, int]:
    """Poll the platform for submitted refunds that are due and record final answers."""
    out = {"checked": 0, "succeeded": 0, "failed": 0, "unavailable": 0, "unknown": 0}
    for request_id, refund_id in _claim_submitted(ctx, now or utcnow(), limit):
        try:
            refund = platform(ctx).get_refund(refund_id)
        except PlatformUnavailable as exc:
            log.warning("refund sync: platform unavailable (%s); next round", exc.message)
            out["unavailable"] += 1
            break  # the claimed rows come due again at their next check
        except NotFound:
            log.warning("refund sync: the platform does not know refund %s", refund_id)
            out["unknown"] += 1
            continue
        out["checked"] += 1
        if record_platform_status(ctx, request_id, refund):
            out[FINAL[refund.status]] += 1
    return out


# recovering stalled executions --------------------------------------------------------------


def retry_delay(ctx: AppContext, attempts: int) -> timedelta:
    """How long after its last attempt a request counts as stalled: N, 2N, 4N … minutes."""
    return timedelta(seconds=ctx.settings.refund_stuck_seconds * 2 ** max(0, attempts - 1))


def retry_stalled(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 50
) -> dict[str, int]:
    """Re-send requests left in `executing` (a crash between the platform call and our commit)
    or in `approved` (after a platform outage, or a crash before the first call) once their
    backoff has passed (N minutes after the last attempt, then 2N, 4N …), with the SAME
    idempotency key: the platform answers with the refund it already made, or makes it once.
    After `refund_max_retries` retries a request becomes `stuck` for a supervisor."""
    now = now or utcnow()
    first = now - timedelta(seconds=ctx.settings.refund_stuck_seconds)
    out = {"retried": 0, "flagged": 0}
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


def _flag(
    ctx: AppContext, rid: int, version: Any, status: str, attempts: int, now: datetime
) -> int:
    reason = (
        f"no answer recorded from the payment platform after {attempts} attempts "
        "(same idempotency key each time); check the platform, then retry or contact support"
    )
    with ctx.uow() as uow:
        s = uow.session
        res = s.execute(
            update(RefundRequest)
            .where(version)
            .values(status="stuck", failure_reason=reason[:500], updated_at=now)
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
            details={"from": status, "attempts": attempts},
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


def run_once(ctx: AppContext, *, now: datetime | None = None) -> dict[str, int]:
    """One round: recover stalled executions, then follow submitted refunds."""
    return {**retry_stalled(ctx, now=now), **sync_submitted(ctx, now=now)}


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
