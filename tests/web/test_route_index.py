"""PaydeskApp.index_routes: the path guard on included routers must never change which route
a request reaches, only how fast it is found."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Match

from paydesk.settings import Settings
from paydesk.web.app import create_app


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d: Path = tmp_path_factory.mktemp("route-index")
    return create_app(Settings(database_url=f"sqlite:///{d}/p.db", data_dir=d))


def _scope(path: str, method: str = "GET", kind: str = "http") -> dict[str, object]:
    return {
        "type": kind,
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }


def _first_match(routes: list, scope: dict[str, object], guarded: bool) -> tuple[int, Match]:  # type: ignore[type-arg]
    """Index and kind of the route the router would pick (FULL first, else the first PARTIAL)."""
    partial = (-1, Match.NONE)
    for i, route in enumerate(routes):
        if guarded:
            match, _ = route.matches(dict(scope))
        else:  # the class's own method, bypassing the instance's guard
            match, _ = type(route).matches(route, dict(scope))
        if match == Match.FULL:
            return i, match
        if match == Match.PARTIAL and partial[0] < 0:
            partial = (i, match)
    return partial


def _sample_paths(app) -> list[str]:  # type: ignore[no-untyped-def]
    paths = set()
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        formats = [str(c.path_format) for c in contexts()] if contexts else [route.path_format]
        for fmt in formats:
            for value in ("1", "abc", "x/y"):
                p = re.sub(r"\{[^}]+\}", value, fmt)
                paths.update({p, p.rstrip("/") + "/", p + "x", p[:-1] or "/"})
    paths.update({"/", "/nope", "/api/v1/nope", "/api/v1/tickets//", "//", "/static/app.css"})
    return sorted(paths)


def test_every_included_router_is_guarded(bare_app) -> None:  # type: ignore[no-untyped-def]
    app = bare_app
    guarded = [r for r in app.router.routes if "matches" in vars(r)]
    included = [r for r in app.router.routes if hasattr(r, "effective_route_contexts")]
    assert included, "the app has included routers"
    assert len(guarded) == len(included)


@pytest.mark.parametrize("kind,method", [("http", "GET"), ("http", "POST"), ("websocket", "GET")])
def test_the_guard_picks_the_same_route_as_the_full_scan(bare_app, kind: str, method: str) -> None:  # type: ignore[no-untyped-def]
    routes = bare_app.router.routes
    paths = _sample_paths(bare_app)
    assert len(paths) > 300
    reached = set()
    for path in paths:
        scope = _scope(path, method, kind)
        want = _first_match(routes, scope, guarded=False)
        assert _first_match(routes, scope, guarded=True) == want, path
        reached.add(want[0])
    if kind == "http":  # the sample reaches most routers, so the comparison covered them
        assert len(reached) > len(routes) // 2
    else:  # and the chat sockets
        assert len(reached) >= 2


def test_requests_still_reach_their_routes(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/api/v1/tickets").status_code == 401
    assert client.get("/definitely/not/here").status_code == 404
    assert client.get("/agent/login").status_code == 200
