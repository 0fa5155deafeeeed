"""Console pages of the email channel: original source (supervisors), the list of mail that did
not become a ticket message (quarantine, ignored, oversize) with replay, and the Jinja filter
the ticket timeline uses to fold quoted history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from paydesk.domain.errors import NotFound
from paydesk.domain.mailthread import split_quoted
from paydesk.domain.permissions import Perm
from paydesk.services.email import views
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import env, render

router = APIRouter(prefix="/agent/email", include_in_schema=False)
env.filters["email_split_quoted"] = split_quoted
STATUSES = ("quarantined", "oversize", "ignored")


def _source_response(src: views.Source, name: str, download: bool) -> Response:
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{name}.eml"'
        return Response(src.data, media_type="message/rfc822", headers=headers)
    text = src.data.decode("utf-8", "replace")
    if src.redacted:
        text = "[redacted rendering: the original held a secret and was not kept]\n\n" + text
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


@router.get("/messages/{message_id}/source")
def message_source(request: Request, ctx: Ctx, message_id: int, download: int = 0) -> Response:
    info = require_staff(request, ctx)
    if not 0 < message_id < 2**31:
        raise NotFound("message not found")
    src = views.message_source(ctx, info.actor, message_id)
    return _source_response(src, f"message-{message_id}", bool(download))


@router.get("/raw/{raw_id}/source")
def raw_source(request: Request, ctx: Ctx, raw_id: int, download: int = 0) -> Response:
    info = require_staff(request, ctx)
    if not 0 < raw_id < 2**31:
        raise NotFound("raw message not found")
    src = views.raw_source(ctx, info.actor, raw_id)
    return _source_response(src, f"raw-{raw_id}", bool(download))


@router.get("")
def problems(request: Request, ctx: Ctx, status: str = "") -> Response:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    wanted = status if status in STATUSES else None
    entries = views.problem_entries(ctx, info.actor, wanted)
    return render(
        request,
        "agent/email.html",
        locale="en",
        me=info.actor,
        entries=entries,
        status=wanted or "",
        statuses=STATUSES,
    )


@router.post("/raw/{raw_id}/replay")
def replay_one(
    request: Request,
    ctx: Ctx,
    raw_id: int,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_staff(request, ctx)
    csrf.check(request, info, csrf_token)
    info.actor.require(Perm.RAW_SOURCE_READ)
    from paydesk.services.email.replay import replay

    replay(ctx, [raw_id])
    return RedirectResponse("/agent/email", status_code=303)
