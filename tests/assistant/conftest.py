"""Fixtures of the assistant tests: the demo help center imported through the real service."""

from __future__ import annotations

import pytest

from paydesk.services.assistant import seed_help_center


@pytest.fixture
def help_center(ctx):  # type: ignore[no-untyped-def]
    counts = seed_help_center(ctx)
    assert counts["failed"] == 0, counts["errors"]
    return ctx
