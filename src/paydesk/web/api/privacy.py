"""Privacy and security API: audit search/verify, data-subject export/erasure, API tokens.

Mounted under /api/v1. Auditors (audit.read) search the trail; admins export/erase customers and
manage tokens. Every call is authorised by the service it calls, not by the route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from paydesk.domain.permissions import Perm
from paydesk.services import audit, auth, dsr
from paydesk.web.deps import MAX_ID, ApiActor, Ctx, RowId

router = APIRouter(tags=["privacy"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "your role or token scopes do not allow this"},
    404: {"description": "no such record"},
    409: {"description": "conflict"},
    422: {"description": "invalid input"},
}


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get("/audit/events", responses=ERRORS)
def search_audit(
    ctx: Ctx,
    actor: ApiActor,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    actor_type: Annotated[str | None, Query(max_length=16)] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Auditor search of the trail, newest first; page with `before_id` = the last id seen."""
    with ctx.uow() as uow:
        events = audit.search_events(
            uow.session,
            actor,
            customer_id=customer_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=_aware(since),
            until=_aware(until),
            before_id=before_id,
            limit=limit,
        )
        out = [audit.event_dict(e) for e in events]
        audit.record(
            uow.session,
            actor,
            "audit.searched",
            object_type="audit",
            customer_id=customer_id,
            details={"action": action, "actor_id": actor_id, "results": len(out)},
        )
    return {"events": out, "next_before_id": out[-1]["id"] if len(out) == limit else None}


@router.get("/audit/verify", responses=ERRORS)
def verify_audit(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Seal pending events, then recompute the whole hash chain."""
    actor.require(Perm.AUDIT_READ)
    audit.seal_pending(ctx)
    with ctx.read() as s:
        return audit.verify_report(s)


@router.get(
    "/customers/{customer_id}/export",
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=Response,
)
def export_customer(ctx: Ctx, actor: ApiActor, customer_id: RowId) -> Response:
    """Everything stored about the customer: customer.json + attachments/, as a zip (admin)."""
    data = dsr.export_customer(ctx, actor, customer_id)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="customer-{customer_id}.zip"',
            "cache-control": "no-store",
        },
    )


class ErasureRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/erase", responses=ERRORS)
def erase_customer(
    ctx: Ctx, actor: ApiActor, customer_id: RowId, body: ErasureRequest
) -> dict[str, Any]:
    """Erase/pseudonymise the customer; complaint and transaction tickets stay (retention)."""
    return dsr.erase_customer(ctx, actor, customer_id, body.reason).as_dict()


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(max_length=20)
    scopes: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)


@router.get("/tokens", responses=ERRORS)
def list_tokens(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    return {"tokens": auth.list_tokens(ctx, actor)}


@router.post("/tokens", status_code=201, responses=ERRORS)
def create_token(ctx: Ctx, actor: ApiActor, body: TokenCreate) -> dict[str, Any]:
    """A new token; the secret is in this answer only."""
    actor.require(Perm.ADMIN)
    new = auth.create_token(
        ctx,
        body.role,
        body.name,
        workspace_id=actor.workspace_id,
        scopes=body.scopes,
        actor=actor,
    )
    return {"id": new.id, "token": new.token}


@router.delete("/tokens/{token_id}", status_code=204, responses=ERRORS)
def revoke_token(ctx: Ctx, actor: ApiActor, token_id: RowId) -> Response:
    auth.revoke_token(ctx, actor, token_id)
    return Response(status_code=204)
