"""Staff account security page (/agent/security): TOTP two-factor enrollment and removal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from paydesk.domain.errors import DomainError
from paydesk.services import auth
from paydesk.services.auth import SessionInfo
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.sessions import staff_session
from paydesk.web.templating import render

router = APIRouter(prefix="/agent/security", include_in_schema=False)


def _signed_in(request: Request, ctx: Ctx) -> SessionInfo | None:
    info = staff_session(request, ctx)
    if info is not None:
        csrf.prepare(request, info)
    return info


def _page(
    request: Request, ctx: Ctx, info: SessionInfo, status: int = 200, **kw: object
) -> Response:
    return render(
        request,
        "security/account.html",
        status_code=status,
        locale="en",
        me=info.actor,
        enabled=auth.totp_enabled(ctx, info.actor),
        **kw,
    )


@router.get("")
def security_page(request: Request, ctx: Ctx) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login?next=/agent/security", status_code=303)
    return _page(request, ctx, info)


@router.post("/totp/begin")
def totp_begin(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    secret, uri = auth.begin_totp(ctx, info.actor)
    resp = _page(request, ctx, info, secret=secret, uri=uri)
    resp.headers["cache-control"] = "no-store"  # the page carries the new secret
    return resp


@router.post("/totp/confirm")
def totp_confirm(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    try:
        auth.confirm_totp(ctx, info.actor, code)
    except DomainError as exc:
        return _page(request, ctx, info, status=exc.status, error=exc.message)
    return _page(request, ctx, info, notice="Two-factor sign-in is on.")


@router.post("/totp/disable")
def totp_disable(
    request: Request,
    ctx: Ctx,
    password: Annotated[str, Form(max_length=200)],
    code: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    try:
        auth.disable_totp(ctx, info.actor, password, code)
    except DomainError as exc:
        return _page(request, ctx, info, status=exc.status, error=exc.message)
    return _page(request, ctx, info, notice="Two-factor sign-in is off.")
