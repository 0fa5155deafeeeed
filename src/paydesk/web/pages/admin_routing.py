"""Admin console, routing section (/agent/admin/routing): the rules, the default queue, the
"test a message" preview, automatic assignment per queue and the agents' open load.

Thin routes over `services.routing` and `services.assignment` (which check permissions, validate,
write and audit). Admins change; supervisors and auditors read and may test a message; everyone
else gets 404. Every form carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from paydesk.domain.errors import DomainError
from paydesk.domain.permissions import Perm
from paydesk.domain.routing import LOCALES
from paydesk.domain.tickets import Category, Channel, Priority
from paydesk.services import admin, assignment, routing
from paydesk.services.auth import SessionInfo
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.pages.admin import _call, _id, _reader, _text, _writer
from paydesk.web.pages.admin_routing_texts import tx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import render

router = APIRouter(prefix="/agent/admin/routing", include_in_schema=False)
BASE = "/agent/admin/routing"
_NOTICES = (
    "rule_saved",
    "no_changes",
    "rule_deleted",
    "moved",
    "enabled_done",
    "disabled_done",
    "default_saved",
    "assignment_saved",
)
CONDITION_CHOICES = {
    "categories": [c.value for c in Category],
    "locales": list(LOCALES),
    "channels": [c.value for c in Channel],
    "priorities": [p.value for p in Priority],
}


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
        section="routing",
        choices=CONDITION_CHOICES,
        priorities=[p.value for p in Priority],
        channels=[c.value for c in Channel],
        **kw,
    )


def _list_page(
    request: Request, ctx: Any, info: SessionInfo, status: int = 200, **kw: Any
) -> Response:
    actor = info.actor
    listed = routing.list_rules(ctx, actor)
    return _page(
        request,
        "agent/admin/routing.html",
        info,
        status=status,
        rules=listed["rules"],
        default_queue=listed["default_queue"],
        counts=routing.rule_counts(ctx, actor),
        queues=assignment.queue_settings(ctx, actor),
        teams={t["id"]: t["name"] for t in admin.list_teams(ctx, actor)},
        loads=assignment.agent_loads(ctx, actor),
        modes=list(assignment.MODES),
        **kw,
    )


@router.get("")
def routing_list(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    done = request.query_params.get("done", "")
    return _list_page(request, ctx, info, notice=done if done in _NOTICES else None)


@router.post("/test")
async def routing_test(request: Request, ctx: Ctx) -> Response:
    """The preview: readers may use it too (it writes nothing), with the session's CSRF token."""
    info = require_staff(request, ctx)
    from paydesk.services.staff import require_admin_read

    require_admin_read(info.actor)
    form = await request.form(max_files=0, max_fields=50)
    csrf.check(request, info, str(form.get("csrf_token", "")))
    csrf.prepare(request, info)
    test = {
        "subject": _text(form, "subject", 500),
        "body": _text(form, "body", 20000),
        "channel": _text(form, "channel", 10) or "web",
        "customer_tags": _text(form, "customer_tags", 500),
    }
    try:
        result = await _call(
            routing.preview,
            ctx,
            info.actor,
            subject=test["subject"],
            body=test["body"],
            channel=test["channel"],
            customer_tags=_split(test["customer_tags"]),
        )
    except DomainError as exc:
        return await _call(
            _list_page,
            request,
            ctx,
            info,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
            test=test,
        )
    return await _call(_list_page, request, ctx, info, test=test, result=result)


@router.post("/default")
async def default_queue(request: Request, ctx: Ctx) -> Response:
    return await _list_action(
        request,
        ctx,
        lambda a, f: routing.set_default_queue(ctx, a, _text(f, "default_queue", 100)),
        "default_saved",
    )


@router.post("/queues/{queue_id}")
async def queue_assignment(request: Request, ctx: Ctx, queue_id: int) -> Response:
    _id(queue_id)
    return await _list_action(
        request,
        ctx,
        lambda a, f: assignment.set_queue_assignment(
            ctx, a, queue_id, _text(f, "mode", 20), _text(f, "max_open", 10)
        ),
        "assignment_saved",
    )


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("，", ",").replace("\n", ",").split(",") if v.strip()]


def _rule_data(form: FormData) -> dict[str, Any]:
    """The rule as plain data, the way the JSON form of the service takes it."""
    cond: dict[str, Any] = {
        k: [str(v)[:30] for v in form.getlist(k)][:20] for k in CONDITION_CHOICES
    }
    cond["customer_tags"] = _split(_text(form, "customer_tags", 1000))
    cond["keywords"] = _split(_text(form, "keywords", 5000))
    cond["intents"] = _split(_text(form, "intents", 3000))
    team = _text(form, "team_id", 12)
    acts: dict[str, Any] = {
        "queue": _text(form, "queue", 100) or None,
        "priority": _text(form, "priority", 20) or None,
        "tags": _split(_text(form, "tags", 1000)),
        "team_id": (int(team) if team.isdigit() and len(team) < 10 else -1) if team else None,
    }
    return {
        "name": _text(form, "name", 300),
        "enabled": form.get("enabled") == "on",
        "conditions": {k: v for k, v in cond.items() if v},
        "actions": acts,
    }


_BLANK: dict[str, Any] = {
    "id": None,
    "name": "",
    "enabled": True,
    "conditions": {},
    "actions": {},
}


