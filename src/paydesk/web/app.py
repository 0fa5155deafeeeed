"""create_app(settings): the whole web application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIWebSocketRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette._utils import get_route_path
from starlette.routing import Match, Mount
from starlette.types import Receive, Scope, Send

from paydesk.services.context import AppContext, build_context
from paydesk.settings import Settings, get_settings
from paydesk.web import errors, middleware

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


# Capabilities add their routers here as "module:attribute" (one line each).
API_ROUTERS: list[str] = [  # mounted under /api/v1
    "paydesk.web.api.kb:router",
    "paydesk.web.api.assistant:router",
    "paydesk.web.api.privacy:router",
    "paydesk.web.api.payments:router",
    "paydesk.web.api.routing:router",
    "paydesk.web.api.sla:router",
    "paydesk.web.api.incidents:router",
    "paydesk.web.api.reports:router",
    "paydesk.web.api.macros:router",
]
PAGE_ROUTERS: list[str] = [  # pages, widgets, WebSockets; mounted before the portal's catch-alls
    "paydesk.web.pages.security:router",
    "paydesk.web.pages.audit:router",
    "paydesk.web.pages.help:router",
    "paydesk.web.pages.kb_admin:router",
    "paydesk.web.pages.email:router",
    "paydesk.web.chat_ws:router",
    "paydesk.web.pages.chat:router",
    "paydesk.web.pages.payments:router",
    "paydesk.web.pages.incidents:router",
    "paydesk.web.pages.admin_routing:router",
    "paydesk.web.pages.admin:router",
    "paydesk.web.pages.supervisor:router",
    "paydesk.web.pages.survey:router",
    "paydesk.web.pages.reports:router",
    "paydesk.web.pages.macros:router",
]


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


class PaydeskApp(FastAPI):
    """FastAPI with a direct lane to the WebSocket endpoints that take nothing but the socket.

    A socket routed the usual way stays suspended inside every layer it passed for as long as
    it is open: the error and exception middlewares, the exit stacks, the router, the
    dependency solver (some 30 coroutine frames plus their closures, exit stacks and deques,
    ~15 KB per socket). Our own middlewares pass WebSockets through untouched, so a chat socket
    goes straight to its endpoint; what it would have met on the long way does nothing for it."""

    websocket_lane: dict[str, Callable[[WebSocket], Awaitable[None]]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.websocket_lane.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)

    def index_routes(self) -> None:
        """Let the router skip an included router that cannot match the request's path.

        FastAPI tries the app's routes in order, and an included router tries each of its own
        routes (path regex plus bookkeeping, twice for the router that matches): a request for
        a route near the end of our ~200 (the portal, `/livez`) spent about 1 ms of CPU in the
        scan alone. A route can only match a path equal to its own (give or take the trailing
        slash the router redirects), or, if it has parameters or is a mount, one that starts
        with the literal part of its path before the first `{`. A path that none of an included
        router's routes could match gets "no match" from it at once; the order of the routes
        (what wins when two could match) is unchanged. Run once, after the last router is
        included; a FastAPI without per-router route lists (`effective_route_contexts`) is left
        as it is."""
        for route in self.router.routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is None:
                continue
            exact: set[str] = set()
            prefixes: set[str] = set()
            for c in contexts():
                path = str(c.path_format or "")
                if "{" in path or isinstance(c.original_route, Mount):
                    prefixes.add(path.split("{", 1)[0])
                else:
                    exact.add(path.rstrip("/"))
            route.matches = _path_guard(route.matches, frozenset(exact), tuple(prefixes))  # type: ignore[method-assign]

    def open_websocket_lane(self, routers: list[APIRouter]) -> None:
        """Routers mounted without a prefix: their WebSocket routes that take only the socket."""
        self.websocket_lane = {}
        for route in (r for router in routers for r in router.routes):
            if not isinstance(route, APIWebSocketRoute) or route.param_convertors:
                continue
            d = route.dependant
            takes_more = (
                d.path_params
                or d.query_params
                or d.header_params
                or d.cookie_params
                or d.dependencies
                or d.body_params
            )
            if d.websocket_param_name and not takes_more:
                self.websocket_lane[route.path] = route.endpoint


def _path_guard(
    matches: Callable[[Scope], tuple[Match, Scope]],
    exact: frozenset[str],
    prefixes: tuple[str, ...],
) -> Callable[[Scope], tuple[Match, Scope]]:
    """`matches`, answering "no match" without calling it for a path none of the routes can
    match (see PaydeskApp.index_routes)."""

    def guarded(scope: Scope) -> tuple[Match, Scope]:
        path = get_route_path(scope)
        if path.rstrip("/") in exact or path.startswith(prefixes):
            return matches(scope)
        return Match.NONE, {}

    return guarded


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    settings = settings or (ctx.settings if ctx else get_settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        c: AppContext = app.state.ctx
        await c.bus.start()
        tasks = [asyncio.create_task(_background(c))]
        if getattr(app.state, "settle_heap", False):  # `paydesk serve` (web/asgi.py)
            threading.Thread(target=_settle_heap, args=(c,), daemon=True).start()
        for starter in c.extras.get("background", []):
            tasks.append(asyncio.create_task(starter(c)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await c.bus.stop()

    app = PaydeskApp(
        title="paydesk",
        version="0.1.0",
        description="TOPAY customer-service desk: tickets, channels, knowledge base, assistant.",
        lifespan=lifespan,
        # the desk exports Prometheus metrics (/metrics), not OpenTelemetry: FastAPI's native
        # telemetry would otherwise ask the global providers whether it is on, every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx or build_context(settings)
    errors.install_error_handlers(app)

    from paydesk.web import ws
    from paydesk.web.api import tickets as api_tickets
    from paydesk.web.pages import agent as agent_pages
    from paydesk.web.pages import portal as portal_pages

    app.include_router(api_tickets.router, prefix="/api/v1")
    for spec in API_ROUTERS:
        app.include_router(_load(spec), prefix="/api/v1")
    app.include_router(agent_pages.router)
    app.include_router(ws.router)
    page_routers = [_load(spec) for spec in PAGE_ROUTERS]
    for router in page_routers:
        app.include_router(router)
    app.include_router(portal_pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        try:
            with app.state.ctx.read() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            return JSONResponse(
                {"status": "error", "database": str(type(exc).__name__)}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    @app.get("/livez", tags=["ops"])
    async def livez() -> JSONResponse:
        """Process is up (no database round trip): the benchmarks' baseline endpoint."""
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    app.open_websocket_lane([ws.router, *page_routers])
    app.add_middleware(middleware.Guards)
    app.add_middleware(middleware.Metrics)
    app.add_middleware(middleware.BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(middleware.SecurityHeaders, hsts=settings.secure_cookies)
    app.index_routes()
    return app


def _settle_heap(ctx: AppContext) -> None:
    """A server's long-lived data is loaded (intent model, KB index), then kept out of the
    collector's full passes (domain/heap.py). A daemon thread, like the intent warm-up: shutdown
    never waits for it."""
    from paydesk.domain import heap

    # (the segmentation dictionary, ~70 MB, stays unloaded until the first Chinese text, and is
    # frozen then: heap.loaded_for_good)
    for key in ("intent_model", "kb_index"):
        holder = ctx.extras.get(key)
        if holder is not None:
            try:
                holder.get()
            except Exception:
                log.exception("loading %s before settling the heap failed", key)
    heap.settle()
    log.info("long-lived data loaded and settled: %d objects frozen", gc.get_freeze_count())


async def _background(ctx: AppContext) -> None:
    """Periodic housekeeping of this process: seal the audit chain."""
    from paydesk.services.audit import seal_pending

    while True:
        await asyncio.sleep(2.0)
        try:
            await asyncio.to_thread(seal_pending, ctx, wait=False)
        except Exception:
            log.exception("audit sealing failed")
