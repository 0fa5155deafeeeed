"""`paydesk email ingest` exactly as a mail server pipes into it (INTERFACES.md), and replay.

The commands run in-process through the Typer app: the same code path as the console script
(`paydesk email …`), without paying the process start-up of every capability twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from paydesk.cli.email import app
from paydesk.settings import get_settings
from paydesk.store.email import EmailRaw

FIXTURES = Path(__file__).parents[2] / "fixtures" / "email"


@pytest.fixture
def cli(ctx, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAYDESK_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("PAYDESK_SECRET_KEY", ctx.settings.secret_key)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: bytes | None = None, code: int = 0) -> list[dict[str, object]]:
        r = runner.invoke(app, list(args), input=stdin)
        assert r.exit_code == code, (r.output, r.exception)
        return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]

    yield run
    get_settings.cache_clear()


def test_ingest_prints_one_json_line_per_message_in_order(ctx, cli, tmp_path):
    names = ("big5.eml", "autoreply.eml", "no_from.eml", "big5.eml")
    files = [str(FIXTURES / n) for n in names]
    reply = (
        b"From: tm.chan@example.hk\r\nSubject: Re: more\r\nMessage-ID: <r2@example.hk>\r\n"
        b"In-Reply-To: <big5-001@mail.example.cn>\r\n\r\nstill locked out\r\n"
    )
    missing = str(tmp_path / "missing.eml")
    # EX_TEMPFAIL (75) because one file could not be read: the MTA keeps it and retries
    lines = cli("ingest", *files, "-", missing, stdin=reply, code=75)
    assert [set(x) for x in lines] == [{"file", "action", "ticket_id", "reason"}] * 6
    assert [x["file"] for x in lines] == [*files, "-", missing]
    assert [x["action"] for x in lines] == [
        "created",
        "ignored",
        "ignored",
        "ignored",
        "appended",
        "error",
    ]
    assert str(lines[1]["reason"]).startswith("Auto-Submitted")
    assert str(lines[2]["reason"]).startswith("quarantined") and lines[2]["ticket_id"] is None
    assert lines[3]["reason"] == "duplicate" and lines[3]["ticket_id"] == lines[0]["ticket_id"]
    assert lines[4] == {
        "file": "-",
        "action": "appended",
        "ticket_id": lines[0]["ticket_id"],
        "reason": "in-reply-to",
    }
    [again] = cli("replay")
    assert again["action"] == "ignored" and str(again["reason"]).startswith("quarantined")
    with ctx.read() as s:
        # one raw row per distinct message; unrelated senders are processed at once, so the
        # rows' ids need not follow the input order (the printed outcomes do)
        assert sorted(r.status for r in s.scalars(select(EmailRaw))) == [
            "ignored",
            "processed",
            "processed",
            "quarantined",
        ]
