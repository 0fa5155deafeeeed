"""JSON API of the payments capability: account overview, transaction search and links,
identity verification, account actions, refunds (maker-checker) and disputes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from paydesk.services import accounts, refunds
from paydesk.services import payments as pay
from paydesk.services import verification as verif
from paydesk.services.access import access_ticket
from paydesk.web.deps import ApiActor, Ctx, RowId

router = APIRouter(tags=["payments"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkIn(_In):
    ref: str = Field(min_length=1, max_length=100)


class VerificationIn(_In):
    purpose: Literal[
        "password_reset", "contact_change", "unfreeze", "freeze", "refund", "self_service"
    ]
    channel: Literal["email", "sms"]
    role: Literal["registered", "new"] = "registered"
    destination: str | None = Field(default=None, max_length=254)


class CodeIn(_In):
    code: str = Field(min_length=1, max_length=12)


class ContactIn(_In):
    kind: Literal["email", "phone"]
    value: str = Field(min_length=3, max_length=254)


class FreezeIn(_In):
    reason: str = Field(default="", max_length=500)


class RefundIn(_In):
    transaction_id: str = Field(min_length=1, max_length=100)
    amount: str = Field(min_length=1, max_length=40, description="decimal string, e.g. '36.50'")
    reason: str = Field(min_length=1, max_length=1000)


class DecisionIn(_In):
    note: str = Field(default="", max_length=1000)


class DisputeIn(_In):
    transaction_id: str = Field(min_length=1, max_length=100)
    kind: Literal["dispute", "chargeback"]
    reason: str = Field(min_length=1, max_length=1000)


class DisputeUpdate(_In):
    status: Literal["open", "responded", "won", "lost", "withdrawn"]


def _dispute(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "ticket_id": d.ticket_id,
        "transaction_id": d.transaction_id,
        "kind": d.kind,
        "status": d.status,
        "reason": d.reason,
        "respond_by": d.respond_by.isoformat(),
        "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
    }


def _account(a: Any) -> dict[str, Any] | None:
    if a is None:
        return None
    d: dict[str, Any] = a.as_dict()
    d["created_at"] = a.created_at.isoformat()
    d["email"] = pay.mask(a.email) if a.email else None
    d["phone"] = pay.mask(a.phone) if a.phone else None
    return d


def _txn(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "created_at": d["created_at"].isoformat()}


@router.get("/tickets/{ticket_id}/account")
def ticket_account(ctx: Ctx, actor: ApiActor, ticket_id: RowId) -> dict[str, Any]:
    ov = pay.account_overview(ctx, actor, ticket_id, limit=20)
    return {
        "platform": {"name": pay.platform(ctx).name, "available": ov.available, "error": ov.error},
        "account": _account(ov.account),
        "transactions": [_txn(t) for t in ov.transactions],
        "linked": [{**x, "txn": _txn(x["txn"]) if x["txn"] else None} for x in ov.linked],
        "refunds": [refunds.refund_public(r) for r in ov.refunds],
        "disputes": [_dispute(d) for d in ov.disputes],
        "verifications": [
            {
                "id": v.id,
                "purpose": v.purpose,
                "channel": v.channel,
                "role": v.role,
                "status": v.status,
                "to": pay.mask(v.destination),
                "expires_at": v.expires_at.isoformat(),
            }
            for v in ov.verifications
        ],
    }


@router.get("/transactions/search")
def search(
    ctx: Ctx, actor: ApiActor, q: Annotated[str, Query(min_length=1, max_length=100)]
) -> dict[str, Any]:
    return _txn(pay.txn_public(pay.search_transaction(ctx, actor, q)))


@router.post("/tickets/{ticket_id}/transactions", status_code=201)
def link(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: LinkIn) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "transaction_id": pay.link_transaction(ctx, actor, ticket_id, body.ref),
    }


@router.delete("/tickets/{ticket_id}/transactions/{ref}", status_code=204)
def unlink(
    ctx: Ctx, actor: ApiActor, ticket_id: RowId, ref: Annotated[str, Path(max_length=100)]
) -> None:
    pay.unlink_transaction(ctx, actor, ticket_id, ref)


@router.post("/tickets/{ticket_id}/verifications", status_code=201)
def start_verification(
    ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: VerificationIn
) -> dict[str, Any]:
    with ctx.read() as s:
        customer_id = access_ticket(s, actor, ticket_id).customer_id
    started = verif.start(
        ctx,
        actor,
        customer_id=customer_id,
        ticket_id=ticket_id,
        purpose=body.purpose,
        channel=body.channel,
        role=body.role,
        destination=body.destination,
    )
    return started.as_dict()


@router.post("/verifications/{verification_id}/check")
def check_code(ctx: Ctx, actor: ApiActor, verification_id: RowId, body: CodeIn) -> dict[str, Any]:
    v = verif.check(ctx, actor, verification_id, body.code)
    return {"id": v.id, "status": v.status, "purpose": v.purpose, "role": v.role}


@router.post("/tickets/{ticket_id}/account/password-reset")
def password_reset(ctx: Ctx, actor: ApiActor, ticket_id: RowId) -> dict[str, Any]:
    accounts.reset_password(ctx, actor, ticket_id)
    return {"status": "sent"}


@router.post("/tickets/{ticket_id}/account/contact")
def change_contact(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: ContactIn) -> dict[str, Any]:
    return {
        "account": _account(accounts.change_contact(ctx, actor, ticket_id, body.kind, body.value))
    }


@router.post("/tickets/{ticket_id}/account/freeze")
def freeze(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: FreezeIn) -> dict[str, Any]:
    acct = accounts.set_frozen(ctx, actor, ticket_id, frozen=True, reason=body.reason)
    return {"account": _account(acct)}


@router.post("/tickets/{ticket_id}/account/unfreeze")
def unfreeze(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: FreezeIn) -> dict[str, Any]:
    acct = accounts.set_frozen(ctx, actor, ticket_id, frozen=False, reason=body.reason)
    return {"account": _account(acct)}


@router.post("/tickets/{ticket_id}/refunds", status_code=201)
def request_refund(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: RefundIn) -> dict[str, Any]:
    req = refunds.request_refund(
        ctx,
        actor,
        ticket_id,
        transaction_id=body.transaction_id,
        amount=body.amount,
        reason=body.reason,
    )
    return refunds.refund_public(req)


@router.get("/refunds")
def list_refunds(
    ctx: Ctx,
    actor: ApiActor,
    status: Annotated[
        Literal["pending_approval", "stuck", "unconfirmed"], Query()
    ] = "pending_approval",
) -> dict[str, Any]:
    lists = {
        "pending_approval": refunds.pending_approvals,
        "stuck": refunds.stuck_requests,
        "unconfirmed": refunds.unconfirmed_requests,
    }
    return {"refunds": [refunds.refund_public(r) for r in lists[status](ctx, actor)]}


@router.get("/refunds/{request_id}")
def get_refund(ctx: Ctx, actor: ApiActor, request_id: RowId) -> dict[str, Any]:
    with ctx.read() as s:
        refunds.access_refund(s, actor, request_id)
    return refunds.refund_public(refunds.refresh_status(ctx, request_id))


@router.post("/refunds/{request_id}/approve")
def approve(ctx: Ctx, actor: ApiActor, request_id: RowId, body: DecisionIn) -> dict[str, Any]:
    return refunds.refund_public(
        refunds.decide_refund(ctx, actor, request_id, approve=True, note=body.note)
    )


@router.post("/refunds/{request_id}/reject")
def reject(ctx: Ctx, actor: ApiActor, request_id: RowId, body: DecisionIn) -> dict[str, Any]:
    return refunds.refund_public(
        refunds.decide_refund(ctx, actor, request_id, approve=False, note=body.note)
    )


@router.post("/refunds/{request_id}/execute")
def execute(ctx: Ctx, actor: ApiActor, request_id: RowId) -> dict[str, Any]:
    return refunds.refund_public(refunds.execute_refund(ctx, actor, request_id))


@router.post("/refunds/{request_id}/check")
def check_now(ctx: Ctx, actor: ApiActor, request_id: RowId) -> dict[str, Any]:
    """Ask the platform now about an unconfirmed (or submitted) refund; never refunds twice."""
    return refunds.refund_public(refunds.check_now(ctx, actor, request_id))


@router.post("/tickets/{ticket_id}/disputes", status_code=201)
def open_dispute(ctx: Ctx, actor: ApiActor, ticket_id: RowId, body: DisputeIn) -> dict[str, Any]:
    d = refunds.open_dispute(
        ctx,
        actor,
        ticket_id,
        transaction_id=body.transaction_id,
        kind=body.kind,
        reason=body.reason,
    )
    return _dispute(d)


@router.patch("/disputes/{dispute_id}")
def update_dispute(
    ctx: Ctx, actor: ApiActor, dispute_id: RowId, body: DisputeUpdate
) -> dict[str, Any]:
    return _dispute(refunds.update_dispute(ctx, actor, dispute_id, body.status))
