"""Pure-ASGI middleware (cheap on the hot path): security headers, body size limit, metrics."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

REQUESTS = Counter("paydesk_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "paydesk_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
_IDS = re.compile(r"/\d+(?=/|$)")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS:
                    if k not in names:
                        headers.append((k, v))
                if b"content-security-policy" not in names and not path.startswith("/widget"):
                    headers.append((b"content-security-policy", CSP.encode()))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413 JSON, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _reject(send, self.limit)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return msg

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, self.limit)


class _TooLarge(Exception):
    pass


async def _reject(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"error": {"code": "too_large", "message": f"request body over {limit} bytes"}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            count, latency = _series(scope["method"], scope["path"], status["code"])
            count.inc()
            latency.observe(time.perf_counter() - start)


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_SERIES_MAX = 5_000  # distinct (method, path, status); beyond it, labels are looked up anew


def _series(method: str, path: str, code: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one (method, path, status), remembered: the
    route template and prometheus_client's labelled children (a lock and label checks) cost
    more than the counting."""
    key = (method, path, code)
    hit = _SERIES.get(key)
    if hit is None:
        route = _IDS.sub("/{id}", path)
        if route.startswith("/static/") or route.startswith("/portal/login/"):
            route = route.rsplit("/", 1)[0] + "/*"
        if len(route) > 80:
            route = route[:80]
        hit = (REQUESTS.labels(method, route, str(code)), LATENCY.labels(method, route))
        if len(_SERIES) < _SERIES_MAX:
            _SERIES[key] = hit
    return hit


# --- guards: public rate limits and API token scopes ----------------------------------------

# (method, path regex, bucket, limit, window seconds): per client IP. Forms that send mail or
# check credentials are the abuse targets (sign-in link spam, password guessing, ticket floods).
RATE_LIMITS: list[tuple[str, re.Pattern[str], str, int, int]] = [
    ("POST", re.compile(r"^/portal/signin$"), "signin", 20, 600),
    ("GET", re.compile(r"^/portal/login/"), "magic", 30, 600),
    ("POST", re.compile(r"^/requests$"), "webform", 60, 600),
    ("POST", re.compile(r"^/portal/tickets/\d+/reply$"), "portal-reply", 120, 600),
    ("POST", re.compile(r"^/agent/login$"), "agent-login", 30, 600),
    ("POST", re.compile(r"^/agent/2fa$"), "agent-2fa", 30, 600),
]


def _rate_scale() -> float:
    """PAYDESK_RATE_LIMIT_SCALE multiplies every limit (e.g. 10 for a load test; 0 = off)."""
    import os

    try:
        return max(0.0, float(os.environ.get("PAYDESK_RATE_LIMIT_SCALE", "1")))
    except ValueError:
        return 1.0


_API_AREA = re.compile(r"^/api/v1/([a-z_-]+)")


class Guards:
    """Rate limits on public endpoints (memory or Redis, see web/ratelimit.py) and API token
    scopes (services/auth.py `scope_allows`), enforced before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.scale = _rate_scale()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        refusal = await self._check(scope, method, path)
        if refusal is not None:
            status, code, message = refusal
            await _json(send, status, code, message)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, method: str, path: str) -> tuple[int, str, str] | None:
        import asyncio

        from paydesk.domain.errors import RateLimited

        ctx = scope["app"].state.ctx
        for m, pattern, bucket, limit, window in RATE_LIMITS if self.scale else ():
            if method == m and pattern.match(path):
                limit = max(1, int(limit * self.scale))
                from paydesk.web.ratelimit import get_limiter

                client = scope.get("client")
                ip = client[0] if client else "unknown"
                limiter = get_limiter(ctx)
                try:
                    await asyncio.to_thread(
                        limiter.hit, f"{bucket}:{ip}", limit=limit, window_seconds=window
                    )
                except RateLimited as exc:
                    return 429, exc.code, exc.message
                break
        area = _API_AREA.match(path)
        if area is None:
            return None
        auth = _header(scope, b"authorization")
        kind, _, token = auth.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return None
        from paydesk.services.auth import cached_token_scopes, scope_allows, token_scopes

        # a token seen in the last seconds is answered here, without a thread hand-off
        found, scopes = cached_token_scopes(ctx, token.strip())
        if not found:
            scopes = await asyncio.to_thread(token_scopes, ctx, token.strip())
        if scopes is None:
            return None  # unknown/revoked: the route's dependency answers 401
        if not scope_allows(scopes, area.group(1), method not in ("GET", "HEAD", "OPTIONS")):
            return 403, "insufficient_scope", f"this token's scopes do not cover {area.group(1)}"
        return None


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")  # type: ignore[no-any-return]
    return ""


async def _json(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
