"""Request metrics: one series per method, route template and status, counted every time (the
middleware remembers each series' labelled children)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def _count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("paydesk_http_requests_total", labels) or 0.0


def _observed(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("paydesk_http_request_seconds_count", labels) or 0.0


def test_each_request_is_counted_under_its_route_template(api) -> None:  # type: ignore[no-untyped-def]
    before = _count("GET", "/api/v1/tickets/{id}", "404")
    seen = _observed("GET", "/api/v1/tickets/{id}")
    for tid in (2_000_001, 2_000_002, 2_000_001):
        assert api.get(f"/api/v1/tickets/{tid}").status_code == 404
    assert _count("GET", "/api/v1/tickets/{id}", "404") == before + 3
    assert _observed("GET", "/api/v1/tickets/{id}") == seen + 3
    ok = _count("GET", "/healthz", "200")
    api.get("/healthz")
    api.get("/healthz")
    assert _count("GET", "/healthz", "200") == ok + 2
    text = api.get("/metrics").text
    assert 'route="/api/v1/tickets/{id}"' in text and 'route="/api/v1/tickets/2000001"' not in text
