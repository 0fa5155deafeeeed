"""Console pages of the email channel: original source (supervisors), the list of mail that did
not become a ticket message (quarantine, ignored, oversize) with replay, and the Jinja filter
the ticket timeline uses to fold quoted history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import NotFound
from paydesk.domain.mailthread import split_quoted
from paydesk.domain.permissions import Perm
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.email import participants, views
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


# ---- participants (Cc) of a ticket --------------------------------------------------------------

# fills the CSRF field of the panel's forms from the page (the panel is rendered without the
# request); plain form posts otherwise, so the page reloads with the new list
PARTICIPANTS_JS = r"""
document.addEventListener('DOMContentLoaded', function () {
  var m = document.querySelector('meta[name="csrf-token"]');
  document.querySelectorAll('form.pd-email-csrf input[name="csrf_token"]').forEach(
    function (i) { i.value = m ? m.content : ''; });
});
"""


@router.get("/participants.js")
def participants_js() -> Response:
    return Response(
        PARTICIPANTS_JS,
        media_type="application/javascript",
        headers={"Cache-Control": "max-age=300"},
    )


def participants_panel(ctx: AppContext, actor: Actor, t: dict[str, Any]) -> Markup | None:
    """Ticket sidebar (TICKET_PANELS): who is copied on email replies; add / remove."""
    rows = participants.list_participants(ctx, actor, t["id"])
    if not rows and t.get("channel") != "email":
        return None
    html = env.get_template("agent/email_participants.html").render(
        t=t, participants=rows, can_write=actor.can(Perm.TICKET_WRITE)
    )
    return Markup(html)


def _back(ticket_id: int) -> RedirectResponse:
    return RedirectResponse(f"/agent/tickets/{ticket_id}#email-participants", status_code=303)


@router.post("/tickets/{ticket_id}/participants")
def add_participant(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    address: Annotated[str, Form(max_length=254)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_staff(request, ctx)
    csrf.check(request, info, csrf_token)
    if not 0 < ticket_id < 2**31:
        raise NotFound("ticket not found")
    participants.add_participant(ctx, info.actor, ticket_id, address)
    return _back(ticket_id)


@router.post("/tickets/{ticket_id}/participants/{participant_id}/remove")
def remove_participant(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    participant_id: int,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_staff(request, ctx)
    csrf.check(request, info, csrf_token)
    if not (0 < ticket_id < 2**31 and 0 < participant_id < 2**31):
        raise NotFound("participant not found")
    participants.remove_participant(ctx, info.actor, ticket_id, participant_id)
    return _back(ticket_id)
