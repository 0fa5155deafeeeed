"""The refund request ↔ payment platform exchange, shared by the interactive actions
(`services/refunds.py`) and the background jobs (`services/refund_jobs.py`): sending a claimed
request with its idempotency key, recording what the platform says (once: conditional UPDATEs
whose single winner audits, tells the customer in the ticket's language and, on a failure or
reversal, runs the ticket follow-through of `services/refund_followup.py`), looking a refund up
by refund id / idempotency key, and flagging a request for a supervisor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

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

MAX_POLL_SECONDS = 3600  # a refund processing for days is asked about at most hourly
# platform status -> request status ("reversed": the platform took a refund back)
FINAL = {"succeeded": "succeeded", "failed": "failed", "reversed": "failed"}
FOLLOWED = ("submitted", "unconfirmed")  # the states a platform answer moves on
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
        values["next_check_at"] = now + poll_interval(ctx, timedelta(0))
    elif status == "succeeded":
        values["next_check_at"] = watch_next(ctx, now, now)
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
            values["next_check_at"] = now + poll_interval(ctx, timedelta(0))
        elif new == "succeeded":
            values["next_check_at"] = watch_next(ctx, now, now)
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


# schedules -------------------------------------------------------------------------------------


def poll_interval(ctx: AppContext, age: timedelta) -> timedelta:
    """Ask often about a fresh refund, rarely about one that has been processing for days."""
    base = max(1.0, ctx.settings.refund_sync_seconds or 30.0)
    return timedelta(seconds=min(MAX_POLL_SECONDS, max(base, age.total_seconds() / 4)))


def watch_next(ctx: AppContext, since: datetime, now: datetime) -> datetime | None:
    """A succeeded refund is re-checked for a reversal after 1 h, then each time at twice its
    age (2 h, 4 h …) until `refund_reversal_watch_seconds` — about eight calls a week."""
    watch = ctx.settings.refund_reversal_watch_seconds
    if watch <= 0:
        return None
    nxt = now + timedelta(seconds=max(3600.0, (now - since).total_seconds()))
    return nxt if nxt - since <= timedelta(seconds=watch) else None


def retry_delay(ctx: AppContext, attempts: int) -> timedelta:
    """How long after its last attempt a request may be sent again: N, 2N, 4N … minutes."""
    return timedelta(seconds=ctx.settings.refund_stuck_seconds * 2 ** max(0, attempts - 1))


def flag(
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
