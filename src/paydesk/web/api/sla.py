"""SLA API: a complaint's holding reply, escalation levels, the supervisor overview, and the
SLA configuration (read). Thin: each route calls one service, which checks the actor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from paydesk.services import sla, sla_admin, supervisor
from paydesk.services.queries import ticket_detail
from paydesk.web.deps import ApiActor, Ctx, RowId

router = APIRouter(tags=["sla"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "your role may not do this"},
    404: {"description": "no such ticket (or not yours)"},
    409: {"description": "already extended / deadline passed / final answer given"},
    422: {"description": "invalid input"},
}


class HoldingReply(BaseModel):
    body: str = Field(min_length=1, max_length=100_000)


class Escalation(BaseModel):
    level: int = Field(ge=0, le=3)
    reason: str = Field(default="", max_length=2000)


@router.post("/tickets/{ticket_id}/holding-reply", responses=ERRORS)
def holding_reply(
    ticket_id: RowId, body: HoldingReply, ctx: Ctx, actor: ApiActor
) -> dict[str, Any]:
    """Send the complaint's holding reply to the customer and extend its final-answer deadline
    (15 → 35 business days by default). Returns the ticket's `sla` object."""
    sla.send_holding_reply(ctx, actor, ticket_id, body.body)
    return {"sla": ticket_detail(ctx, actor, ticket_id, record_view=False)["sla"]}


@router.post("/tickets/{ticket_id}/escalation", responses=ERRORS)
def escalation(ticket_id: RowId, body: Escalation, ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Set the escalation level (0 none, 1 supervisor, 2 complaints manager, 3 management /
    regulator); raising it needs a reason."""
    sla.set_escalation(ctx, actor, ticket_id, body.level, body.reason)
    return {"sla": ticket_detail(ctx, actor, ticket_id, record_view=False)["sla"]}


@router.get("/sla/overview", responses=ERRORS)
def overview(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Per-queue unsolved / unassigned / breached / at-risk counts, complaint deadlines and
    first-response / resolution attainment over 7 and 30 days (supervisor, admin, auditor)."""
    return supervisor.overview(ctx, actor)


@router.get("/sla/policies", responses=ERRORS)
def policies(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """SLA policies and business calendars (admin, supervisor, auditor)."""
    return {
        "policies": sla_admin.list_policies(ctx, actor),
        "calendars": sla_admin.list_calendars(ctx, actor),
    }
