"""Auditor console page (/agent/audit): search the audit trail, see whether the chain holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.permissions import Perm
from paydesk.services import audit
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import render

router = APIRouter(prefix="/agent/audit", include_in_schema=False)
PAGE = 100


def _int(value: str | None, field: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise InvalidInput(f"{field} must be a positive number", field=field)
    return int(value)


def _day(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD)", field=field) from None


@router.get("")
def audit_page(request: Request, ctx: Ctx) -> Response:
    info = require_staff(request, ctx)
    if not info.actor.can(Perm.AUDIT_READ):
        raise NotFound("page not found")
    csrf.prepare(request, info)
    qp = request.query_params
    q = {
        k: qp.get(k, "")[:64]
        for k in ("customer_id", "actor_type", "actor_id", "action", "since", "until", "before_id")
    }
    events: list[dict[str, object]] = []
    error = None
    try:
        until = _day(q["until"], "until")
        with ctx.uow() as uow:
            found = audit.search_events(
                uow.session,
                info.actor,
                customer_id=_int(q["customer_id"], "customer_id"),
                actor_type=q["actor_type"] or None,
                actor_id=_int(q["actor_id"], "actor_id"),
                action=q["action"] or None,
                since=_day(q["since"], "since"),
                until=until + timedelta(days=1) if until else None,  # the "To" day is included
                before_id=_int(q["before_id"], "before_id"),
                limit=PAGE,
            )
            events = [audit.event_dict(e) for e in found]
            audit.record(
                uow.session,
                info.actor,
                "audit.searched",
                object_type="audit",
                details={k: v for k, v in q.items() if v},
            )
    except InvalidInput as exc:
        error = exc.message
    with ctx.read() as s:
        report = audit.verify_report(s)
    next_before = events[-1]["id"] if len(events) == PAGE else None
    next_query = urlencode({**{k: v for k, v in q.items() if v}, "before_id": next_before or ""})
    return render(
        request,
        "security/audit.html",
        status_code=422 if error else 200,
        locale="en",
        me=info.actor,
        q=q,
        events=events,
        report=report,
        error=error,
        next_before=next_before,
        next_query=next_query,
    )
