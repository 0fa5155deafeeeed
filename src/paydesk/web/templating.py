"""Jinja2 rendering with autoescape everywhere, the locale's texts and the CSRF token."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from paydesk.web.i18n import negotiate, t
from paydesk.web.sla_badges import escalation_badge, sla_badge

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local_time(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


env.filters["localtime"] = _local_time
env.filters["sla_badge"] = sla_badge  # SLA clocks of a ticket row (web/sla_badges.py)
env.filters["escalation_badge"] = escalation_badge

# Console navigation entries added by capabilities: (label, url) for every staff member, or
# (label, url, roles) for those roles only (the page itself still checks permissions).
NAV_LINKS: list[tuple[str, str] | tuple[str, str, frozenset[str]]] = [
    ("Email", "/agent/email"),
    ("Chat", "/agent/chat"),
    ("Refunds", "/agent/refunds"),
    ("Incidents", "/agent/incidents"),
    ("Knowledge base", "/agent/kb"),
    ("Macros", "/agent/macros"),
    ("Reports", "/agent/reports", frozenset({"admin", "supervisor", "auditor"})),
    ("Audit", "/agent/audit"),
    ("Security", "/agent/security"),
    ("Admin", "/agent/admin", frozenset({"admin", "supervisor", "auditor"})),
    ("Supervisor", "/agent/supervisor", frozenset({"admin", "supervisor", "auditor"})),
]


def _nav_for(me: Any) -> list[tuple[str, str]]:
    role = getattr(me, "role", None)
    return [(x[0], x[1]) for x in NAV_LINKS if len(x) == 2 or role in x[2]]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = context.pop("locale", None) or negotiate(request)
    context.setdefault("csrf_token", getattr(request.state, "csrf_token", ""))
    context.setdefault("nav_links", _nav_for(context.get("me")))
    html = env.get_template(template).render(
        request=request, locale=locale, t=lambda key, **kw: t(locale, key, **kw), **context
    )
    resp = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in ("en", "zh-CN"):
        resp.set_cookie(
            "pd_lang",
            request.query_params["lang"],
            max_age=365 * 86400,
            samesite="lax",
            httponly=True,
        )
    return resp


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)
