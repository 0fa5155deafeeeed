"""Incident console pages: /agent/incidents (list, suggestion banner, new), the detail page
(status, escalation, linked tickets with search-and-link in bulk, timeline, "tell the customers
it is fixed"), and the ticket sidebar panel. Forms post with the session's CSRF token; every
change goes through `services/incidents.py`; labels in English and Chinese."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import InvalidInput
from paydesk.domain.permissions import Perm
from paydesk.services import incident_notify, incident_suggest, incident_views, incidents
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.pages.incident_texts import tx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import env, render

router = APIRouter(prefix="/agent/incidents", include_in_schema=False)
Text = Annotated[str, Form(max_length=10000)]
Short = Annotated[str, Form(max_length=200)]
Token = Annotated[str, Form(max_length=100)]


def _page(request: Request, ctx: AppContext, template: str, **kw: Any) -> Response:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    locale = negotiate(request)
    return render(
        request,
        template,
        locale=locale,
        me=info.actor,
        tx=lambda key, **a: tx(locale, key, **a),
        can_manage=incidents.can_manage(info.actor),
        can_write=info.actor.can(Perm.TICKET_WRITE),
        statuses=incidents.STATUSES,
        severities=incidents.SEVERITIES,
        **kw,
    )


def _actor(request: Request, ctx: AppContext, token: str) -> Actor:
    info = require_staff(request, ctx)
    csrf.check(request, info, token)
    return info.actor


def _ids(values: list[str]) -> list[int]:
    out = []
    for v in values:
        if not v.strip().isdigit() or len(v.strip()) > 10:
            raise InvalidInput("ticket ids must be numbers", field="ticket_ids")
        out.append(int(v))
    return out


def _to(incident_id: int) -> RedirectResponse:
    return RedirectResponse(f"/agent/incidents/{incident_id}", status_code=303)


@router.get("")
def incident_list(request: Request, ctx: Ctx, state: str = "open") -> Response:
    info = require_staff(request, ctx)
    state = state if state in ("open", "resolved", "all") else "open"
    return _page(
        request,
        ctx,
        "agent/incidents.html",
        state=state,
        rows=incident_views.list_incidents(ctx, info.actor, state=state),
        suggestions=incident_suggest.suggestions(ctx, info.actor),
    )


@router.get("/new")
def new_incident(request: Request, ctx: Ctx, ticket_id: int | None = None) -> Response:
    info = require_staff(request, ctx)
    ticket = None
    if ticket_id is not None:
        from paydesk.services.access import access_ticket

        with ctx.read() as s:
            t = access_ticket(s, info.actor, ticket_id) if 0 < ticket_id < 2**31 else None
            if t is None:
                from paydesk.domain.errors import NotFound

                raise NotFound("ticket not found")
            ticket = {"id": t.id, "number": t.number, "subject": t.subject}
    return _page(
        request,
        ctx,
        "agent/incident_new.html",
        ticket=ticket,
        open_incidents=incident_views.list_incidents(ctx, info.actor, state="open"),
    )


@router.post("")
def create(
    request: Request,
    ctx: Ctx,
    title: Short,
    csrf_token: Token = "",
    affected_service: Short = "",
    severity: Annotated[str, Form(max_length=8)] = "sev3",
    description: Text = "",
    ticket_ids: Annotated[list[str] | None, Form()] = None,
    source_ticket_id: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    source = _ids([source_ticket_id])[0] if source_ticket_id else None
    inc = incidents.create_incident(
        ctx,
        actor,
        title=title,
        affected_service=affected_service,
        severity=severity,
        description=description,
        ticket_ids=_ids(ticket_ids or []),
        source_ticket_id=source,
    )
    return _to(inc.id)


@router.get("/{incident_id}")
def detail(request: Request, ctx: Ctx, incident_id: int, q: str = "") -> Response:
    info = require_staff(request, ctx)
    inc = incident_views.incident_detail(ctx, info.actor, incident_id)
    q = q.strip()[:500]
    return _page(
        request,
        ctx,
        "agent/incident.html",
        inc=inc,
        q=q,
        results=incident_views.search_tickets(ctx, info.actor, q) if q else None,
        oncall=incidents.oncall_candidates(ctx, info.actor),
        default_en=_default(inc, "en"),
        default_zh=_default(inc, "zh-CN"),
    )


def _default(inc: dict[str, Any], locale: str) -> str:
    service = inc["affected_service"] or incident_notify.GENERIC_SERVICE[locale]
    return incident_notify.FIXED_NOTICE[locale].format(service=service)


@router.post("/{incident_id}/update")
def update(
    request: Request,
    ctx: Ctx,
    incident_id: int,
    csrf_token: Token = "",
    status: Annotated[str, Form(max_length=16)] = "",
    severity: Annotated[str, Form(max_length=8)] = "",
    affected_service: Annotated[str | None, Form(max_length=100)] = None,
    note: Text = "",
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    incidents.update_incident(
        ctx,
        actor,
        incident_id,
        status=status or None,
        severity=severity or None,
        affected_service=affected_service,
        note=note,
    )
    return _to(incident_id)


@router.post("/{incident_id}/link")
def link(
    request: Request,
    ctx: Ctx,
    incident_id: int,
    csrf_token: Token = "",
    ticket_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    incidents.link_tickets(ctx, actor, incident_id, _ids(ticket_ids or []))
    return _to(incident_id)


@router.post("/{incident_id}/unlink/{ticket_id}")
def unlink(
    request: Request, ctx: Ctx, incident_id: int, ticket_id: int, csrf_token: Token = ""
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    incidents.unlink_ticket(ctx, actor, incident_id, ticket_id)
    return _to(incident_id)


@router.post("/{incident_id}/escalate")
def escalate(
    request: Request,
    ctx: Ctx,
    incident_id: int,
    csrf_token: Token = "",
    agent_id: Annotated[str, Form(max_length=10)] = "",
    note: Text = "",
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    target = _ids([agent_id])[0] if agent_id else None
    incidents.escalate(ctx, actor, incident_id, agent_id=target, note=note)
    return _to(incident_id)


@router.post("/{incident_id}/notify")
def notify(
    request: Request,
    ctx: Ctx,
    incident_id: int,
    csrf_token: Token = "",
    set_status: Annotated[str, Form(max_length=10)] = "solved",
    message_en: Annotated[str, Form(max_length=2000)] = "",
    message_zh: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    actor = _actor(request, ctx, csrf_token)
    incident_notify.notify_resolved(
        ctx, actor, incident_id, set_status=set_status, message_en=message_en, message_zh=message_zh
    )
    return _to(incident_id)


def ticket_panel(ctx: AppContext, actor: Actor, t: dict[str, Any]) -> Markup | None:
    """Ticket sidebar: the incident this ticket belongs to, or a way to create/link one."""
    inc = incident_views.incident_of_ticket(ctx, actor, t["id"])
    if inc is None and not actor.can(Perm.TICKET_WRITE):
        return None
    return Markup(
        env.get_template("agent/_incident_panel.html").render(
            t=t, inc=inc, ref=incidents.ref, tx=lambda key, **a: tx("en", key, **a)
        )
    )
