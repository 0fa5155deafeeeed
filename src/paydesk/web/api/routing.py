"""Routing API (mounted under /api/v1): the routing rules, the preview, automatic assignment
settings and customer tags (what "VIP customer" rules look at; e.g. set by a CRM sync script).

Every call is authorised by the service it calls: admins change rules and assignment, admins /
supervisors / auditors read them, staff who may write tickets set customer tags.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from paydesk.services import assignment, routing
from paydesk.web.deps import MAX_ID, ApiActor, Ctx, RowId

router = APIRouter(tags=["routing"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "your role does not allow this"},
    404: {"description": "no such record"},
    422: {"description": "invalid input"},
}

Words = list[Annotated[str, Field(max_length=100)]]


class RuleConditions(BaseModel):
    categories: Words = Field(default_factory=list, max_length=20)
    locales: Words = Field(default_factory=list, max_length=5)
    channels: Words = Field(default_factory=list, max_length=10)
    priorities: Words = Field(default_factory=list, max_length=10)
    customer_tags: Words = Field(default_factory=list, max_length=20)
    keywords: Words = Field(default_factory=list, max_length=50)
    intents: Words = Field(default_factory=list, max_length=50)


class RuleActions(BaseModel):
    queue: Annotated[str, Field(max_length=64)] | None = None
    priority: Annotated[str, Field(max_length=16)] | None = None
    tags: Words = Field(default_factory=list, max_length=10)
    team_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class RuleIn(BaseModel):
    name: Annotated[str, Field(max_length=200)]
    enabled: bool = True
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    actions: RuleActions


class RuleCreate(RuleIn):
    at: Literal["top", "bottom"] = "top"


class Move(BaseModel):
    position: Annotated[int, Field(ge=1, le=10_000)]


class PreviewIn(BaseModel):
    subject: Annotated[str, Field(max_length=500)] = ""
    body: Annotated[str, Field(max_length=20_000)] = ""
    channel: Annotated[str, Field(max_length=10)] = "web"
    locale: Annotated[str, Field(max_length=10)] = ""
    category: Annotated[str, Field(max_length=24)] = ""
    priority: Annotated[str, Field(max_length=16)] = ""
    customer_tags: Words = Field(default_factory=list, max_length=20)


class AssignmentIn(BaseModel):
    mode: Literal["off", "round_robin", "least_loaded"]
    max_open: Annotated[int, Field(ge=1, le=assignment.MAX_OPEN_LIMIT)] = 10


class TagsIn(BaseModel):
    tags: Words = Field(max_length=20)


def _data(body: RuleIn) -> dict[str, Any]:
    cond = {k: v for k, v in body.conditions.model_dump().items() if v}
    acts = body.actions.model_dump()
    return {"name": body.name, "enabled": body.enabled, "conditions": cond, "actions": acts}


@router.get("/routing/rules", responses=ERRORS)
def list_rules(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """The rules in order, the default queue and the routing version."""
    return routing.list_rules(ctx, actor)


@router.post("/routing/rules", status_code=201, responses=ERRORS)
def create_rule(ctx: Ctx, actor: ApiActor, body: RuleCreate) -> dict[str, Any]:
    rule_id = routing.create_rule(ctx, actor, _data(body), at=body.at)
    return routing.rule_detail(ctx, actor, rule_id)


@router.get("/routing/rules/{rule_id}", responses=ERRORS)
def get_rule(ctx: Ctx, actor: ApiActor, rule_id: RowId) -> dict[str, Any]:
    return routing.rule_detail(ctx, actor, rule_id)


@router.put("/routing/rules/{rule_id}", responses=ERRORS)
def update_rule(ctx: Ctx, actor: ApiActor, rule_id: RowId, body: RuleIn) -> dict[str, Any]:
    """Replace the rule; `changes` says what changed (field → [old, new])."""
    changes = routing.update_rule(ctx, actor, rule_id, _data(body))
    return {**routing.rule_detail(ctx, actor, rule_id), "changes": changes}


@router.post("/routing/rules/{rule_id}/move", responses=ERRORS)
def move_rule(ctx: Ctx, actor: ApiActor, rule_id: RowId, body: Move) -> dict[str, Any]:
    routing.move_rule(ctx, actor, rule_id, body.position)
    return routing.rule_detail(ctx, actor, rule_id)


@router.delete("/routing/rules/{rule_id}", status_code=204, responses=ERRORS)
def delete_rule(ctx: Ctx, actor: ApiActor, rule_id: RowId) -> Response:
    routing.delete_rule(ctx, actor, rule_id)
    return Response(status_code=204)


@router.post("/routing/preview", responses=ERRORS)
def preview(ctx: Ctx, actor: ApiActor, body: PreviewIn) -> dict[str, Any]:
    """Where a new ticket with this text would go with the saved rules (nothing is written)."""
    return routing.preview(ctx, actor, **body.model_dump())


@router.put("/routing/queues/{queue_id}/assignment", responses=ERRORS)
def set_assignment(
    ctx: Ctx, actor: ApiActor, queue_id: RowId, body: AssignmentIn
) -> dict[str, Any]:
    assignment.set_queue_assignment(ctx, actor, queue_id, body.mode, body.max_open)
    return next(q for q in assignment.queue_settings(ctx, actor) if q["id"] == queue_id)


@router.get("/routing/agents", responses=ERRORS)
def agent_loads(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Each agent's open tickets and presence (what automatic assignment looks at)."""
    return {"agents": assignment.agent_loads(ctx, actor)}


@router.get("/customers/{customer_id}/tags", responses=ERRORS)
def get_customer_tags(ctx: Ctx, actor: ApiActor, customer_id: RowId) -> dict[str, Any]:
    return {"tags": routing.customer_tags(ctx, actor, customer_id)}


@router.put("/customers/{customer_id}/tags", responses=ERRORS)
def put_customer_tags(
    ctx: Ctx, actor: ApiActor, customer_id: RowId, body: TagsIn
) -> dict[str, Any]:
    """Replace the customer's tags (lower-cased, unique, at most 20 × 40 characters)."""
    return {"tags": routing.set_customer_tags(ctx, actor, customer_id, list(body.tags))}
