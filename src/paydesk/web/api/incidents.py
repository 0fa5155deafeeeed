"""JSON API of incidents (technical support, DESIGN capability 3) for the technical on-call,
supervisors and administrators — API tokens of those roles, or their console sessions. Agents
work with incidents through the console pages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from paydesk.domain.errors import PermissionDenied
from paydesk.services import incident_notify, incident_suggest, incident_views, incidents
from paydesk.services.actors import Actor
from paydesk.web.deps import MAX_ID, ApiActor, Ctx, RowId

router = APIRouter(tags=["incidents"])
TicketId = Annotated[int, Field(ge=1, le=MAX_ID)]


def manager(actor: ApiActor) -> Actor:
    if not incidents.can_manage(actor):
        raise PermissionDenied(
            f"the incidents API is for the technical on-call, supervisors and administrators "
            f"(this is a {actor.role} {actor.kind})"
        )
    return actor


Manager = Annotated[Actor, Depends(manager)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_In):
    title: str = Field(min_length=1, max_length=200)
    affected_service: str = Field(default="", max_length=100)
    severity: Literal["sev1", "sev2", "sev3", "sev4"] = "sev3"
    description: str = Field(default="", max_length=10000)
    ticket_ids: list[TicketId] = Field(default_factory=list, max_length=500)
    source_ticket_id: TicketId | None = None


class IncidentPatch(_In):
    status: Literal["investigating", "identified", "monitoring", "resolved"] | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    affected_service: str | None = Field(default=None, max_length=100)
    severity: Literal["sev1", "sev2", "sev3", "sev4"] | None = None
    note: str = Field(default="", max_length=4000)


class LinkIn(_In):
    ticket_ids: list[TicketId] = Field(default_factory=list, max_length=500)
    q: str | None = Field(
        default=None, max_length=500, description="link the tickets a search finds (≤ 100)"
    )


class EscalateIn(_In):
    agent_id: TicketId | None = Field(
        default=None, description="a technical agent; default: least loaded"
    )
    note: str = Field(default="", max_length=4000)


class NotifyIn(_In):
    set_status: Literal["solved", "pending"] = "solved"
    message_en: str = Field(default="", max_length=2000)
    message_zh: str = Field(default="", max_length=2000)


@router.get("/incidents")
def list_incidents(
    ctx: Ctx,
    actor: Manager,
    state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> dict[str, Any]:
    return {"incidents": incident_views.list_incidents(ctx, actor, state=state)}


@router.post("/incidents", status_code=201)
def create(ctx: Ctx, actor: Manager, body: IncidentIn) -> dict[str, Any]:
    inc = incidents.create_incident(ctx, actor, **body.model_dump())
    return incident_views.incident_detail(ctx, actor, inc.id)


@router.get("/incidents/suggestions")
def suggestions(ctx: Ctx, actor: Manager) -> dict[str, Any]:
    """Groups of similar technical tickets that arrived recently and are not yet linked."""
    return {"suggestions": [x.as_dict() for x in incident_suggest.suggestions(ctx, actor)]}


@router.get("/incidents/{incident_id}")
def get(ctx: Ctx, actor: Manager, incident_id: RowId) -> dict[str, Any]:
    return incident_views.incident_detail(ctx, actor, incident_id)


@router.patch("/incidents/{incident_id}")
def patch(ctx: Ctx, actor: Manager, incident_id: RowId, body: IncidentPatch) -> dict[str, Any]:
    incidents.update_incident(ctx, actor, incident_id, **body.model_dump())
    return incident_views.incident_detail(ctx, actor, incident_id)


@router.post("/incidents/{incident_id}/tickets")
def link(ctx: Ctx, actor: Manager, incident_id: RowId, body: LinkIn) -> dict[str, Any]:
    ids: list[Any] = list(body.ticket_ids)
    if body.q:
        found = incident_views.search_tickets(ctx, actor, body.q, limit=100)
        ids += [t["id"] for t in found if t["incident_id"] is None]
    return incidents.link_tickets(ctx, actor, incident_id, ids).as_dict()


@router.delete("/incidents/{incident_id}/tickets/{ticket_id}", status_code=204)
def unlink(ctx: Ctx, actor: Manager, incident_id: RowId, ticket_id: RowId) -> Response:
    incidents.unlink_ticket(ctx, actor, incident_id, ticket_id)
    return Response(status_code=204)


@router.post("/incidents/{incident_id}/escalate")
def escalate(ctx: Ctx, actor: Manager, incident_id: RowId, body: EscalateIn) -> dict[str, Any]:
    incidents.escalate(ctx, actor, incident_id, agent_id=body.agent_id, note=body.note)
    return incident_views.incident_detail(ctx, actor, incident_id)


@router.post("/incidents/{incident_id}/notify")
def notify(ctx: Ctx, actor: Manager, incident_id: RowId, body: NotifyIn) -> dict[str, Any]:
    """Tell every linked ticket's customer it is fixed (once per ticket) and solve the tickets."""
    return incident_notify.notify_resolved(ctx, actor, incident_id, **body.model_dump()).as_dict()
