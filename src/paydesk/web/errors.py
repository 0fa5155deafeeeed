"""Every error leaves as JSON `{"error": {"code", "message", "field"?}}` (API) or a page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from paydesk.domain.errors import DomainError
from paydesk.web.sessions import LoginRequired

log = logging.getLogger(__name__)


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    err.update(extra)
    return {"error": err}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path in ("/healthz", "/metrics"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(request: Request, status: int, message: str) -> Response:
    from paydesk.web.templating import render_error

    return render_error(request, status, message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if wants_html(request):
            return _page(request, exc.status, exc.message)
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        msg = first.get("msg", "invalid request")
        if first.get("type") == "extra_forbidden":
            msg = f"unknown field {field!r}"
        elif field:
            msg = f"{field}: {msg}"
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
            for e in errors[:20]
        ]
        return JSONResponse(error_body("invalid", msg, field, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            429: "rate_limited",
        }
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if wants_html(request):
            return _page(request, exc.status_code, message)
        return JSONResponse(
            error_body(codes.get(exc.status_code, "error"), message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        # a number the database cannot hold (SQLite: > 64 bits; PostgreSQL: out of its column's
        # range) that got past validation: the client's input, not our failure
        # (the type only: the driver's message carries the statement's parameters)
        log.info("%s on %s %s", type(exc).__name__, request.method, request.url.path)
        message = "a number in the request is out of range"
        if wants_html(request):
            return _page(request, 400, message)
        return JSONResponse(error_body("invalid", message), status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(request: Request, exc: Exception) -> Response:
        # the client closed the connection before its body arrived (a load test stopping, a
        # browser tab closed): nothing was done and nobody reads the answer; not a server error
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if wants_html(request):
            return HTMLResponse("<h1>500</h1><p>Something went wrong.</p>", status_code=500)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)
