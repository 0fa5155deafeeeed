"""Satisfaction reports: CSAT % (good / rated), response rate, by queue / agent / channel,
recent comments, NPS — for supervisors, admins and auditors (everyone else: not found).

Surveys are counted by the day they were offered (`created_at`), in the last 7 or 30 days;
"offered" includes surveys shown only on the portal (the per-customer invitation limit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from paydesk.domain.csat import nps_summary, percent
from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.store.agents import Agent
from paydesk.store.base import utcnow
from paydesk.store.surveys import CsatSurvey, NpsSurvey
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue

REPORT_ROLES = frozenset({"supervisor", "admin", "auditor"})
PERIODS = (7, 30)
COMMENTS_SHOWN = 20


def require_reports(actor: Actor) -> None:
    """Reports are for supervisors, admins and auditors; to anyone else they do not exist."""
    if actor.kind not in ("agent", "token") or actor.role not in REPORT_ROLES:
        raise NotFound("page not found")


def _row(sent: int, rated: int, good: int) -> dict[str, Any]:
    return {
        "sent": sent,
        "rated": rated,
        "good": good,
        "bad": rated - good,
        "csat_pct": percent(good, rated),
        "response_rate_pct": percent(rated, sent),
    }


def _grouped(s: Session, where: list[Any], col: Any) -> list[tuple[Any, int, int, int]]:
    good = func.sum(case((CsatSurvey.rating == "good", 1), else_=0))
    stmt = (
        select(col, func.count(CsatSurvey.id), func.count(CsatSurvey.rating), good)
        .where(*where)
        .group_by(col)
    )
    return [(r[0], int(r[1]), int(r[2]), int(r[3] or 0)) for r in s.execute(stmt)]


def csat_report(
    ctx: AppContext, actor: Actor, days: int = 30, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report of the last `days` (7 or 30) days; see the module docstring."""
    require_reports(actor)
    if days not in PERIODS:
        raise InvalidInput("days must be 7 or 30", field="days")
    now = now or utcnow()
    since = now - timedelta(days=days)
    where = [CsatSurvey.workspace_id == actor.workspace_id, CsatSurvey.created_at >= since]
    with ctx.read() as s:
        totals = _grouped(s, where, CsatSurvey.workspace_id)
        sent, rated, good = totals[0][1:] if totals else (0, 0, 0)
        agents: dict[Any, str] = {
            r[0]: r[1]
            for r in s.execute(
                select(Agent.id, Agent.name).where(Agent.workspace_id == actor.workspace_id)
            )
        }
        queues: dict[Any, str] = {
            r[0]: r[1]
            for r in s.execute(
                select(Queue.id, Queue.name).where(Queue.workspace_id == actor.workspace_id)
            )
        }

        def dim(col: Any, names: dict[Any, str] | None, missing: str) -> list[dict[str, Any]]:
            out = []
            for key, n_sent, n_rated, n_good in _grouped(s, where, col):
                if key is None:
                    label = missing
                else:
                    label = str(key) if names is None else names.get(key, str(key))
                out.append({"id": key, "name": label, **_row(n_sent, n_rated, n_good)})
            return sorted(out, key=lambda r: (-r["sent"], str(r["name"])))

        by_queue = dim(CsatSurvey.queue_id, queues, "(no queue)")
        by_agent = dim(CsatSurvey.agent_id, agents, "(unassigned)")
        by_channel = dim(CsatSurvey.channel, None, "(none)")
        comments = [
            {
                "ticket_id": r.ticket_id,
                "ticket_number": number,
                "rating": r.rating,
                "score": r.score,
                "comment": r.comment,
                "rated_at": r.rated_at,
                "agent": agents.get(r.agent_id) if r.agent_id else None,
                "channel": r.channel,
            }
            for r, number in s.execute(
                select(CsatSurvey, Ticket.number)
                .join(Ticket, Ticket.id == CsatSurvey.ticket_id)
                .where(*where, CsatSurvey.comment.is_not(None), CsatSurvey.comment != "")
                .order_by(CsatSurvey.rated_at.desc(), CsatSurvey.id.desc())
                .limit(COMMENTS_SHOWN)
            )
        ]
        nps_scores = [
            int(x or 0)
            for x in s.scalars(
                select(NpsSurvey.score).where(
                    NpsSurvey.workspace_id == actor.workspace_id,
                    NpsSurvey.answered_at >= since,
                    NpsSurvey.score.is_not(None),
                )
            )
        ]
        nps_asked = s.scalar(
            select(func.count(NpsSurvey.id)).where(
                NpsSurvey.workspace_id == actor.workspace_id, NpsSurvey.created_at >= since
            )
        )
    nps = nps_summary(nps_scores)
    return {
        "days": days,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "totals": _row(sent, rated, good),
        "by_queue": by_queue,
        "by_agent": by_agent,
        "by_channel": by_channel,
        "recent_comments": comments,
        "nps": {
            "asked": int(nps_asked or 0),
            "responses": nps.responses,
            "promoters": nps.promoters,
            "passives": nps.passives,
            "detractors": nps.detractors,
            "score": nps.score,
        },
    }
