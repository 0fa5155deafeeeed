"""Admin console (/agent/admin): staff users, teams and queues.

Thin routes: parse the form, call `services.staff` / `services.admin` (which check permissions,
validate, write and audit), render. Admins change; supervisors and auditors read; everyone else
gets 404. A refused form comes back with the message beside the field and the values kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from paydesk.domain.errors import DomainError, NotFound
from paydesk.domain.permissions import Perm, Role
from paydesk.domain.tickets import Category
from paydesk.services import admin, staff
from paydesk.services.actors import Actor
from paydesk.services.auth import SessionInfo
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.pages.admin_texts import tx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import render

router = APIRouter(prefix="/agent/admin", include_in_schema=False)
P = ParamSpec("P")
T = TypeVar("T")


def _reader(request: Request, ctx: Any) -> SessionInfo:
    """Signed-in staff who may read the admin pages (else LoginRequired / NotFound)."""
    info = require_staff(request, ctx)
    staff.require_admin_read(info.actor)
    csrf.prepare(request, info)
    return info


async def _writer(request: Request, ctx: Any) -> tuple[SessionInfo, FormData]:
    """Signed-in admin posting a form with the session's CSRF token (else 404 / 403)."""
    info = require_staff(request, ctx)
    staff.require_admin(info.actor)
    form = await request.form(max_files=0, max_fields=5000)
    csrf.check(request, info, str(form.get("csrf_token", "")))
    csrf.prepare(request, info)
    return info, form


def _id(value: int) -> int:
    if not 0 < value < 2**31:
        raise NotFound("page not found")
    return value


def _ints(form: FormData, key: str) -> list[int]:
    """Checked ids from a multi-select / checkbox group; anything else is not a known id."""
    out = []
    for v in form.getlist(key):
        s = str(v)
        out.append(int(s) if s.isdigit() and len(s) < 10 else -1)
    return out


def _text(form: FormData, key: str, max_len: int = 500) -> str:
    return str(form.get(key) or "")[:max_len]


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
        tr=lambda key: tx(locale, key),
        can_write=info.actor.can(Perm.ADMIN),
        roles=[r.value for r in Role],
        languages=list(staff.LANGUAGES),
        **kw,
    )


