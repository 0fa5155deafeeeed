"""Macros in the console: the list and editor (/agent/macros), the ticket page's picker panel
and the reply route that applies a macro's actions when the reply is sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import DomainError, NotFound
from paydesk.domain.macros import ACTION_STATUSES, PLACEHOLDERS, describe_actions
from paydesk.domain.permissions import Perm
from paydesk.domain.tickets import Priority
from paydesk.services import macros
from paydesk.services.actors import Actor
from paydesk.services.auth import SessionInfo
from paydesk.services.context import AppContext
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import env, render

router = APIRouter(prefix="/agent", include_in_schema=False)


def _session(request: Request, ctx: AppContext) -> SessionInfo:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    return info


def _form_page(
    request: Request,
    info: SessionInfo,
    ctx: AppContext,
    *,
    values: dict[str, Any],
    macro_id: int | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    rows = macros.list_macros(ctx, info.actor)
    return render(
        request,
        "agent/macros.html",
        status_code=status_code,
        locale="en",
        me=info.actor,
        macros=[
            {
                "id": m.id,
                "name": m.name,
                "shared": m.owner_id is None,
                "actions": describe_actions(m.actions or {}),
                "usage": m.usage_count,
                "editable": info.actor.can(Perm.TICKET_WRITE)
                and (m.owner_id is not None or macros.can_manage_shared(info.actor)),
            }
            for m in rows
        ],
        v=values,
        macro_id=macro_id,
        error=error,
        can_write=info.actor.can(Perm.TICKET_WRITE),
        can_share=macros.can_manage_shared(info.actor),
        statuses=[s.value for s in ACTION_STATUSES],
        priorities=[p.value for p in Priority],
        placeholders=["{{" + p + "}}" for p in PLACEHOLDERS],
    )


def _values(m: Any) -> dict[str, Any]:
    actions = m.actions or {}
    return {
        "name": m.name,
        "body_en": m.body_en,
        "body_zh": m.body_zh,
        "status": actions.get("status", ""),
        "priority": actions.get("priority", ""),
        "add_tags": ", ".join(actions.get("add_tags", [])),
        "shared": m.owner_id is None,
    }


@router.get("/macros")
def macros_page(request: Request, ctx: Ctx) -> Response:
    info = _session(request, ctx)
    shared = macros.can_manage_shared(info.actor)
    return _form_page(request, info, ctx, values={"shared": shared})


@router.get("/macros/{macro_id}")
def macro_edit_page(request: Request, ctx: Ctx, macro_id: int) -> Response:
    info = _session(request, ctx)
    if not 0 < macro_id < 2**31:
        raise NotFound("macro not found")
    with ctx.read() as s:
        m = macros.access_macro(s, info.actor, macro_id)
        values = _values(m)
    return _form_page(request, info, ctx, values=values, macro_id=macro_id)


def _input(
    name: str, body_en: str, body_zh: str, status: str, priority: str, add_tags: str, shared: str
) -> macros.MacroInput:
    return macros.MacroInput(
        name=name,
        body_en=body_en,
        body_zh=body_zh,
        actions={"status": status, "priority": priority, "add_tags": add_tags},
        shared=shared in ("1", "on", "true"),
    )


Text = Annotated[str, Form(max_length=25_000)]
Short = Annotated[str, Form(max_length=500)]


@router.post("/macros")
def macro_create(
    request: Request,
    ctx: Ctx,
    name: Short = "",
    body_en: Text = "",
    body_zh: Text = "",
    status: Short = "",
    priority: Short = "",
    add_tags: Short = "",
    shared: Short = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    data = _input(name, body_en, body_zh, status, priority, add_tags, shared)
    try:
        macros.create_macro(ctx, info.actor, data)
    except DomainError as exc:
        values = {**data.actions, "name": name, "body_en": body_en, "body_zh": body_zh}
        values["shared"] = data.shared
        return _form_page(
            request, info, ctx, values=values, error=exc.message, status_code=exc.status
        )
    return RedirectResponse("/agent/macros", status_code=303)


@router.post("/macros/{macro_id}")
def macro_update(
    request: Request,
    ctx: Ctx,
    macro_id: int,
    name: Short = "",
    body_en: Text = "",
    body_zh: Text = "",
    status: Short = "",
    priority: Short = "",
    add_tags: Short = "",
    shared: Short = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    data = _input(name, body_en, body_zh, status, priority, add_tags, shared)
    try:
        macros.update_macro(ctx, info.actor, macro_id, data)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        values = {**data.actions, "name": name, "body_en": body_en, "body_zh": body_zh}
        values["shared"] = data.shared
        return _form_page(
            request,
            info,
            ctx,
            values=values,
            macro_id=macro_id,
            error=exc.message,
            status_code=exc.status,
        )
    return RedirectResponse("/agent/macros", status_code=303)


@router.post("/macros/{macro_id}/delete")
def macro_delete(
    request: Request,
    ctx: Ctx,
    macro_id: int,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    macros.delete_macro(ctx, info.actor, macro_id)
    return RedirectResponse("/agent/macros", status_code=303)


@router.post("/tickets/{ticket_id}/macro-reply")
def macro_reply(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    body: Annotated[str, Form(max_length=1_000_000)],
    macro_id: Annotated[int, Form()],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    internal: Annotated[str, Form()] = "",
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The composer's submit when a macro was picked: reply, then the macro's actions."""
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    macros.reply_with_macro(
        ctx,
        info.actor,
        ticket_id,
        macro_id,
        body,
        internal=internal in ("1", "on", "true"),
        status=status,
    )
    return RedirectResponse(f"/agent/tickets/{ticket_id}", status_code=303)


def macro_panel(ctx: AppContext, actor: Actor, t: dict[str, Any]) -> Markup | None:
    """TICKET_PANELS entry: the macro picker (fills the reply box; actions apply on send)."""
    if not actor.can(Perm.TICKET_WRITE) or t.get("status") == "closed":
        return None
    rows = macros.render_for_ticket(ctx, actor, t["id"])
    html = env.get_template("agent/_macro_panel.html").render(rows=rows, ticket_id=t["id"])
    return Markup(html)
