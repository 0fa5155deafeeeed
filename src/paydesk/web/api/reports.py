"""Reports API: `GET /api/v1/reports/csat?days=7|30` (supervisor, admin or auditor tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from paydesk.services import csat_reports
from paydesk.web.deps import ApiActor, Ctx

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/csat",
    responses={
        401: {"description": "missing or invalid token"},
        404: {"description": "not a supervisor, admin or auditor"},
        422: {"description": "days is not 7 or 30"},
    },
)
def csat_report(ctx: Ctx, actor: ApiActor, days: int = Query(7)) -> dict[str, Any]:
    """CSAT % (good / rated), response rate, by queue / agent / channel, recent comments, NPS."""
    report = csat_reports.csat_report(ctx, actor, days)
    for c in report["recent_comments"]:
        c["rated_at"] = c["rated_at"].isoformat() if c["rated_at"] else None
    return report