def _intent_labels(ctx: Any) -> list[str]:
    holder = ctx.extras.get("intent_model")
    try:
        return sorted(holder.get().labels) if holder is not None and holder.loaded else []
    except Exception:  # noqa: BLE001 - the list is a hint only
        return []


def _form(
    request: Request,
    ctx: Any,
    info: SessionInfo,
    rule: dict[str, Any],
    status: int = 200,
    **kw: Any,
) -> Response:
    return _page(
        request,
        "agent/admin/routing_form.html",
        info,
        status=status,
        rule=rule,
        all_queues=admin.list_queues(ctx, info.actor),
        all_teams=admin.list_teams(ctx, info.actor),
        intent_labels=_intent_labels(ctx),
        **kw,
    )


def _shown(data: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The submitted values, to show the refused form again as it was filled in."""
    acts = {k: v for k, v in data["actions"].items() if v}
    return {**base, **data, "actions": acts}


@router.get("/new")
def rule_new(request: Request, ctx: Ctx) -> Response:
    info = _reader(request, ctx)
    info.actor.require(Perm.ADMIN)
    return _form(request, ctx, info, dict(_BLANK))


@router.post("/new")
async def rule_create(request: Request, ctx: Ctx) -> Response:
    info, form = await _writer(request, ctx)
    data = _rule_data(form)
    at = _text(form, "at", 10) or "top"
    try:
        await _call(routing.create_rule, ctx, info.actor, data, at=at)
    except DomainError as exc:
        return await _call(
            _form,
            request,
            ctx,
            info,
            _shown(data, _BLANK),
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(f"{BASE}?done=rule_saved", status_code=303)


@router.get("/{rule_id}")
def rule_edit(request: Request, ctx: Ctx, rule_id: int) -> Response:
    info = _reader(request, ctx)
    rule = routing.rule_detail(ctx, info.actor, _id(rule_id))
    return _form(request, ctx, info, rule)


@router.post("/{rule_id}")
async def rule_update(request: Request, ctx: Ctx, rule_id: int) -> Response:
    info, form = await _writer(request, ctx)
    current = await _call(routing.rule_detail, ctx, info.actor, _id(rule_id))
    data = _rule_data(form)
    try:
        changes = await _call(routing.update_rule, ctx, info.actor, rule_id, data)
    except DomainError as exc:
        return await _call(
            _form,
            request,
            ctx,
            info,
            _shown(data, current),
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(
        f"{BASE}?done={'rule_saved' if changes else 'no_changes'}", status_code=303
    )


async def _list_action(request: Request, ctx: Any, fn: Any, done: str) -> Response:
    info, form = await _writer(request, ctx)
    try:
        await _call(fn, info.actor, form)
    except DomainError as exc:
        return await _call(
            _list_page,
            request,
            ctx,
            info,
            status=exc.status,
            error=exc.message,
            error_field=exc.field,
        )
    return RedirectResponse(f"{BASE}?done={done}", status_code=303)


@router.post("/{rule_id}/move")
async def rule_move(request: Request, ctx: Ctx, rule_id: int) -> Response:
    _id(rule_id)

    def move(actor: Any, form: FormData) -> None:
        where = _text(form, "to", 10)
        current = routing.rule_detail(ctx, actor, rule_id)["position"]
        steps = {"up": current - 1, "down": current + 1, "top": 1, "bottom": 10**6}
        if where not in steps:
            from paydesk.domain.errors import InvalidInput

            raise InvalidInput("move up, down, top or bottom", field="to")
        routing.move_rule(ctx, actor, rule_id, steps[where])

    return await _list_action(request, ctx, move, "moved")


@router.post("/{rule_id}/enable")
async def rule_enable(request: Request, ctx: Ctx, rule_id: int) -> Response:
    _id(rule_id)
    return await _list_action(
        request, ctx, lambda a, _f: routing.set_rule_enabled(ctx, a, rule_id, True), "enabled_done"
    )


@router.post("/{rule_id}/disable")
async def rule_disable(request: Request, ctx: Ctx, rule_id: int) -> Response:
    _id(rule_id)
    return await _list_action(
        request,
        ctx,
        lambda a, _f: routing.set_rule_enabled(ctx, a, rule_id, False),
        "disabled_done",
    )


@router.post("/{rule_id}/delete")
async def rule_delete(request: Request, ctx: Ctx, rule_id: int) -> Response:
    _id(rule_id)
    return await _list_action(
        request, ctx, lambda a, _f: routing.delete_rule(ctx, a, rule_id), "rule_deleted"
    )


# --- ticket page sidebar panel (registered in web/pages/agent.py TICKET_PANELS) -----------------


def ticket_panel(ctx: Any, actor: Any, t: dict[str, Any]) -> Any:
    """How the ticket was routed (rule, team, waiting for assignment) and the customer's tags.
    The ticket page loaded `t` through access_ticket; this reads only rows keyed by it."""
    from markupsafe import Markup

    from paydesk.web.templating import env

    customer = t.get("customer") or {}
    try:
        with ctx.read() as s:
            how = routing.routing_of_ticket(s, int(t["id"]))
        tags = routing.customer_tags(ctx, actor, int(customer["id"])) if customer.get("id") else []
    except DomainError:  # e.g. an erased customer: the rest of the ticket page still renders
        return None
    return Markup(env.get_template("agent/routing_panel.html").render(how=how, tags=tags))
