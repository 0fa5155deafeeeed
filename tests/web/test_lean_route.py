"""LeanRoute: a valid JSON request with a cached bearer token skips FastAPI's dependency solving,
and every request gets the answer FastAPI's own handler would give (errors included)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response
from fastapi import routing as fastapi_routing
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from paydesk.services.auth import create_token
from paydesk.services.context import AppContext
from paydesk.web.api.tickets import router as tickets_router
from paydesk.web.deps import ApiActor, Ctx
from paydesk.web.errors import install_error_handlers
from paydesk.web.lean import LeanRoute, _plan
from paydesk.web.schemas import TicketCreate


async def echo(body: TicketCreate, ctx: Ctx, actor: ApiActor) -> Response:
    return JSONResponse(
        {"body": body.model_dump(mode="json"), "actor": [actor.kind, actor.id, actor.role]},
        status_code=201,
    )


async def forbid() -> None:
    raise HTTPException(403, "router-level dependency ran")


def _app(ctx: AppContext) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.ctx = ctx
    router = APIRouter()
    router.add_api_route("/lean", echo, methods=["POST"], route_class_override=LeanRoute)
    router.add_api_route("/plain", echo, methods=["POST"])
    app.include_router(router)
    guarded = APIRouter()
    guarded.add_api_route("/guarded", echo, methods=["POST"], route_class_override=LeanRoute)
    app.include_router(guarded, dependencies=[Depends(forbid)])
    return app


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts FastAPI's dependency solving (a spy on the library, not on our code)."""
    calls: list[int] = []
    real = fastapi_routing.solve_dependencies

    async def counting(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return await real(*a, **kw)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counting)
    return calls


GOOD = {"customer": {"email": "a@example.com"}, "body": "refund late", "channel": "api"}


def test_same_answers_as_fastapi_for_good_and_bad_requests(ctx: AppContext) -> None:
    token = create_token(ctx, "admin", "lean").token
    bearer = {"Authorization": f"Bearer {token}"}
    cases: list[tuple[dict[str, str], bytes | None]] = [
        ({**bearer, "Content-Type": "application/json"}, b'{"body": "x", "customer": {}}'),
        ({**bearer, "Content-Type": "application/json; charset=utf-8"}, None),
        ({**bearer, "Content-Type": "application/json"}, b'{"body": "x", "unknown": 1}'),
        ({**bearer, "Content-Type": "application/json"}, b'{"body": 5, "customer": []}'),
        ({**bearer, "Content-Type": "application/json"}, b'{"body": "x",'),
        ({**bearer, "Content-Type": "application/json"}, b"[1, 2]"),
        ({**bearer, "Content-Type": "application/json"}, b""),
        ({**bearer, "Content-Type": "application/json"}, b'{"body": NaN}'),
        ({**bearer, "Content-Type": "text/plain"}, None),
        ({**bearer}, None),
        ({"Content-Type": "application/json"}, None),
        ({"Authorization": "Bearer nope", "Content-Type": "application/json"}, None),
        ({"Authorization": "Basic abc", "Content-Type": "application/json"}, None),
        ({**bearer, "Content-Type": "application/json"}, None),
    ]
    import orjson

    with TestClient(_app(ctx), raise_server_exceptions=False) as client:
        for headers, raw in cases:
            content = orjson.dumps(GOOD) if raw is None else raw
            lean = client.post("/lean", content=content, headers=headers)
            plain = client.post("/plain", content=content, headers=headers)
            assert lean.status_code == plain.status_code, (headers, raw, lean.text)
            assert lean.json() == plain.json(), (headers, raw)
            assert lean.status_code < 500
        ok = client.post("/lean", json=GOOD, headers=bearer)
        assert ok.status_code == 201 and ok.json()["actor"][0] == "token"


def test_valid_request_with_cached_token_skips_dependency_solving(
    ctx: AppContext, solved: list[int]
) -> None:
    token = create_token(ctx, "admin", "lean").token
    with TestClient(_app(ctx), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        first = client.post("/lean", json=GOOD)  # the token is looked up, then cached
        assert first.status_code == 201 and len(solved) == 1
        again = client.post("/lean", json=GOOD)
        assert again.status_code == 201 and len(solved) == 1  # served by the lean path
        assert again.json() == first.json()
        client.post("/lean", json={**GOOD, "body": 7})  # invalid: FastAPI answers
        assert len(solved) == 2
        client.post("/plain", json=GOOD)
        assert len(solved) == 3


def test_router_level_dependencies_are_never_skipped(ctx: AppContext) -> None:
    token = create_token(ctx, "admin", "lean").token
    with TestClient(_app(ctx), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.post("/lean", json=GOOD)  # caches the token
        for _ in range(2):
            r = client.post("/guarded", json=GOOD)
            assert r.status_code == 403 and "router-level" in r.text


def test_dependency_overrides_are_honoured(ctx: AppContext) -> None:
    from paydesk.services.actors import Actor
    from paydesk.web.deps import api_actor

    token = create_token(ctx, "admin", "lean").token
    app = _app(ctx)

    async def other() -> Actor:
        return Actor("system", None, 1, "system")

    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.post("/lean", json=GOOD)
        app.dependency_overrides[api_actor] = other
        assert client.post("/lean", json=GOOD).json()["actor"][0] == "system"


def test_the_ticket_route_is_lean_and_others_are_not() -> None:
    plans = {r.name: _plan(r) for r in tickets_router.routes if isinstance(r, LeanRoute)}
    assert plans.get("create_ticket") == ("body", TicketCreate, "ctx", "actor")

    async def with_query(body: TicketCreate, ctx: Ctx, actor: ApiActor, q: str = "") -> None:
        return None

    router = APIRouter()
    router.add_api_route("/q", with_query, methods=["POST"], route_class_override=LeanRoute)
    assert _plan(router.routes[0]) is None
