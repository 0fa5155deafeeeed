"""Refund requests with maker-checker approval, and disputes/chargebacks.

State machine of a refund request (conditional UPDATEs make every transition happen once, even
under concurrent clicks on many app processes):

    pending_approval ──approve──► approved ──execute──► executing ──► submitted ──► succeeded
          └──reject──► rejected                             │  (platform rejected) └► failed
                                                            ├─(no clear answer)─► unconfirmed
                                                            └─(retries exhausted)─► stuck
    unconfirmed ──(looked up on the platform by refund id / idempotency key)──► submitted | final,
                 or re-sent with the same key when the platform has none

Execution goes through the platform port with the request's idempotency key, so a retry (or a
crash between the platform call and our commit) never refunds twice. Following submitted
refunds, reconciling unknown answers and recovering stalled executions is
`services/refund_jobs.py`; the exchange with the platform is `services/refund_platform.py`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from paydesk.domain.permissions import Perm
from paydesk.payments.money import Money, format_amount, parse_money
from paydesk.payments.port import PlatformUnavailable
from paydesk.payments.sandbox import refundable_minor
from paydesk.services import audit
from paydesk.services import verification as verif
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_system_note, platform, require_account
from paydesk.services.refund_jobs import reconcile_one
from paydesk.services.refund_platform import (
    find_platform_refund,
    record_platform_status,
    send_to_platform,
)
from paydesk.store.accounts import Dispute, RefundRequest
from paydesk.store.base import utcnow
from paydesk.store.tickets import Ticket

OPEN_STATES = ("pending_approval", "approved", "executing", "submitted", "stuck", "unconfirmed")
DISPUTE_KINDS = ("dispute", "chargeback")
DISPUTE_STATES = ("open", "responded", "won", "lost", "withdrawn")

STATUS_TEXT = {
    "en": {
        "pending_approval": "Requested, waiting for approval",
        "approved": "Approved, being sent to the payment platform",
        "executing": "Being processed",
        "stuck": "Being processed",
        "unconfirmed": "Being processed",
        "submitted": "Refund issued, on its way to you",
        "succeeded": "Refunded",
        "failed": "Could not be refunded — our team will contact you",
        "rejected": "Not approved — our team will explain why",
    },
    "zh-CN": {
        "pending_approval": "已提交，等待审批",
        "approved": "已批准，正在提交支付平台",
        "executing": "处理中",
        "stuck": "处理中",
        "unconfirmed": "处理中",
        "submitted": "退款已发起，正在退回",
        "succeeded": "已退款",
        "failed": "退款失败——客服会与您联系",
        "rejected": "未获批准——客服会向您说明原因",
    },
}


def approval_limit(ctx: AppContext, currency: str) -> Money:
    raw = ctx.settings.refund_approval_limits.get(
        currency, ctx.settings.refund_approval_default_limit
    )
    try:
        d = Decimal(raw)
    except InvalidOperation:
        d = Decimal(0)
    if d <= 0:
        return Money(0, currency)
    return parse_money(d, currency)


def request_refund(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    *,
    transaction_id: str,
    amount: str,
    reason: str,
) -> RefundRequest:
    """Request a refund of (part of) a transaction of the ticket's customer.

    The amount is a decimal string in the transaction's currency (at most its exponent's
    decimals), positive and ≤ what is still refundable after other open requests. Below the
    approval limit it executes at once; above it waits for a supervisor."""
    actor.require(Perm.TICKET_WRITE)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("give a reason for the refund", field="reason")
    if len(reason) > 1000:
        raise InvalidInput("the reason is longer than 1000 characters", field="reason")
    with ctx.read() as s:
        customer_id = access_ticket(s, actor, ticket_id).customer_id
    account = require_account(ctx, customer_id)
    txn = platform(ctx).get_transaction(transaction_id or "")
    if txn is None or txn.account_id != account.id:
        raise NotFound("no such transaction on this customer's account")
    money = parse_money(amount, txn.currency)
    limit = approval_limit(ctx, txn.currency)
    needs_approval = money > limit
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        ids = verif.consume(ctx, s, customer_id, "refund")
        open_minor = (
            s.scalar(
                select(func.coalesce(func.sum(RefundRequest.amount_minor), 0)).where(
                    RefundRequest.transaction_id == txn.id,
                    RefundRequest.status.in_(
                        ("pending_approval", "approved", "executing", "stuck", "unconfirmed")
                    ),
                )
            )
            or 0
        )
        left = refundable_minor(txn) - int(open_minor)
        if left <= 0:
            raise InvalidInput("nothing left to refund on this transaction", field="amount")
        if money.minor > left:
            raise InvalidInput(
                f"at most {format_amount(left, txn.currency)} {txn.currency} can be refunded",
                field="amount",
            )
        now = utcnow()
        req = RefundRequest(
            workspace_id=actor.workspace_id,
            ticket_id=ticket.id,
            customer_id=customer_id,
            account_id=account.id,
            transaction_id=txn.id,
            amount_minor=money.minor,
            currency=money.currency,
            reason=ctx.redactor.redact(reason).text,
            status="pending_approval" if needs_approval else "approved",
            requires_approval=needs_approval,
            requested_by_type=actor.kind,
            requested_by_id=actor.id,
            requested_by_name=actor.name,
            idempotency_key=f"pd-refund-{uuid.uuid4()}",
            created_at=now,
            updated_at=now,
        )
        s.add(req)
        s.flush()
        audit.record(
            s,
            actor,
            "refund.requested",
            object_type="refund_request",
            object_id=req.id,
            customer_id=customer_id,
            details={
                "transaction_id": txn.id,
                "amount": str(money),
                "needs_approval": needs_approval,
                "limit": str(limit),
                "verifications": ids,
            },
        )
        add_system_note(
            ctx,
            uow,
            ticket,
            f"Refund #{req.id} of {money} on {txn.id} requested by {actor.name or actor.kind}"
            + (f" — above {limit}, waiting for a supervisor." if needs_approval else "."),
        )
        req_id = req.id
    if not needs_approval:
        return execute_refund(ctx, actor, req_id)
    return _get(ctx, req_id)


def _get(ctx: AppContext, request_id: int) -> RefundRequest:
    with ctx.read() as s:
        req = s.get(RefundRequest, request_id)
        assert req is not None
        return req


def access_refund(s: Session, actor: Actor, request_id: int) -> RefundRequest:
    """Staff who can see the ticket see its refund requests; missing and hidden both 404."""
    req = s.get(RefundRequest, request_id)
    if req is None or req.workspace_id != actor.workspace_id or not actor.is_staff:
        raise NotFound(f"refund request {request_id} not found")
    access_ticket(s, actor, req.ticket_id)
    return req


def decide_refund(
    ctx: AppContext, actor: Actor, request_id: int, *, approve: bool, note: str = ""
) -> RefundRequest:
    """A supervisor approves (then it executes) or rejects a pending request. The requester can
    never decide their own request; a request is decided once (409 afterwards)."""
    note = (note or "").strip()[:1000]
    with ctx.read() as s:
        req = access_refund(s, actor, request_id)
        requester = (req.requested_by_type, req.requested_by_id)
    refused: str | None = None
    if not actor.can(Perm.REFUND_APPROVE):
        refused = f"your role ({actor.role}) may not approve refunds"
    elif requester == (actor.kind, actor.id):
        refused = "you cannot approve or reject your own refund request"
    if refused:
        with ctx.uow() as uow:
            audit.record(
                uow.session,
                actor,
                "refund.decision_refused",
                object_type="refund_request",
                object_id=request_id,
                customer_id=req.customer_id,
                details={"reason": refused, "approve": approve},
            )
        raise PermissionDenied(refused)
    if not approve and not note:
        raise InvalidInput("say why the refund is rejected", field="note")
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        res = s.execute(
            update(RefundRequest)
            .where(RefundRequest.id == request_id, RefundRequest.status == "pending_approval")
            .values(
                status="approved" if approve else "rejected",
                decided_by_id=actor.id,
                decided_by_name=actor.name,
                decided_at=now,
                decision_note=note or None,
                updated_at=now,
            )
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this refund request was already decided")
        audit.record(
            s,
            actor,
            "refund.approved" if approve else "refund.rejected",
            object_type="refund_request",
            object_id=request_id,
            customer_id=req.customer_id,
            details={"note": note, "amount": format_amount(req.amount_minor, req.currency)},
        )
        ticket = s.get(Ticket, req.ticket_id)
        assert ticket is not None
        add_system_note(
            ctx,
            uow,
            ticket,
            f"Refund #{request_id} {'approved' if approve else 'rejected'} by {actor.name}"
            + (f": {note}" if note else "."),
        )
    if approve:
        return execute_refund(ctx, actor, request_id)
    return _get(ctx, request_id)


def execute_refund(ctx: AppContext, actor: Actor, request_id: int) -> RefundRequest:
    """Send an approved request to the platform. Safe to call any number of times at once: one
    caller wins the approved → executing transition; the others get the current state back.
    The platform call carries the request's idempotency key, so a request left `executing` by a
    crash (after `refund_stuck_seconds`) or flagged `stuck` (by a supervisor) can be sent again
    safely."""
    actor.require(Perm.TICKET_WRITE)
    with ctx.read() as s:
        req = access_refund(s, actor, request_id)
    now = utcnow()
    startable = (RefundRequest.status == "approved") | (
        (RefundRequest.status == "executing")
        & (RefundRequest.updated_at < now - timedelta(seconds=ctx.settings.refund_stuck_seconds))
    )
    if actor.can(Perm.REFUND_APPROVE):
        startable = startable | (RefundRequest.status == "stuck")
    with ctx.uow() as uow:
        res = uow.session.execute(
            update(RefundRequest)
            .where(RefundRequest.id == request_id, startable)
            .values(status="executing", attempts=RefundRequest.attempts + 1, updated_at=now)
        )
        won = res.rowcount == 1  # type: ignore[attr-defined]
    if not won:
        current = _get(ctx, request_id)
        if current.status in ("executing", "submitted", "succeeded", "unconfirmed"):
            return current
        if current.status == "stuck":
            raise PermissionDenied("a supervisor must retry a stuck refund")
        raise Conflict(f"this refund request is {current.status} and cannot be executed")
    if req.status == "stuck":
        with ctx.uow() as uow:
            audit.record(
                uow.session,
                actor,
                "refund.retried",
                object_type="refund_request",
                object_id=req.id,
                customer_id=req.customer_id,
                details={"from": "stuck", "same_key": True},
            )
    send_to_platform(ctx, actor, _get(ctx, request_id), interactive=True)
    return _get(ctx, request_id)


def refresh_status(ctx: AppContext, request_id: int) -> RefundRequest:
    """Ask the platform how a submitted refund is doing and record a change (the same recording
    as the refund job: a final answer notifies the customer once)."""
    req = _get(ctx, request_id)
    if req.status != "submitted" or not req.platform_refund_id:
        return req
    try:
        refund = platform(ctx).get_refund(req.platform_refund_id)
    except (PlatformUnavailable, NotFound):
        return req
    record_platform_status(ctx, req.id, refund)
    return _get(ctx, request_id)


def check_now(ctx: AppContext, actor: Actor, request_id: int) -> RefundRequest:
    """The console's "check now": ask the platform at once about a request whose answer we do
    not have (`unconfirmed`: looked up by refund id / idempotency key; re-sent with the same key
    only when the platform says it has none — `refund_jobs.reconcile_one`) or one on its way
    (`submitted`, or `succeeded` for a reversal). Audited `refund.checked` with the outcome; no
    definite answer → 503 (the job keeps trying with backoff)."""
    actor.require(Perm.TICKET_WRITE)
    with ctx.read() as s:
        req = access_refund(s, actor, request_id)
    if req.status == "unconfirmed":
        outcome = reconcile_one(ctx, req.id, actor=actor, force=True)
    elif req.status in ("submitted", "succeeded") and req.platform_refund_id:
        try:
            found = find_platform_refund(ctx, req)
        except PlatformUnavailable:
            outcome = "unavailable"
        else:
            moved = found is not None and record_platform_status(ctx, req.id, found)
            outcome = "updated" if moved else "unchanged"
    else:
        raise Conflict(f"this refund request is {req.status}: there is nothing to check")
    with ctx.uow() as uow:
        audit.record(
            uow.session,
            actor,
            "refund.checked",
            object_type="refund_request",
            object_id=req.id,
            customer_id=req.customer_id,
            details={"status": req.status, "outcome": outcome},
        )
    if outcome == "unavailable":
        raise PlatformUnavailable(
            "the payment platform gave no definite answer; paydesk keeps checking"
        )
    return _get(ctx, request_id)


def unconfirmed_requests(ctx: AppContext, actor: Actor, limit: int = 100) -> list[RefundRequest]:
    """Requests whose platform answer is unknown and being reconciled by the job."""
    return _waiting_for_supervisor(ctx, actor, "unconfirmed", limit)


def stuck_requests(ctx: AppContext, actor: Actor, limit: int = 100) -> list[RefundRequest]:
    """Requests the refund job gave up retrying: a supervisor checks and retries them."""
    return _waiting_for_supervisor(ctx, actor, "stuck", limit)


def pending_approvals(ctx: AppContext, actor: Actor, limit: int = 100) -> list[RefundRequest]:
    return _waiting_for_supervisor(ctx, actor, "pending_approval", limit)


def _waiting_for_supervisor(
    ctx: AppContext, actor: Actor, status: str, limit: int
) -> list[RefundRequest]:
    actor.require(Perm.REFUND_APPROVE)
    with ctx.read() as s:
        return list(
            s.scalars(
                select(RefundRequest)
                .where(
                    RefundRequest.workspace_id == actor.workspace_id,
                    RefundRequest.status == status,
                )
                .order_by(RefundRequest.id)
                .limit(limit)
            )
        )


def refund_public(req: RefundRequest, locale: str = "en") -> dict[str, Any]:
    texts = STATUS_TEXT.get(locale, STATUS_TEXT["en"])
    return {
        "id": req.id,
        "ticket_id": req.ticket_id,
        "transaction_id": req.transaction_id,
        "amount": format_amount(req.amount_minor, req.currency),
        "currency": req.currency,
        "status": req.status,
        "status_text": texts.get(req.status, req.status),
        "requires_approval": req.requires_approval,
        "requested_by": req.requested_by_name,
        "decided_by": req.decided_by_name,
        "platform_refund_id": req.platform_refund_id,
        "failure_reason": req.failure_reason,
        "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(),
    }


def customer_refunds(ctx: AppContext, customer_id: int, locale: str = "en") -> list[dict[str, Any]]:
    """Recent refund requests of a customer (portal, chat) — without internal notes/reasons."""
    with ctx.read() as s:
        rows = list(
            s.scalars(
                select(RefundRequest)
                .where(RefundRequest.customer_id == customer_id)
                .order_by(RefundRequest.id.desc())
                .limit(20)
            )
        )
    out = []
    for r in rows:
        d = refund_public(r, locale)
        d.pop("requested_by")
        d.pop("decided_by")
        d.pop("failure_reason")
        out.append(d)
    return out


# disputes -------------------------------------------------------------------------------------


def open_dispute(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    *,
    transaction_id: str,
    kind: str,
    reason: str,
) -> Dispute:
    """Open a dispute or chargeback case on a transaction of the ticket's customer, with its
    response deadline (dispute_response_days / chargeback_response_days)."""
    actor.require(Perm.TICKET_WRITE)
    if kind not in DISPUTE_KINDS:
        raise InvalidInput("kind must be dispute or chargeback", field="kind")
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("give a reason (at most 1000 characters)", field="reason")
    with ctx.read() as s:
        customer_id = access_ticket(s, actor, ticket_id).customer_id
    account = require_account(ctx, customer_id)
    txn = platform(ctx).get_transaction(transaction_id or "")
    if txn is None or txn.account_id != account.id:
        raise NotFound("no such transaction on this customer's account")
    days = (
        ctx.settings.chargeback_response_days
        if kind == "chargeback"
        else ctx.settings.dispute_response_days
    )
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        dup = s.scalar(
            select(Dispute.id).where(
                Dispute.transaction_id == txn.id, Dispute.status.in_(("open", "responded"))
            )
        )
        if dup is not None:
            raise Conflict(f"dispute #{dup} is already open for {txn.id}")
        d = Dispute(
            workspace_id=actor.workspace_id,
            ticket_id=ticket.id,
            customer_id=customer_id,
            transaction_id=txn.id,
            kind=kind,
            reason=ctx.redactor.redact(reason).text,
            amount_minor=txn.amount_minor,
            currency=txn.currency,
            status="open",
            respond_by=now + timedelta(days=days),
            opened_by_name=actor.name,
            created_at=now,
            updated_at=now,
        )
        s.add(d)
        s.flush()
        audit.record(
            s,
            actor,
            "dispute.opened",
            object_type="dispute",
            object_id=d.id,
            customer_id=customer_id,
            details={
                "kind": kind,
                "transaction_id": txn.id,
                "respond_by": d.respond_by.isoformat(),
            },
        )
        add_system_note(
            ctx,
            uow,
            ticket,
            f"{kind.capitalize()} #{d.id} opened on {txn.id}; respond by "
            f"{d.respond_by:%Y-%m-%d %H:%M} UTC.",
        )
    return d


def update_dispute(ctx: AppContext, actor: Actor, dispute_id: int, status: str) -> Dispute:
    actor.require(Perm.TICKET_WRITE)
    if status not in DISPUTE_STATES:
        raise InvalidInput(f"status must be one of {', '.join(DISPUTE_STATES)}", field="status")
    with ctx.uow() as uow:
        s = uow.session
        d = s.get(Dispute, dispute_id)
        if d is None or d.workspace_id != actor.workspace_id:
            raise NotFound(f"dispute {dispute_id} not found")
        ticket = access_ticket(s, actor, d.ticket_id, for_update=True)
        if d.status in ("won", "lost", "withdrawn"):
            raise Conflict(f"dispute #{d.id} is already {d.status}")
        old, d.status, d.updated_at = d.status, status, utcnow()
        if status in ("won", "lost", "withdrawn"):
            d.resolved_at = d.updated_at
        audit.record(
            s,
            actor,
            "dispute.updated",
            object_type="dispute",
            object_id=d.id,
            customer_id=d.customer_id,
            details={"status": [old, status]},
        )
        add_system_note(ctx, uow, ticket, f"{d.kind.capitalize()} #{d.id}: {old} → {status}.")
    return d
