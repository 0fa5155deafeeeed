"""Session cookies for the console (staff) and the portal (customers)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response

from paydesk.services.auth import SessionInfo, resolve_session
from paydesk.services.context import AppContext

STAFF_COOKIE = "pd_staff"
CUSTOMER_COOKIE = "pd_customer"


def _cached(request: Request, ctx: AppContext, cookie: str) -> SessionInfo | None:
    key = f"_session_{cookie}"
    if not hasattr(request.state, key):
        raw = request.cookies.get(cookie, "")
        setattr(request.state, key, resolve_session(ctx, raw) if raw else None)
    return getattr(request.state, key)  # type: ignore[no-any-return]


def staff_session(request: Request, ctx: AppContext) -> SessionInfo | None:
    info = _cached(request, ctx, STAFF_COOKIE)
    if info is None or not info.actor.is_staff or info.mfa_pending:
        return None
    return info


def staff_session_any(request: Request, ctx: AppContext) -> SessionInfo | None:
    """Including sessions that still wait for the second factor."""
    info = _cached(request, ctx, STAFF_COOKIE)
    return info if info is not None and info.actor.is_staff else None


def customer_session(request: Request, ctx: AppContext) -> SessionInfo | None:
    info = _cached(request, ctx, CUSTOMER_COOKIE)
    if info is None or not info.actor.is_customer:
        return None
    return info


def set_cookie(response: Response, ctx: AppContext, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=ctx.settings.session_ttl_seconds,
        httponly=True,
        secure=ctx.settings.secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/")


class LoginRequired(Exception):
    """Raised by page guards; the app answers with a 303 to `location` (the sign-in page)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def require_staff(request: Request, ctx: AppContext) -> SessionInfo:
    """The signed-in staff member of a console page, or LoginRequired (→ the login form, which
    returns to this page)."""
    info = staff_session(request, ctx)
    if info is None:
        raise LoginRequired(staff_login_url(request))
    return info


def staff_login_url(request: Request) -> str:
    """The console login form, returning to the current page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/agent/login?{urlencode({'next': here})}"


def require_customer(request: Request, ctx: AppContext) -> SessionInfo:
    """The signed-in customer of a portal page, or LoginRequired (→ the sign-in page)."""
    info = customer_session(request, ctx)
    if info is None:
        raise LoginRequired("/portal/signin")
    return info
