"""Tickets and messages API. Routes are thin: parse, call one service, shape the answer."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import orjson
from fastapi import APIRouter, Query, Response

from paydesk.domain.errors import InvalidInput
from paydesk.domain.inbound import InboundAttachment, InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.queries import TicketFilter, list_tickets, ticket_detail, ticket_summary
from paydesk.services.tickets import add_agent_message, update_ticket
from paydesk.web.deps import ApiActor, Ctx, RowId
from paydesk.web.lean import LeanRoute
from paydesk.web.pools import intake_pool
from paydesk.web.schemas import (
    MessageCreate,
    MessagePublic,
    TicketCreate,
    TicketCreated,
    TicketList,
    TicketPublic,
    TicketUpdate,
)

router = APIRouter(prefix="/tickets", tags=["tickets"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    404: {"description": "no such ticket (or not yours)"},
    409: {"description": "transition not allowed"},
    413: {"description": "too large"},
    422: {"description": "invalid input"},
}


async def create_ticket(body: TicketCreate, ctx: Ctx, actor: ApiActor) -> Response:
    """Open a ticket (or, with an idempotency key seen before, return the same one with 200)."""
    # `async`: a small ticket without attachments is prepared on the loop and awaits its batch
    # there (intake.receive_async); anything bigger goes to a thread. The answer is written here
    # (its shape is TicketCreated's, which a test checks) rather than validated again against
    # the model on the way out.
    if not body.attachments and len(body.subject) + len(body.body) <= intake.INLINE_PREPARE_CHARS:
        result = await intake.receive_async(ctx, _inbound(body, []), actor=actor)
    else:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(intake_pool(), _open_ticket, ctx, actor, body)
    answer = {
        "id": result.ticket_id,
        "number": result.ticket_number,
        "status": result.status,
        "category": result.category,
        "priority": result.priority,
        "queue_id": result.queue_id,
        "customer_id": result.customer_id,
        "message_id": result.message_id,
        "created": result.action == "created",
    }
    status = 200 if result.action == "duplicate" else 201
    return Response(orjson.dumps(answer), status_code=status, media_type="application/json")


# the hottest route: a valid request with a cached token skips FastAPI's dependency solving
router.add_api_route(
    "",
    create_ticket,
    methods=["POST"],
    status_code=201,
    response_model=TicketCreated,
    responses=ERRORS,
    route_class_override=LeanRoute,
)


def _open_ticket(ctx: AppContext, actor: Actor, body: TicketCreate) -> intake.IntakeResult:
    atts = []
    for a in body.attachments:
        try:
            data = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"attachment {a.filename!r} is not valid base64", field="attachments"
            ) from None
        atts.append(InboundAttachment(a.filename, a.content_type, data))
    return intake.receive(ctx, _inbound(body, atts), actor=actor)


def _inbound(body: TicketCreate, atts: list[InboundAttachment]) -> InboundMessage:
    return InboundMessage(
        channel=Channel(body.channel),
        subject=body.subject,
        body=body.body,
        email=body.customer.email,
        phone=body.customer.phone,
        name=body.customer.name,
        locale=body.customer.locale,
        platform_user_id=body.customer.platform_user_id,
        idempotency_key=body.idempotency_key,
        category=body.category,
        priority=body.priority,
        fields=dict(body.fields),
        attachments=atts,
    )


@router.get("", response_model=TicketList, responses=ERRORS)
def search_tickets(
    ctx: Ctx,
    actor: ApiActor,
    status: str | None = Query(default=None, max_length=20),
    queue: str | None = Query(default=None, max_length=64),
    q: str | None = Query(default=None, max_length=500),
    cursor: str | None = Query(default=None, max_length=100),
    assignee_id: int | None = Query(default=None, ge=0, le=2**31 - 1),
    customer_id: int | None = Query(default=None, ge=0, le=2**31 - 1),
    category: str | None = Query(default=None, max_length=24),
    tag: str | None = Query(default=None, max_length=40),
    limit: int = Query(default=25, ge=1, le=100),
    sla: str | None = Query(default=None, max_length=20, description="breached | due_soon"),
    sort: str | None = Query(default=None, max_length=10, description="due: nearest SLA first"),
) -> dict[str, Any]:
    """Newest first (or `sort=due`). `q` searches subject and messages (Chinese-aware) or a
    ticket number; `sla=breached|due_soon` keeps tickets whose SLA is overdue / due soon."""
    f = TicketFilter(
        status=status,
        queue=queue,
        q=q,
        cursor=cursor,
        assignee_id=assignee_id,
        customer_id=customer_id,
        category=category,
        tag=tag,
        limit=limit,
        sla=sla,
        sort=sort,
    )
    with ctx.read() as s:
        rows, nxt = list_tickets(ctx, s, actor, f)
        return {"tickets": [ticket_summary(t) for t in rows], "next_cursor": nxt}


@router.get("/{ticket_id}", response_model=TicketPublic, responses=ERRORS)
def get_ticket(ticket_id: RowId, ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    return ticket_detail(ctx, actor, ticket_id)


@router.patch("/{ticket_id}", response_model=TicketPublic, responses=ERRORS)
def patch_ticket(ticket_id: RowId, body: TicketUpdate, ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Change status (allowed transitions only), priority, category, assignee, queue, tags."""
    update_ticket(ctx, actor, ticket_id, body.model_dump(exclude_unset=True))
    return ticket_detail(ctx, actor, ticket_id, record_view=False)


@router.post(
    "/{ticket_id}/messages", status_code=201, response_model=MessagePublic, responses=ERRORS
)
def post_message(
    ticket_id: RowId, body: MessageCreate, ctx: Ctx, actor: ApiActor
) -> dict[str, Any]:
    """A public reply to the customer, or an internal note (`internal: true`)."""
    m = add_agent_message(ctx, actor, ticket_id, body.body, internal=body.internal)
    return {
        "id": m.id,
        "author_type": m.author_type,
        "author_name": actor.name,
        "channel": m.channel,
        "body": m.body,
        "internal": m.internal,
        "created_at": m.created_at,
        "findings": m.findings,
        "delivery_status": m.delivery_status,
        "attachments": [],
    }
