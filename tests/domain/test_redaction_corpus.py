"""Table-driven redaction corpus (tests/fixtures/redaction/*.yaml), both languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paydesk.domain.redaction import redact

CORPUS: list[dict[str, Any]] = [
    case
    for path in sorted((Path(__file__).parents[1] / "fixtures" / "redaction").glob("*.yaml"))
    for case in yaml.safe_load(path.read_text("utf-8"))
]


@pytest.mark.parametrize("case", CORPUS, ids=[c["text"][:40] for c in CORPUS])
def test_corpus_case(case: dict[str, Any]) -> None:
    out = redact(case["text"])
    for secret in case.get("gone", []):
        assert secret not in out.text, f"{secret!r} survived: {out.text!r}"
    for kept in case.get("keep", []):
        assert kept in out.text, f"{kept!r} was damaged: {out.text!r}"
    if "kinds" in case:
        assert sorted({f.kind for f in out.findings}) == sorted(case["kinds"]), out.text
