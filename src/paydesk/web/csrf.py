"""CSRF: a per-session token for signed-in users, a double-submit cookie for anonymous forms.

Every state-changing form posts `csrf_token`; console fetches send `X-CSRF-Token`.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from paydesk.domain.errors import PermissionDenied
from paydesk.services.auth import SessionInfo, csrf_ok

ANON_COOKIE = "pd_csrf"


def prepare(request: Request, session: SessionInfo | None) -> str:
    """Token for the page being rendered; stored on request.state for the templates."""
    if session is not None:
        token = session.csrf_token
    else:
        token = request.cookies.get(ANON_COOKIE) or ""
        if len(token) < 20:
            token = secrets.token_urlsafe(24)
            request.state.new_anon_csrf = token
    request.state.csrf_token = token
    return token


def finish(request: Request, response: Response) -> Response:
    token = getattr(request.state, "new_anon_csrf", None)
    if token:
        response.set_cookie(ANON_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def check(request: Request, session: SessionInfo | None, given: str | None) -> None:
    expected = session.csrf_token if session is not None else request.cookies.get(ANON_COOKIE, "")
    if not expected or not csrf_ok(expected, given):
        raise PermissionDenied(
            "the form expired or was not sent from this site; reload and try again"
        )