async def _call(fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
    """A service call (blocking database work) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kw)


def _lookups(ctx: Any, actor: Actor) -> dict[str, Any]:
    return {
        "all_teams": admin.list_teams(ctx, actor),
        "all_queues": admin.list_queues(ctx, actor),
        "all_staff": [a for a in staff.list_staff(ctx, actor)],
    }


@router.get("")
def admin_home(request: Request, ctx: Ctx) -> Response:
    _reader(request, ctx)
    return RedirectResponse("/agent/admin/staff", status_code=303)


# --- staff --------------------------------------------------------------------------------


@router.get("/staff")
def staff_list(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    look = _lookups(ctx, info.actor)
    return _page(
        request,
        "agent/admin/staff_list.html",
        info,
        rows=look["all_staff"],
        teams={t["id"]: t["name"] for t in look["all_teams"]},
        queues={q["id"]: q["slug"] for q in look["all_queues"]},
        section="staff",
    )


def _staff_input(form: FormData) -> staff.StaffInput:
    return staff.StaffInput(
        name=_text(form, "name", 300),
        email=_text(form, "email", 300),
        role=_text(form, "role", 20),
        languages=[str(x)[:10] for x in form.getlist("languages")][:10],
        skills=_text(form, "skills", 3000).replace("，", ",").split(","),
        capacity=_text(form, "capacity", 10),
        team_ids=_ints(form, "team_ids"),
        queue_ids=_ints(form, "queue_ids"),
    )


def _staff_form(
    request: Request,
    ctx: Any,
    info: SessionInfo,
    user: dict[str, Any],
    status: int = 200,
    **kw: Any,
) -> Response:
    return _page(
        request,
        "agent/admin/staff_form.html",
        info,
        status=status,
        u=user,
        section="staff",
        **_lookups(ctx, info.actor),
        **kw,
    )


_BLANK_STAFF: dict[str, Any] = {
    "id": None,
    "name": "",
    "email": "",
    "role": "agent",
    "languages": ["en"],
    "skills": [],
    "capacity": 5,
    "team_ids": [],
    "queue_ids": [],
    "active": True,
}


def _as_user(data: staff.StaffInput, base: dict[str, Any]) -> dict[str, Any]:
    """The submitted values, to show the form again as the user filled it in."""
    return {
        **base,
        "name": data.name,
        "email": data.email,
        "role": data.role,
        "languages": data.languages,
        "skills": [s.strip() for s in data.skills if s.strip()],
        "capacity": data.capacity,
        "team_ids": data.team_ids,
        "queue_ids": data.queue_ids,
    }


@router.get("/staff/new")
def staff_new(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    info.actor.require(Perm.ADMIN)
    return _staff_form(request, ctx, info, dict(_BLANK_STAFF))


@router.post("/staff/new")
async def staff_create(request: Request, ctx: Ctx) -> Response:
    info, form = await _writer(request, ctx)
    data = _staff_input(form)
    try:
        new_id = await _call(
            staff.create_staff, ctx, info.actor, data, str(form.get("password") or "")[:200]
        )
    except DomainError as exc:
        return await _call(
            _staff_form,
            request,
            ctx,
            info,
            _as_user(data, _BLANK_STAFF),
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(f"/agent/admin/staff/{new_id}?done=saved", status_code=303)


_NOTICES = ("saved", "no_changes", "deactivated", "reactivated", "totp_reset", "password_set")


@router.get("/staff/{agent_id}")
def staff_edit(request: Request, ctx: Ctx, agent_id: int) -> Response:
    info = _reader(request, ctx)
    user = staff.staff_detail(ctx, info.actor, _id(agent_id))
    done = request.query_params.get("done", "")
    return _staff_form(request, ctx, info, user, notice=done if done in _NOTICES else None)


@router.post("/staff/{agent_id}")
async def staff_update(request: Request, ctx: Ctx, agent_id: int) -> Response:
    info, form = await _writer(request, ctx)
    data = _staff_input(form)
    current = await _call(staff.staff_detail, ctx, info.actor, _id(agent_id))
    try:
        changes = await _call(staff.update_staff, ctx, info.actor, agent_id, data)
    except DomainError as exc:
        return await _call(
            _staff_form,
            request,
            ctx,
            info,
            _as_user(data, current),
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    done = "saved" if changes else "no_changes"
    return RedirectResponse(f"/agent/admin/staff/{agent_id}?done={done}", status_code=303)


async def _staff_action(
    request: Request, ctx: Any, agent_id: int, action: Callable[[Actor, FormData], Any], done: str
) -> Response:
    info, form = await _writer(request, ctx)
    current = await _call(staff.staff_detail, ctx, info.actor, _id(agent_id))
    try:
        await _call(action, info.actor, form)
    except DomainError as exc:
        return await _call(
            _staff_form,
            request,
            ctx,
            info,
            current,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(f"/agent/admin/staff/{agent_id}?done={done}", status_code=303)


@router.post("/staff/{agent_id}/deactivate")
async def staff_deactivate(request: Request, ctx: Ctx, agent_id: int) -> Response:
    return await _staff_action(
        request,
        ctx,
        agent_id,
        lambda actor, _f: staff.set_staff_active(ctx, actor, agent_id, False),
        "deactivated",
    )


@router.post("/staff/{agent_id}/reactivate")
async def staff_reactivate(request: Request, ctx: Ctx, agent_id: int) -> Response:
    return await _staff_action(
        request,
        ctx,
        agent_id,
        lambda actor, _f: staff.set_staff_active(ctx, actor, agent_id, True),
        "reactivated",
    )


@router.post("/staff/{agent_id}/totp-reset")
async def staff_totp_reset(request: Request, ctx: Ctx, agent_id: int) -> Response:
    return await _staff_action(
        request,
        ctx,
        agent_id,
        lambda actor, _f: staff.reset_totp(ctx, actor, agent_id),
        "totp_reset",
    )


@router.post("/staff/{agent_id}/password")
async def staff_password(request: Request, ctx: Ctx, agent_id: int) -> Response:
    return await _staff_action(
        request,
        ctx,
        agent_id,
        lambda actor, f: staff.set_password(ctx, actor, agent_id, _text(f, "password", 200)),
        "password_set",
    )


# --- teams --------------------------------------------------------------------------------


def _teams_page(
    request: Request, ctx: Any, info: SessionInfo, status: int = 200, **kw: Any
) -> Response:
    kw.setdefault("new", {"name": "", "member_ids": []})
    return _page(
        request,
        "agent/admin/teams.html",
        info,
        status=status,
        section="teams",
        **_lookups(ctx, info.actor),
        **kw,
    )


@router.get("/teams")
def teams_list(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    return _teams_page(request, ctx, info)


@router.post("/teams")
async def team_create(request: Request, ctx: Ctx) -> Response:
    info, form = await _writer(request, ctx)
    name, members = _text(form, "name", 300), _ints(form, "member_ids")
    try:
        team_id = await _call(admin.create_team, ctx, info.actor, name, members)
    except DomainError as exc:
        return await _call(
            _teams_page,
            request,
            ctx,
            info,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
            new={"name": name, "member_ids": members},
        )
    return RedirectResponse(f"/agent/admin/teams/{team_id}?done=saved", status_code=303)


def _team_form(
    request: Request,
    ctx: Any,
    info: SessionInfo,
    team: dict[str, Any],
    status: int = 200,
    **kw: Any,
) -> Response:
    return _page(
        request,
        "agent/admin/team_form.html",
        info,
        status=status,
        team=team,
        section="teams",
        **_lookups(ctx, info.actor),
        **kw,
    )


@router.get("/teams/{team_id}")
def team_edit(request: Request, ctx: Ctx, team_id: int) -> Response:
    info = _reader(request, ctx)
    team = admin.team_detail(ctx, info.actor, _id(team_id))
    done = request.query_params.get("done", "")
    return _team_form(request, ctx, info, team, notice=done if done in _NOTICES else None)


@router.post("/teams/{team_id}")
async def team_update(request: Request, ctx: Ctx, team_id: int) -> Response:
    info, form = await _writer(request, ctx)
    team = await _call(admin.team_detail, ctx, info.actor, _id(team_id))
    name, members = _text(form, "name", 300), _ints(form, "member_ids")
    try:
        changes = await _call(admin.update_team, ctx, info.actor, team_id, name, members)
    except DomainError as exc:
        shown = {**team, "name": name, "member_ids": members}
        return await _call(
            _team_form,
            request,
            ctx,
            info,
            shown,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    done = "saved" if changes else "no_changes"
    return RedirectResponse(f"/agent/admin/teams/{team_id}?done={done}", status_code=303)


# --- queues -------------------------------------------------------------------------------


@router.get("/queues")
def queues_list(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    look = _lookups(ctx, info.actor)
    rules, default_queue = admin.routing_overview(ctx, info.actor)
    return _page(
        request,
        "agent/admin/queues.html",
        info,
        section="queues",
        rules=rules,
        default_queue=default_queue,
        teams={t["id"]: t["name"] for t in look["all_teams"]},
        rows=look["all_queues"],
        categories=[c.value for c in Category],
    )


def _queue_values(form: FormData) -> dict[str, Any]:
    team = _text(form, "team_id", 12)
    return {
        "name": _text(form, "name", 300),
        "name_zh": _text(form, "name_zh", 300),
        "team_id": (int(team) if team.isdigit() and len(team) < 10 else -1) if team else None,
        "locale": _text(form, "locale", 10) or None,
        "member_ids": _ints(form, "member_ids"),
    }


def _queue_form(
    request: Request, ctx: Any, info: SessionInfo, q: dict[str, Any], status: int = 200, **kw: Any
) -> Response:
    return _page(
        request,
        "agent/admin/queue_form.html",
        info,
        status=status,
        q=q,
        section="queues",
        **_lookups(ctx, info.actor),
        **kw,
    )


_BLANK_QUEUE: dict[str, Any] = {
    "id": None,
    "slug": "",
    "name": "",
    "name_zh": "",
    "team_id": None,
    "locale": None,
    "member_ids": [],
    "rules": [],
    "default": False,
}


@router.get("/queues/new")
def queue_new(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    info.actor.require(Perm.ADMIN)
    return _queue_form(request, ctx, info, dict(_BLANK_QUEUE))


@router.post("/queues/new")
async def queue_create(request: Request, ctx: Ctx) -> Response:
    info, form = await _writer(request, ctx)
    values = _queue_values(form)
    slug = _text(form, "slug", 100)
    try:
        queue_id = await _call(admin.create_queue, ctx, info.actor, slug=slug, **values)
    except DomainError as exc:
        shown = {**_BLANK_QUEUE, **values, "slug": slug}
        return await _call(
            _queue_form,
            request,
            ctx,
            info,
            shown,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(f"/agent/admin/queues/{queue_id}?done=saved", status_code=303)


@router.get("/queues/{queue_id}")
def queue_edit(request: Request, ctx: Ctx, queue_id: int) -> Response:
    info = _reader(request, ctx)
    q = admin.queue_detail(ctx, info.actor, _id(queue_id))
    done = request.query_params.get("done", "")
    return _queue_form(request, ctx, info, q, notice=done if done in _NOTICES else None)


@router.post("/queues/{queue_id}")
async def queue_update(request: Request, ctx: Ctx, queue_id: int) -> Response:
    info, form = await _writer(request, ctx)
    q = await _call(admin.queue_detail, ctx, info.actor, _id(queue_id))
    values = _queue_values(form)
    try:
        changes = await _call(admin.update_queue, ctx, info.actor, queue_id, **values)
    except DomainError as exc:
        return await _call(
            _queue_form,
            request,
            ctx,
            info,
            {**q, **values},
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    done = "saved" if changes else "no_changes"
    return RedirectResponse(f"/agent/admin/queues/{queue_id}?done={done}", status_code=303)
