"""Supervisor dashboard (/agent/supervisor), the ticket page's SLA panel (holding reply,
escalation) and the SLA admin pages (/agent/admin/sla: business calendars, SLA policies).

Thin routes: parse, call `services.supervisor` / `services.sla` / `services.sla_admin` (which
check permissions, validate, write and audit), render. The dashboard and the admin pages answer
404 to agents and technical staff; supervisors and auditors read the admin pages, admins change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import FormData

from paydesk.domain.errors import DomainError, NotFound
from paydesk.domain.permissions import Perm
from paydesk.domain.sla import ESCALATION_LEVELS, Metric
from paydesk.domain.tickets import Category, Priority
from paydesk.services import sla, sla_admin, staff, supervisor
from paydesk.services.actors import Actor
from paydesk.services.auth import SessionInfo
from paydesk.store.base import utcnow
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.sessions import require_staff
from paydesk.web.sla_badges import badge_state
from paydesk.web.sla_texts import duration, tx
from paydesk.web.templating import env, render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, template: str, info: SessionInfo, status: int = 200, **kw: Any
) -> Response:
    locale = negotiate(request)
    return render(
        request,
        template,
        status_code=status,
        locale=locale,
        me=info.actor,
        tr=lambda key, **k: tx(locale, key, **k),
        dur=lambda seconds: duration(seconds, locale),
        can_write=info.actor.can(Perm.ADMIN),
        **kw,
    )


def _id(value: int) -> int:
    if not 0 < value < 2**31:
        raise NotFound("page not found")
    return value


# --- dashboard ----------------------------------------------------------------------------


@router.get("/agent/supervisor")
def dashboard(request: Request, ctx: Ctx) -> Response:
    info = require_staff(request, ctx)
    sla.require_supervisor_read(info.actor)
    csrf.prepare(request, info)
    data = supervisor.overview(ctx, info.actor)
    partial = request.query_params.get("partial") == "1"
    template = "agent/supervisor_body.html" if partial else "agent/supervisor.html"
    return _page(request, template, info, d=data)


# --- ticket page: SLA panel, holding reply, escalation --------------------------------------


def sla_panel(ctx: Any, actor: Actor, tk: dict[str, Any]) -> Markup | None:
    """Sidebar panel of the ticket page: each clock, the complaint deadline, escalation."""
    state = tk.get("sla")
    if state is None:
        return None
    locale = "en"
    cal_rule = None
    if state.get("complaint"):
        cfg = sla.config(ctx, actor.workspace_id)
        cal_rule = cfg.calendar_for(cfg.policy(state.get("policy_id")))[1]
    html = env.get_template("agent/supervisor_panel.html").render(
        tk=tk,
        s=state,
        me=actor,
        now=utcnow(),
        metrics=[m.value for m in Metric],
        levels=ESCALATION_LEVELS,
        extended_days=cal_rule.extended_days if cal_rule else 35,
        badge=badge_state(state, locale),
        tr=lambda key, **k: tx(locale, key, **k),
        dur=lambda seconds: duration(seconds, locale),
        locale=locale,
    )
    return Markup(html)


async def _ticket_form(request: Request, ctx: Any) -> tuple[SessionInfo, FormData]:
    info = require_staff(request, ctx)
    form = await request.form(max_files=0, max_fields=20)
    csrf.check(request, info, str(form.get("csrf_token", "")))
    return info, form


@router.post("/agent/tickets/{ticket_id}/holding-reply")
async def holding_reply(request: Request, ctx: Ctx, ticket_id: int) -> Response:
    info, form = await _ticket_form(request, ctx)
    body = str(form.get("body") or "")[:100_000]
    await asyncio.to_thread(sla.send_holding_reply, ctx, info.actor, _id(ticket_id), body)
    return RedirectResponse(f"/agent/tickets/{ticket_id}", status_code=303)


@router.post("/agent/tickets/{ticket_id}/escalation")
async def escalation(request: Request, ctx: Ctx, ticket_id: int) -> Response:
    info, form = await _ticket_form(request, ctx)
    level = str(form.get("level") or "")[:2]
    reason = str(form.get("reason") or "")[:2000]
    await asyncio.to_thread(sla.set_escalation, ctx, info.actor, _id(ticket_id), level, reason)
    return RedirectResponse(f"/agent/tickets/{ticket_id}", status_code=303)


# --- admin: calendars and policies ------------------------------------------------------------


def _reader(request: Request, ctx: Any) -> SessionInfo:
    info = require_staff(request, ctx)
    staff.require_admin_read(info.actor)
    csrf.prepare(request, info)
    return info


async def _writer(request: Request, ctx: Any) -> tuple[SessionInfo, FormData]:
    info = require_staff(request, ctx)
    staff.require_admin(info.actor)
    form = await request.form(max_files=0, max_fields=200)
    csrf.check(request, info, str(form.get("csrf_token", "")))
    csrf.prepare(request, info)
    return info, form


def _lookups(ctx: Any, actor: Actor) -> dict[str, Any]:
    from paydesk.services import admin

    return {
        "calendars": sla_admin.list_calendars(ctx, actor),
        "queues": admin.list_queues(ctx, actor),
        "categories": [c.value for c in Category],
        "priorities": [p.value for p in Priority],
        "metrics": [m.value for m in Metric],
        "weekdays": sla_admin.WEEKDAYS,
    }


@router.get("/agent/admin/sla")
def sla_home(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    look = _lookups(ctx, info.actor)
    return _page(
        request,
        "agent/supervisor_sla.html",
        info,
        policies=sla_admin.list_policies(ctx, info.actor),
        queue_names={q["id"]: q["slug"] for q in look["queues"]},
        notice="saved" if request.query_params.get("saved") else None,
        section="sla",
        **look,
    )


def _calendar_input(form: FormData) -> sla_admin.CalendarInput:
    return sla_admin.CalendarInput(
        name=str(form.get("name") or "")[:300],
        timezone=str(form.get("timezone") or "")[:100],
        hours={d: str(form.get(f"hours_{d}") or "")[:200] for d in sla_admin.WEEKDAYS},
        holidays=str(form.get("holidays") or "")[:20_000],
        extra_days=str(form.get("extra_days") or "")[:20_000],
        complaint_days=str(form.get("complaint_days") or "")[:10],
        complaint_extended_days=str(form.get("complaint_extended_days") or "")[:10],
    )


def _calendar_page(
    request: Request, info: SessionInfo, cal: dict[str, Any], status: int = 200, **kw: Any
) -> Response:
    return _page(
        request,
        "agent/supervisor_sla_calendar.html",
        info,
        status,
        cal=cal,
        weekdays=sla_admin.WEEKDAYS,
        section="sla",
        **kw,
    )


_NEW_CALENDAR: dict[str, Any] = {
    "id": None,
    "name": "",
    "timezone": "Asia/Shanghai",
    "hours": {d: ("09:00-18:00" if i < 5 else "") for i, d in enumerate(sla_admin.WEEKDAYS)},
    "holidays": [],
    "extra_days": [],
    "complaint_days": 15,
    "complaint_extended_days": 35,
    "is_default": False,
}


@router.get("/agent/admin/sla/calendars/new")
def calendar_new(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    return _calendar_page(request, info, _NEW_CALENDAR)


@router.get("/agent/admin/sla/calendars/{calendar_id}")
def calendar_edit(request: Request, ctx: Ctx, calendar_id: int) -> Response:
    info = _reader(request, ctx)
    cal = sla_admin.calendar_detail(ctx, info.actor, _id(calendar_id))
    return _calendar_page(request, info, cal)


async def _save_calendar(request: Request, ctx: Any, calendar_id: int | None) -> Response:
    info, form = await _writer(request, ctx)
    data = _calendar_input(form)
    try:
        await asyncio.to_thread(sla_admin.save_calendar, ctx, info.actor, calendar_id, data)
    except DomainError as exc:
        typed = {
            **data.__dict__,
            "id": calendar_id,
            "holidays": data.holidays.split(),
            "extra_days": data.extra_days.split(),
            "is_default": False,
        }
        return _calendar_page(
            request, info, typed, exc.status, error=exc.message, error_field=exc.field
        )
    return RedirectResponse("/agent/admin/sla?saved=1", status_code=303)


@router.post("/agent/admin/sla/calendars/new")
async def calendar_create(request: Request, ctx: Ctx) -> Response:
    return await _save_calendar(request, ctx, None)


@router.post("/agent/admin/sla/calendars/{calendar_id}")
async def calendar_update(request: Request, ctx: Ctx, calendar_id: int) -> Response:
    return await _save_calendar(request, ctx, _id(calendar_id))


def _policy_input(form: FormData) -> sla_admin.PolicyInput:
    return sla_admin.PolicyInput(
        name=str(form.get("name") or "")[:300],
        position=str(form.get("position") or "0")[:10],
        active=form.get("active") == "1",
        business_hours=form.get("business_hours") == "1",
        calendar_id=str(form.get("calendar_id") or "")[:12],
        queue_id=str(form.get("queue_id") or "")[:12],
        category=str(form.get("category") or "")[:30],
        priority=str(form.get("priority") or "")[:30],
        targets={
            f"{p.value}.{m.value}": str(form.get(f"target_{p.value}_{m.value}") or "")[:10]
            for p in Priority
            for m in Metric
        },
    )


def _policy_page(
    request: Request, ctx: Any, info: SessionInfo, pol: dict[str, Any], status: int = 200, **kw: Any
) -> Response:
    return _page(
        request,
        "agent/supervisor_sla_policy.html",
        info,
        status,
        pol=pol,
        section="sla",
        **_lookups(ctx, info.actor),
        **kw,
    )


_NEW_POLICY: dict[str, Any] = {
    "id": None,
    "name": "",
    "position": 0,
    "active": True,
    "business_hours": True,
    "calendar_id": None,
    "queue_id": None,
    "category": None,
    "priority": None,
    "targets": sla_admin.DEFAULT_TARGETS,
}


@router.get("/agent/admin/sla/policies/new")
def policy_new(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    return _policy_page(request, ctx, info, _NEW_POLICY)


@router.get("/agent/admin/sla/policies/{policy_id}")
def policy_edit(request: Request, ctx: Ctx, policy_id: int) -> Response:
    info = _reader(request, ctx)
    pol = sla_admin.policy_detail(ctx, info.actor, _id(policy_id))
    return _policy_page(request, ctx, info, pol)


async def _save_policy(request: Request, ctx: Any, policy_id: int | None) -> Response:
    info, form = await _writer(request, ctx)
    data = _policy_input(form)
    try:
        await asyncio.to_thread(sla_admin.save_policy, ctx, info.actor, policy_id, data)
    except DomainError as exc:
        targets: dict[str, dict[str, str]] = {}
        for key, v in (data.targets or {}).items():
            p, _, m = key.partition(".")
            targets.setdefault(p, {})[m] = v
        typed = {**data.__dict__, "id": policy_id, "targets": targets}
        return _policy_page(
            request, ctx, info, typed, exc.status, error=exc.message, error_field=exc.field
        )
    return RedirectResponse("/agent/admin/sla?saved=1", status_code=303)


@router.post("/agent/admin/sla/policies/new")
async def policy_create(request: Request, ctx: Ctx) -> Response:
    return await _save_policy(request, ctx, None)


@router.post("/agent/admin/sla/policies/{policy_id}")
async def policy_update(request: Request, ctx: Ctx, policy_id: int) -> Response:
    return await _save_policy(request, ctx, _id(policy_id))
