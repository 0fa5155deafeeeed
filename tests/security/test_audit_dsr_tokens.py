"""Audit chain (seal, verify, tamper detection, append-only triggers), auditor search, API token
scopes and revocation, data-subject export and erasure with retention holds."""

from __future__ import annotations

import base64
import io
import zipfile

import orjson
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from paydesk.services import audit
from paydesk.services.auth import create_token
from tests.security.helpers import new_ticket


def test_audit_chain_is_append_only_and_tamper_evident(api, ctx, monkeypatch):
    new_ticket(api, "first")
    new_ticket(api, "second", email="bob@example.com")
    with ctx.uow() as uow:
        assert audit.seal_chain(uow.session) >= 2
    with ctx.read() as s:
        report = audit.verify_report(s)
    assert report["ok"] and report["sealed"] >= 2
    # sealed rows cannot be changed or deleted (database triggers)
    for stmt in ("UPDATE audit_events SET action = 'x' WHERE id = 1", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError), ctx.engine.begin() as conn:
            conn.execute(text(stmt))
    # someone with the database owner's rights bypasses the trigger: verify finds it
    with ctx.engine.begin() as conn:
        if ctx.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_sealed_no_update"))
        conn.execute(text("UPDATE audit_events SET actor_name = 'mallory' WHERE id = 2"))
    r = api.get("/api/v1/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is False
    assert r.json()["first_broken_id"] == 2
    # the CLI says the same and exits 1
    monkeypatch.setenv("PAYDESK_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(ctx.settings.data_dir))
    from paydesk.cli import _load_subcommands, app
    from paydesk.settings import get_settings

    get_settings.cache_clear()
    _load_subcommands()
    out = CliRunner().invoke(app, ["audit", "verify"])
    get_settings.cache_clear()
    assert out.exit_code == 1, out.output
    assert orjson.loads(out.stdout.splitlines()[0])["first_broken_id"] == 2


def test_a_backlog_is_sealed_a_batch_per_transaction_into_one_unbroken_chain(ctx, monkeypatch):
    from paydesk.services.actors import system_actor

    monkeypatch.setattr(audit, "SEAL_BATCH", 7)
    monkeypatch.setattr(audit, "PG_SETTLE_SECONDS", 0.0)
    actor = system_actor()
    with ctx.uow() as uow:
        for i in range(30):
            audit.record(uow.session, actor, "test.event", details={"i": i, "note": "x" * i})
    with ctx.uow() as uow:
        # the caller's own unflushed event is chained too
        audit.record(uow.session, actor, "test.last")
        assert audit.seal_chain(uow.session, batch=7) == 7
    monkeypatch.setattr(audit, "SEAL_WRITE_ROWS", 3)
    updates: list[int] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE audit_events"):  # rows: of one statement's VALUES
            updates.append(statement.count("(?, ?, ?)") or (len(params) if executemany else 1))

    event.listen(ctx.engine, "before_cursor_execute", count)
    assert audit.seal_pending(ctx) == 24  # 31 events: 7 + 7 + 7 + 3 after the first 7
    event.remove(ctx.engine, "before_cursor_execute", count)
    if ctx.dialect == "sqlite":  # short write transactions: the writer's lock is not held long
        assert updates == [3, 3, 1, 3, 3, 1, 3, 3, 1, 3]
    assert audit.seal_pending(ctx) == 0
    with ctx.read() as s:
        report = audit.verify_report(s)
        unsealed = s.scalar(text("SELECT count(*) FROM audit_events WHERE hash = ''"))
    assert report["ok"] and report["sealed"] == 31 and unsealed == 0


def test_the_sealer_leaves_recent_events_to_late_committers_on_postgresql(ctx, monkeypatch):
    """PostgreSQL may commit a lower id after a higher one is visible: the background sealer only
    chains events whose transaction began PG_SETTLE_SECONDS ago (SQLite commits in id order)."""
    from paydesk.services.actors import system_actor

    monkeypatch.setattr(audit, "PG_SETTLE_SECONDS", 3600.0)
    with ctx.uow() as uow:
        for i in range(3):
            audit.record(uow.session, system_actor(), "test.event", details={"i": i})
    assert audit.seal_pending(ctx) == (0 if ctx.dialect == "postgresql" else 3)
    monkeypatch.setattr(audit, "PG_SETTLE_SECONDS", 0.0)
    if ctx.dialect == "postgresql":  # another process sealing: this one leaves it the work
        with ctx.engine.begin() as other:
            other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit._SEALER_LOCK})
            assert audit.seal_pending(ctx) == 0
    assert audit.seal_pending(ctx) == (3 if ctx.dialect == "postgresql" else 0)
    with ctx.read() as s:
        assert audit.verify_report(s)["ok"]


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_one_sqlite_process_seals_at_a_time(ctx):
    """SQLite: the background sealer of a worker that finds another sealing leaves the work to
    it (each would otherwise hash every event); `audit verify` waits for its turn instead."""
    import threading
    import time

    from paydesk.services.actors import system_actor
    from paydesk.store.db import process_turn

    with ctx.uow() as uow:
        for i in range(3):
            audit.record(uow.session, system_actor(), "test.event", details={"i": i})
    with process_turn(ctx.engine, "sealer", wait=False) as turn:  # "another worker" seals
        assert turn
        assert audit.seal_pending(ctx, wait=False) == 0
        with process_turn(ctx.engine, "sealer", wait=False) as second:
            assert not second
    sealed: list[int] = []
    with process_turn(ctx.engine, "sealer", wait=False):
        waiter = threading.Thread(target=lambda: sealed.append(audit.seal_pending(ctx)))
        waiter.start()
        time.sleep(0.3)
        assert sealed == []  # waits for the turn
    waiter.join(10)
    assert sealed == [3]
    with ctx.read() as s:
        assert audit.verify_report(s)["ok"]


