"""The SLA badge of a ticket (inbox rows, dashboard): colour class + text, never colour alone.

`sla_badge(ticket, locale)` is a Jinja filter (registered in `web/templating.py`); `ticket` is a
Ticket row or anything with its SLA attributes. Built with markupsafe, every value escaped.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from paydesk.services.sla import sla_public
from paydesk.store.base import utcnow
from paydesk.web.sla_texts import duration, tx

_ORDER = ("first_response", "next_response", "resolution")


def badge_state(sla: dict[str, Any], locale: str) -> tuple[str, str, str] | None:
    """(css state, label, metric label) of the clock that matters most now, or None."""
    now_clocks = [(m, sla[m]) for m in _ORDER if sla.get(m)]
    if sla.get("breached"):
        for m, c in now_clocks:
            if c["state"] == "breached" and c.get("met_at") is None:
                left = c.get("seconds_left")
                if left is None:
                    left = c.get("paused_seconds_left") or 0
                return "breached", tx(locale, "overdue", d=duration(left, locale)), tx(locale, m)
    running = [(m, c) for m, c in now_clocks if c["state"] == "running"]
    if running:
        m, c = min(running, key=lambda mc: mc[1]["due_at"])
        state = "soon" if c.get("due_soon") else "running"
        return state, tx(locale, "due_in", d=duration(c["seconds_left"], locale)), tx(locale, m)
    res = sla.get("resolution")
    if res and res["state"] == "paused":
        left = res.get("paused_seconds_left") or 0
        return "paused", tx(locale, "paused", d=duration(left, locale)), tx(locale, "resolution")
    return None


def sla_badge(ticket: Any, locale: str = "en") -> Markup:
    if getattr(ticket, "sla_policy_id", None) is None and not getattr(
        ticket, "final_answer_due_at", None
    ):
        return Markup("")
    sla = sla_public(ticket, utcnow())
    found = badge_state(sla, locale)
    if found is None:
        return Markup("")
    state, label, metric = found
    return Markup('<span class="sla sla-{}" title="{}">{}: {}</span>').format(
        state, metric, metric, label
    )


def escalation_badge(level: int, locale: str = "en") -> Markup:
    if not level:
        return Markup("")
    return Markup('<span class="sla sla-escalated" title="{}">⬆ {}</span>').format(
        tx(locale, "escalation"), escape(tx(locale, f"level.{int(level)}"))
    )
