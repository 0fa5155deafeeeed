"""Agent console (/agent): login, inbox, ticket page, customer page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from paydesk.domain.errors import DomainError, NotFound
from paydesk.domain.tickets import Category, Priority, Status, allowed_transitions
from paydesk.services import auth
from paydesk.services.access import access_customer
from paydesk.services.auth import SessionInfo
from paydesk.services.queries import (
    TicketFilter,
    customer_public,
    inbox_counts,
    list_tickets,
    ticket_detail,
)
from paydesk.services.tickets import add_agent_message, update_ticket
from paydesk.store.agents import Agent
from paydesk.store.workspace import Queue
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import (
    STAFF_COOKIE,
    clear_cookie,
    require_staff,
    set_cookie,
    staff_login_url,
    staff_session_any,
)
from paydesk.web.templating import render

router = APIRouter(prefix="/agent", include_in_schema=False)


# Sidebar panels of the ticket page, "module:function" → (ctx, actor, ticket dict) -> Markup | None.
TICKET_PANELS: list[str] = [
    "paydesk.web.pages.macros:macro_panel",
    "paydesk.web.pages.reports:ticket_rating_panel",
    "paydesk.web.pages.incidents:ticket_panel",
    "paydesk.web.pages.payments:ticket_panel",
    "paydesk.web.pages.admin_routing:ticket_panel",
    "paydesk.web.pages.kb_admin:assist_panel",
    "paydesk.web.pages.email:participants_panel",
    "paydesk.web.pages.supervisor:sla_panel",
]


def _load(spec: str) -> Any:
    import importlib

    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _session(request: Request, ctx: Any) -> SessionInfo:
    """The signed-in staff member of a console page, or LoginRequired (→ the login form)."""
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    return info


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(staff_login_url(request), status_code=303)


def _safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/agent") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return "/agent"


@router.get("/login")
def login_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:
    csrf.prepare(request, None)
    return csrf.finish(
        request, render(request, "agent/login.html", locale="en", next=_safe_next(next))
    )


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/agent",
) -> Response:
    csrf.check(request, None, csrf_token)
    try:
        agent = auth.authenticate(ctx, email, password)
    except DomainError as exc:
        csrf.prepare(request, None)
        return render(
            request,
            "agent/login.html",
            status_code=exc.status,
            locale="en",
            error=exc.message,
            next=_safe_next(next),
            email=email,
        )
    raw = auth.create_session(
        ctx,
        agent_id=agent.id,
        workspace_id=agent.workspace_id,
        replace=request.cookies.get(STAFF_COOKIE),
        mfa_pending=bool(agent.totp_secret),
    )
    target = (
        "/agent/2fa?" + urlencode({"next": _safe_next(next)})
        if agent.totp_secret
        else _safe_next(next)
    )
    resp = RedirectResponse(target, status_code=303)
    set_cookie(resp, ctx, STAFF_COOKIE, raw)
    return resp


@router.get("/2fa")
def twofa_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:
    info = staff_session_any(request, ctx)
    if info is None:
        return _login_redirect(request)
    csrf.prepare(request, info)
    return render(request, "agent/2fa.html", locale="en", next=_safe_next(next))


@router.post("/2fa")
def twofa(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/agent",
) -> Response:
    info = staff_session_any(request, ctx)
    if info is None:
        return _login_redirect(request)
    csrf.check(request, info, csrf_token)
    try:  # a TOTP code once per time-step, or a single-use recovery code
        auth.check_second_factor(ctx, info.actor.id, code)
    except DomainError as exc:
        csrf.prepare(request, info)
        return render(
            request,
            "agent/2fa.html",
            status_code=429 if exc.status == 429 else 401,  # per-account attempt limit
            locale="en",
            error=exc.message,
            next=_safe_next(next),
        )
    # rotate the session id once the second factor is in
    raw = auth.create_session(
        ctx,
        agent_id=info.actor.id,
        workspace_id=info.actor.workspace_id,
        replace=request.cookies.get(STAFF_COOKIE),
    )
    resp = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(resp, ctx, STAFF_COOKIE, raw)
    return resp


@router.post("/logout")
def logout(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    info = staff_session_any(request, ctx)
    if info is not None:
        csrf.check(request, info, csrf_token)
        auth.destroy_session(ctx, request.cookies.get(STAFF_COOKIE, ""))
    resp = RedirectResponse("/agent/login", status_code=303)
    clear_cookie(resp, STAFF_COOKIE)
    return resp


def _inbox_filter(request: Request, info: SessionInfo) -> TicketFilter:
    qp = request.query_params
    view = qp.get("view", "unsolved")
    f = TicketFilter(
        # a search looks through every status unless one is chosen
        status=qp.get("status") or ("unsolved" if view == "unsolved" and not qp.get("q") else None),
        queue=qp.get("queue") or None,
        q=(qp.get("q") or "")[:500] or None,
        category=qp.get("category") or None,
        priority=qp.get("priority") or None,
        cursor=qp.get("cursor") or None,
        limit=50,
        sla=(qp.get("sla") or "")[:20] or None,  # breached | due_soon (services/sla.py)
        sort=(qp.get("sort") or "")[:10] or None,
    )
    if view == "mine":
        f.assignee_id = info.actor.id
        f.status = f.status or "unsolved"
    return f


@router.get("")
def inbox(request: Request, ctx: Ctx) -> Response:
    info = _session(request, ctx)
    f = _inbox_filter(request, info)
    with ctx.read() as s:
        rows, nxt = list_tickets(ctx, s, info.actor, f)
        queues = list(
            s.scalars(
                select(Queue)
                .where(Queue.workspace_id == info.actor.workspace_id)
                .order_by(Queue.id)
            )
        )
        if not info.actor.can(_read_all()):
            queues = [q for q in queues if q.id in info.actor.queue_ids]
        counts = inbox_counts(s, info.actor)
        agents = {
            a.id: a.name
            for a in s.scalars(select(Agent).where(Agent.workspace_id == info.actor.workspace_id))
        }
    next_url = None
    if nxt:
        params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "partial")}
        next_url = "/agent?" + urlencode({**params, "cursor": nxt})
    template = "agent/_rows.html" if request.query_params.get("partial") else "agent/inbox.html"
    return render(
        request,
        template,
        locale="en",
        me=info.actor,
        tickets=rows,
        next_cursor=nxt,
        queues=queues,
        counts=counts,
        agents=agents,
        f=f,
        next_url=next_url,
        view=request.query_params.get("view", "unsolved"),
        query=dict(request.query_params),
        statuses=[s.value for s in Status],
        categories=[c.value for c in Category],
        priorities=[p.value for p in Priority],
    )


def _read_all() -> Any:
    from paydesk.domain.permissions import Perm

    return Perm.TICKET_READ_ALL


@router.get("/tickets/{ticket_id}")
def ticket_page(request: Request, ctx: Ctx, ticket_id: int) -> Response:
    info = _session(request, ctx)
    if not 0 < ticket_id < 2**31:
        raise NotFound("ticket not found")
    t = ticket_detail(ctx, info.actor, ticket_id)
    with ctx.read() as s:
        history, _ = list_tickets(
            ctx, s, info.actor, TicketFilter(customer_id=t["customer_id"], limit=20)
        )
        agents = list(
            s.scalars(
                select(Agent)
                .where(Agent.workspace_id == info.actor.workspace_id, Agent.active.is_(True))
                .order_by(Agent.name)
            )
        )
        queues = list(
            s.scalars(
                select(Queue)
                .where(Queue.workspace_id == info.actor.workspace_id)
                .order_by(Queue.id)
            )
        )
    panels = [_load(spec)(ctx, info.actor, t) for spec in TICKET_PANELS]
    return render(
        request,
        "agent/ticket.html",
        locale="en",
        me=info.actor,
        tk=t,
        history=[h for h in history if h.id != ticket_id],
        agents=agents,
        queues=queues,
        transitions=sorted(allowed_transitions(Status(t["status"]))),
        priorities=[p.value for p in Priority],
        categories=[c.value for c in Category],
        panels=[p for p in panels if p],
    )


@router.post("/tickets/{ticket_id}/reply")
def ticket_reply(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    body: Annotated[str, Form(max_length=1_000_000)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    internal: Annotated[str, Form()] = "",
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    add_agent_message(ctx, info.actor, ticket_id, body, internal=internal in ("1", "on", "true"))
    if status:
        update_ticket(ctx, info.actor, ticket_id, {"status": status})
    return RedirectResponse(f"/agent/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/update")
async def ticket_update(request: Request, ctx: Ctx, ticket_id: int) -> Response:
    info = _session(request, ctx)
    form = await request.form()
    csrf.check(request, info, str(form.get("csrf_token", "")))
    changes: dict[str, Any] = {}
    for key in ("status", "priority", "category"):
        v = form.get(key)
        if v:
            changes[key] = str(v)
    if "assignee_id" in form:
        v = str(form.get("assignee_id") or "")
        changes["assignee_id"] = int(v) if v.isdigit() else None
    if "queue_id" in form and str(form.get("queue_id") or "").isdigit():
        changes["queue_id"] = int(str(form.get("queue_id")))
    if "tags" in form:
        changes["tags"] = [x for x in str(form.get("tags") or "").replace("，", ",").split(",")]
    import asyncio

    await asyncio.to_thread(update_ticket, ctx, info.actor, ticket_id, changes)
    return RedirectResponse(f"/agent/tickets/{ticket_id}", status_code=303)


@router.get("/attachments/{attachment_id}")
def attachment(request: Request, ctx: Ctx, attachment_id: int) -> Response:
    """Always a download (Content-Disposition: attachment), never rendered inline."""
    info = _session(request, ctx)
    if not 0 < attachment_id < 2**31:
        raise NotFound("attachment not found")
    from urllib.parse import quote

    from paydesk.services.access import access_attachment
    from paydesk.services.files import read_bytes

    with ctx.read() as s:
        att = access_attachment(s, info.actor, attachment_id)
        name, ctype, key = att.filename, att.content_type, att.storage_key
    data = read_bytes(ctx.settings.data_dir, key)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return Response(
        data,
        media_type=ctype
        if ctype.startswith(("image/", "application/pdf"))
        else "application/octet-stream",
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


@router.get("/customers/{customer_id}")
def customer_page(request: Request, ctx: Ctx, customer_id: int) -> Response:
    info = _session(request, ctx)
    if not 0 < customer_id < 2**31:
        raise NotFound("customer not found")
    with ctx.read() as s:
        c = access_customer(s, info.actor, customer_id)
        cust = customer_public(s, c)
        tickets, _ = list_tickets(
            ctx, s, info.actor, TicketFilter(customer_id=customer_id, limit=100)
        )
    from paydesk.services import audit

    with ctx.uow() as uow:
        audit.record(
            uow.session,
            info.actor,
            "customer.viewed",
            object_type="customer",
            object_id=customer_id,
            customer_id=customer_id,
        )
    return render(
        request, "agent/customer.html", locale="en", me=info.actor, c=cust, tickets=tickets
    )
