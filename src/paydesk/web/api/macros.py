"""Macros API: list macros, render them for a ticket, reply with one (actions applied)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from paydesk.domain.errors import NotFound
from paydesk.services import macros
from paydesk.services.queries import ticket_detail
from paydesk.web.deps import ApiActor, Ctx, RowId
from paydesk.web.schemas import Strict

router = APIRouter(tags=["macros"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    404: {"description": "no such ticket or macro (or not yours)"},
    409: {"description": "transition not allowed"},
    422: {"description": "invalid input, or the reply asks the customer for a secret"},
}


class MacroApply(Strict):
    body: str | None = Field(default=None, max_length=1_000_000)  # default: the rendered macro
    internal: bool = False
    status: str = Field(default="", max_length=20)  # overrides the macro's status


@router.get("/macros", responses=ERRORS)
def list_macros(ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Shared macros (and, for a console session, the agent's personal ones)."""
    return {
        "macros": [
            {
                "id": m.id,
                "name": m.name,
                "shared": m.owner_id is None,
                "body_en": m.body_en,
                "body_zh": m.body_zh,
                "actions": m.actions or {},
                "usage_count": m.usage_count,
            }
            for m in macros.list_macros(ctx, actor)
        ]
    }


@router.get("/tickets/{ticket_id}/macros", responses=ERRORS)
def ticket_macros(ctx: Ctx, actor: ApiActor, ticket_id: RowId) -> dict[str, Any]:
    """Every usable macro rendered for this ticket (its locale and names)."""
    rows = macros.render_for_ticket(ctx, actor, ticket_id)
    for r in rows:
        r.pop("actions_label", None)
    return {"macros": rows}


@router.post("/tickets/{ticket_id}/macros/{macro_id}/apply", status_code=201, responses=ERRORS)
def apply_macro(
    ctx: Ctx, actor: ApiActor, ticket_id: RowId, macro_id: RowId, body: MacroApply
) -> dict[str, Any]:
    """Reply with the macro (blocker and redaction apply), then its actions. Returns the new
    message id and the ticket's status, priority and tags afterwards."""
    text = body.body
    if text is None:
        rendered = {r["id"]: r for r in macros.render_for_ticket(ctx, actor, ticket_id)}
        if macro_id not in rendered:
            raise NotFound(f"macro {macro_id} not found")
        text = rendered[macro_id]["body"]
    msg = macros.reply_with_macro(
        ctx, actor, ticket_id, macro_id, text, internal=body.internal, status=body.status
    )
    t = ticket_detail(ctx, actor, ticket_id, record_view=False)
    return {
        "message_id": msg.id,
        "ticket": {
            "id": ticket_id,
            "status": t["status"],
            "priority": t["priority"],
            "tags": t["tags"],
        },
    }
