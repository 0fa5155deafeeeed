"""Property-based fuzzing of the whole JSON API from /openapi.json (schemathesis), in process
against the ASGI app: no input may produce a 5xx. Bounded: a few examples per operation and a
hard time budget, so it stays a regular part of the suite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from paydesk.services.auth import create_token
from paydesk.services.bootstrap import prepare
from paydesk.services.context import build_context
from paydesk.settings import Settings
from tests.factories import ALICE, ticket

BUDGET_SECONDS = 30
EXAMPLES = 5


@pytest.fixture
def fuzz_app(tmp_path: Path) -> Iterator[tuple[object, str]]:
    # One SQLite database (the fuzzing is about input handling, not the SQL dialect; the
    # attack suite covers both databases)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", data_dir=tmp_path)
    ctx = build_context(settings)
    prepare(ctx)
    ticket(ctx, ALICE)
    from paydesk.web.app import create_app

    yield create_app(ctx=ctx), create_token(ctx, "admin", "fuzz").token
    ctx.engine.dispose()


def test_api_never_answers_5xx(fuzz_app: tuple[object, str]) -> None:
    app, token = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + BUDGET_SECONDS
    failures: list[str] = []
    calls: list[int] = []
    tried = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.startswith(("/ws", "/metrics")):
            continue
        if time.monotonic() > deadline:
            break
        tried += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            if time.monotonic() > deadline:
                return
            response = case.call(headers=headers)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}")

        run()
    assert tried >= 5 and len(calls) >= 2 * tried - EXAMPLES, (tried, len(calls))
    assert not failures, "\n".join(sorted(set(failures))[:20])