def test_auditor_search_and_token_scopes(api, ctx):
    t = new_ticket(api, "hello")
    cid = api.get(f"/api/v1/tickets/{t['id']}").json()["customer"]["id"]
    auditor = create_token(ctx, "auditor", "audit").token
    agent = create_token(ctx, "agent", "bot").token
    h = {"Authorization": f"Bearer {auditor}"}
    r = api.get("/api/v1/audit/events", params={"customer_id": cid}, headers=h)
    assert r.status_code == 200, r.text
    assert {e["action"] for e in r.json()["events"]} >= {"ticket.created"}
    r = api.get("/api/v1/audit/events", params={"action": "ticket."}, headers=h)
    assert all(e["action"].startswith("ticket.") for e in r.json()["events"])
    assert (
        api.get("/api/v1/audit/events", params={"since": "not-a-date"}, headers=h).status_code
        == 422
    )
    forbidden = api.get("/api/v1/audit/events", headers={"Authorization": f"Bearer {agent}"})
    assert forbidden.status_code == 403
    # the auditor's search is itself audited
    r = api.get("/api/v1/audit/events", params={"action": "audit.searched"}, headers=h)
    assert r.json()["events"]
    # scoped token: read tickets only
    r = api.post("/api/v1/tokens", json={"name": "ro", "role": "admin", "scopes": ["tickets:read"]})
    assert r.status_code == 201, r.text
    ro = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.get("/api/v1/tickets", headers=ro).status_code == 200
    denied = api.post(
        "/api/v1/tickets", headers=ro, json={"customer": {}, "subject": "x", "body": "y"}
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_scope"
    assert api.get("/api/v1/audit/events", headers=ro).status_code == 403
    bad = api.post("/api/v1/tokens", json={"name": "x", "role": "admin", "scopes": ["root"]})
    assert bad.status_code == 422
    tokens = api.get("/api/v1/tokens").json()["tokens"]
    assert all("token_hash" not in tok and len(tok["prefix"]) == 8 for tok in tokens)
    # revocation takes effect at once in this process
    assert api.delete(f"/api/v1/tokens/{r.json()['id']}").status_code == 204
    assert api.get("/api/v1/tickets", headers=ro).status_code == 401
    assert (
        api.delete("/api/v1/tokens/1", headers={"Authorization": f"Bearer {agent}"}).status_code
        == 403
    )


def test_export_and_erase_customer(api, ctx, monkeypatch, tmp_path):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    plain = new_ticket(
        api,
        "my app crashes",
        email="carol@example.com",
        name="Carol Reed",
        subject="Crash",
        attachments=[{"filename": "shot.png", "content_type": "image/png", "content_base64": png}],
    )
    complaint = new_ticket(
        api, "I want to complain about the fees", email="carol@example.com", category="complaint"
    )
    cid = api.get(f"/api/v1/tickets/{plain['id']}").json()["customer"]["id"]
    agent = create_token(ctx, "agent", "bot").token
    agent_h = {"Authorization": f"Bearer {agent}"}
    assert api.get(f"/api/v1/customers/{cid}/export", headers=agent_h).status_code == 403
    r = api.get(f"/api/v1/customers/{cid}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    doc = orjson.loads(zf.read("customer.json"))
    assert doc["identities"][0]["value"] == "carol@example.com"
    assert {t["number"] for t in doc["tickets"]} == {plain["number"], complaint["number"]}
    att = doc["tickets"][0]["messages"][0]["attachments"][0]["file"]
    assert zf.read(att).startswith(b"\x89PNG")
    assert api.get("/api/v1/customers/999999/export").status_code == 404

    r = api.post(f"/api/v1/customers/{cid}/erase", json={"reason": "DSR-42"})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["tickets_erased"] == 1 and res["tickets_held"] == {"complaint": 1}
    assert res["identities_removed"] == 1 and res["attachments_removed"] == 1
    gone = api.get(f"/api/v1/tickets/{plain['id']}").json()
    assert "crashes" not in str(gone) and "carol@example.com" not in str(gone)
    kept = api.get(f"/api/v1/tickets/{complaint['id']}").json()
    assert "complain about the fees" in kept["messages"][0]["body"]
    assert api.post(f"/api/v1/customers/{cid}/erase", json={"reason": "again"}).status_code == 409
    with ctx.read() as s:
        actions = [r[0] for r in s.execute(text("SELECT action FROM audit_events"))]
    assert "dsr.exported" in actions and "dsr.erased" in actions
    # the CLI exports too (the erased, pseudonymised customer; held complaint still there)
    monkeypatch.setenv("PAYDESK_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(ctx.settings.data_dir))
    from paydesk.cli import _load_subcommands, app
    from paydesk.settings import get_settings

    get_settings.cache_clear()
    _load_subcommands()
    out = CliRunner().invoke(app, ["privacy", "export", str(cid), "-o", str(tmp_path / "c.zip")])
    get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    doc = orjson.loads(zipfile.ZipFile(tmp_path / "c.zip").read("customer.json"))
    assert doc["customer"]["name"] == f"Erased customer {cid}" and doc["identities"] == []
    assert [t["number"] for t in doc["tickets"]] == [plain["number"], complaint["number"]]


def test_erase_blanks_survey_comments_and_drops_customer_tags(api, ctx):
    from datetime import timedelta

    from sqlalchemy import select

    from paydesk.store.base import utcnow
    from paydesk.store.routing import CustomerTag
    from paydesk.store.surveys import CsatSurvey, NpsSurvey

    t = new_ticket(api, "the app crashes", email="dora@example.com", name="Dora Lin")
    cid = api.get(f"/api/v1/tickets/{t['id']}").json()["customer"]["id"]
    later = utcnow() + timedelta(days=14)
    with ctx.uow() as uow:
        s = uow.session
        s.add(CustomerTag(customer_id=cid, tag="vip"))
        s.add(
            CsatSurvey(
                workspace_id=1,
                ticket_id=t["id"],
                customer_id=cid,
                channel="web",
                delivery="portal",
                token_hash="a" * 64,
                expires_at=later,
                rating="bad",
                comment="Dora here, call me on my private line",
            )
        )
        s.add(
            NpsSurvey(
                workspace_id=1,
                customer_id=cid,
                token_hash="b" * 64,
                expires_at=later,
                score=3,
                comment="Dora says: too slow",
            )
        )
    r = api.post(f"/api/v1/customers/{cid}/erase", json={"reason": "DSR-77"})
    assert r.status_code == 200, r.text
    with ctx.read() as s:
        assert s.scalars(select(CustomerTag).where(CustomerTag.customer_id == cid)).all() == []
        csat = s.scalars(select(CsatSurvey).where(CsatSurvey.customer_id == cid)).one()
        nps = s.scalars(select(NpsSurvey).where(NpsSurvey.customer_id == cid)).one()
    assert csat.comment is None and csat.rating == "bad"  # the rating stays, as a statistic
    assert nps.comment is None and nps.score == 3
