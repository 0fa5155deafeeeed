"""Satisfaction reports page (/agent/reports) and the rating panel of the agent ticket page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from paydesk.domain.errors import InvalidInput
from paydesk.services import csat, csat_reports
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import require_staff
from paydesk.web.templating import env, render

router = APIRouter(prefix="/agent", include_in_schema=False)


@router.get("/reports")
def reports_page(request: Request, ctx: Ctx, days: str = "7") -> Response:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    csat_reports.require_reports(info.actor)  # everyone else: 404
    if days not in ("7", "30"):
        raise InvalidInput("days must be 7 or 30", field="days")
    report = csat_reports.csat_report(ctx, info.actor, int(days))
    return render(
        request,
        "agent/reports.html",
        locale="en",
        me=info.actor,
        r=report,
        days=int(days),
        periods=csat_reports.PERIODS,
    )


def ticket_rating_panel(ctx: AppContext, actor: Actor, t: dict[str, Any]) -> Markup | None:
    """TICKET_PANELS entry: the customer's ratings of this ticket (nothing before a survey)."""
    rows = csat.ticket_ratings(ctx, actor, t["id"])
    if not rows:
        return None
    return Markup(env.get_template("agent/_rating_panel.html").render(rows=rows))
