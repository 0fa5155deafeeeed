"""Staff two-factor hardening: a per-account limit on TOTP/recovery-code attempts (counted
before the code is checked, shared by sessions and processes through the database or Redis,
doubling locks, audited) and TOTP secrets sealed at rest (AES-256-GCM under a key derived from
the app secret; migration 0014 seals existing plaintext secrets) — SQLite and PostgreSQL."""

from __future__ import annotations

import atexit
import os
import time
import uuid
from pathlib import Path

import pyotp
import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from paydesk.domain.errors import RateLimited, Unauthenticated
from paydesk.services import auth
from paydesk.services.context import build_context
from paydesk.services.totp_throttle import (
    DbThrottle,
    RedisThrottle,
    SecondFactorLocked,
    lock_seconds,
)
from paydesk.store.agents import Agent
from paydesk.store.audit import AuditEvent
from paydesk.store.db import make_engine, normalize_url
from paydesk.store.migrate import alembic_config
from paydesk.store.totp import open_totp_secret, seal_totp_secret, totp_key
from tests.factories import agent
from tests.security.helpers import console_login, csrf_of

T0 = [0.0]


@pytest.fixture(autouse=True)
def _instant() -> None:
    T0[0] = time.time()


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(T0[0] + 30 * steps_ahead)


def _enrolled(ctx, email="limit@topay.example"):
    a, actor = agent(ctx, email)
    secret, _uri = auth.begin_totp(ctx, actor)
    codes = auth.confirm_totp(ctx, actor, _code(secret))
    return a, actor, secret, codes


def _actions(ctx, agent_id):
    with ctx.read() as s:
        return [
            (e.action, e.details)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "agent", AuditEvent.object_id == agent_id)
                .order_by(AuditEvent.id)
            )
        ]


def _wrong(ctx, agent_id: int, n: int) -> None:
    for _ in range(n):
        with pytest.raises(Unauthenticated, match="wrong code"):
            auth.check_second_factor(ctx, agent_id, "000000")


def test_lock_policy_doubles_and_is_capped() -> None:
    assert [lock_seconds(n, 5, 30, 900) for n in range(1, 11)] == [
        0, 0, 0, 0, 30, 60, 120, 240, 480, 900,
    ]  # fmt: skip
    assert lock_seconds(10_000, 5, 30, 900) == 900


def test_wrong_codes_lock_the_account_even_for_the_right_code(ctx):
    a, _actor, secret, codes = _enrolled(ctx)
    ctx.extras["totp_throttle"] = DbThrottle(free=5, base_seconds=1, max_seconds=60)
    _wrong(ctx, a.id, 5)  # the 5th failure starts a 1 s lock
    with pytest.raises(SecondFactorLocked) as locked:
        auth.check_second_factor(ctx, a.id, _code(secret, 1))  # right code: not even checked
    assert isinstance(locked.value, RateLimited) and locked.value.retry_after >= 1
    with pytest.raises(SecondFactorLocked):
        auth.check_second_factor(ctx, a.id, codes[0])  # recovery codes are throttled alike
    acts = _actions(ctx, a.id)
    failed = [d["attempts"] for act, d in acts if act == "auth.second_factor_failed"]
    assert failed == [1, 2, 3, 4, 5]
    assert [d for act, d in acts if act == "auth.second_factor_locked"] == [
        {"attempts": 5, "seconds": 1}
    ]
    assert len([1 for act, _ in acts if act == "auth.second_factor_throttled"]) == 2
    time.sleep(1.2)
    _wrong(ctx, a.id, 1)  # the 6th failure: a longer lock (2 s)
    with pytest.raises(SecondFactorLocked) as again:
        auth.check_second_factor(ctx, a.id, _code(secret, 1))
    assert again.value.retry_after == 2
    time.sleep(2.2)
    assert auth.check_second_factor(ctx, a.id, _code(secret, 1)) == "totp"
    _wrong(ctx, a.id, 4)  # a success starts the count again: four more are free
    assert auth.check_second_factor(ctx, a.id, codes[1]) == "recovery"


def test_the_count_is_shared_by_every_process_on_the_database(ctx, settings):
    """A second application context (its own engine and connection pool, as another worker
    process has) sees the attempts of the first: the limit is per account, not per process."""
    a, _actor, secret, _codes = _enrolled(ctx)
    other = build_context(settings, engine=make_engine(settings.database_url, pool_size=2))
    try:
        _wrong(ctx, a.id, 3)
        _wrong(other, a.id, 2)
        for c in (ctx, other):
            with pytest.raises(SecondFactorLocked):
                auth.check_second_factor(c, a.id, _code(secret, 1))
    finally:
        other.engine.dispose()


def test_redis_throttle_is_shared_and_clears_on_success(ctx, redis_url):
    a, _actor, secret, _codes = _enrolled(ctx)
    prefix = f"paydesk-test-{uuid.uuid4().hex}:"
    first = RedisThrottle(redis_url, prefix, free=3, base_seconds=1, max_seconds=5)
    second = RedisThrottle(redis_url, prefix, free=3, base_seconds=1, max_seconds=5)
    ctx.extras["totp_throttle"] = first
    _wrong(ctx, a.id, 2)
    ctx.extras["totp_throttle"] = second  # another process, same Redis
    _wrong(ctx, a.id, 1)
    with pytest.raises(SecondFactorLocked):
        auth.check_second_factor(ctx, a.id, _code(secret, 1))
    ctx.extras["totp_throttle"] = first
    with pytest.raises(SecondFactorLocked):
        auth.check_second_factor(ctx, a.id, _code(secret, 1))
    time.sleep(1.2)
    assert auth.check_second_factor(ctx, a.id, _code(secret, 1)) == "totp"
    assert first._r.exists(*first._keys(a.id)) == 0
    locked = [d for act, d in _actions(ctx, a.id) if act == "auth.second_factor_locked"]
    assert locked == [{"attempts": 3, "seconds": 1}]


def test_redis_down_falls_back_to_the_database_limit(ctx):
    a, _actor, secret, _codes = _enrolled(ctx)
    ctx.extras["totp_throttle"] = RedisThrottle("redis://127.0.0.1:1/0", "x:", free=2)
    _wrong(ctx, a.id, 2)
    with pytest.raises(SecondFactorLocked):
        auth.check_second_factor(ctx, a.id, _code(secret, 1))


def test_the_sign_in_page_answers_429_when_locked(client, ctx):
    _a, _actor, secret, _codes = _enrolled(ctx, "page-limit@topay.example")
    console_login(client, "page-limit@topay.example")
    form = client.get("/agent/2fa")
    token = csrf_of(form.text)
    for _ in range(5):
        r = client.post("/agent/2fa", data={"code": "111111", "csrf_token": token})
        assert r.status_code == 401
    r = client.post("/agent/2fa", data={"code": _code(secret, 1), "csrf_token": token})
    assert r.status_code == 429 and "too many attempts" in r.text
    assert client.get("/agent", follow_redirects=False).status_code == 303  # still not in


def test_totp_secrets_are_sealed_at_rest_and_bound_to_the_account(ctx):
    a, actor, secret, _codes = _enrolled(ctx, "sealed@topay.example")
    b, b_actor = agent(ctx, "other@topay.example")
    pending, _uri = auth.begin_totp(ctx, b_actor)
    with ctx.read() as s:
        stored = s.get(Agent, a.id).totp_secret
        stored_pending = s.get(Agent, b.id).preferences["totp_pending"]
    for value, plain in ((stored, secret), (stored_pending, pending)):
        assert value.startswith("enc1:") and plain not in value and len(value) <= 255
    key = totp_key(ctx.settings.resolved_secret())
    assert open_totp_secret(key, a.id, stored) == secret
    with pytest.raises(ValueError):
        open_totp_secret(key, b.id, stored)  # copied onto another account: does not open
    with pytest.raises(ValueError):
        open_totp_secret(totp_key("another app secret"), a.id, stored)
    # a secret sealed under another app secret: TOTP codes fail (audited), recovery codes work
    with ctx.uow() as uow:
        uow.session.get(Agent, a.id).totp_secret = seal_totp_secret(
            totp_key("old secret"), a.id, secret
        )
    with pytest.raises(Unauthenticated):
        auth.check_second_factor(ctx, a.id, _code(secret, 1))
    assert ("auth.totp_secret_unreadable", None) in [
        (act, d or None) for act, d in _actions(ctx, a.id)
    ]
    assert auth.check_second_factor(ctx, a.id, _codes[0]) == "recovery"
    assert auth.totp_enabled(ctx, actor)


def test_a_plaintext_secret_left_from_before_is_sealed_when_used(ctx):
    a, _actor, secret, _codes = _enrolled(ctx, "legacy@topay.example")
    with ctx.uow() as uow:
        uow.session.get(Agent, a.id).totp_secret = secret
    assert auth.check_second_factor(ctx, a.id, _code(secret, 1)) == "totp"
    with ctx.read() as s:
        assert s.get(Agent, a.id).totp_secret.startswith("enc1:")


# --- migration 0014 on a fresh database of each kind --------------------------------------


@pytest.fixture
def fresh_url(db_kind, tmp_path):
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    base = make_url(normalize_url(os.environ["PAYDESK_TEST_DATABASE_URL"]))
    name = f"paydesk_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    # dropped when the test process ends: DROP DATABASE waits for a checkpoint, which on a busy
    # cluster took ~17 s at teardown
    atexit.register(_drop_database, base, name)
    yield base.set(database=name).render_as_string(hide_password=False)


def _drop_database(base, name):  # type: ignore[no-untyped-def]
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    finally:
        admin.dispose()


def test_migration_0014_seals_existing_plaintext_secrets(fresh_url, tmp_path: Path):
    app_secret = "migration-secret-" + uuid.uuid4().hex
    cfg = alembic_config(fresh_url)
    cfg.attributes["secret_key"] = app_secret
    command.upgrade(cfg, "0011_totp_recovery")
    plain, pending = pyotp.random_base32(), pyotp.random_base32()
    engine = create_engine(normalize_url(fresh_url))
    with engine.begin() as conn:
        ws = conn.execute(text("SELECT id FROM workspaces")).scalar()
        if ws is None:
            conn.execute(
                text(
                    "INSERT INTO workspaces (id, slug, name, timezone, created_at)"
                    " VALUES (1, 'w', 'w', 'UTC', CURRENT_TIMESTAMP)"
                )
            )
            ws = 1
        for n, (secret, prefs) in enumerate(
            [(plain, "{}"), (None, f'{{"totp_pending": "{pending}"}}'), (None, "{}")], 1
        ):
            conn.execute(
                text(
                    "INSERT INTO agents (id, workspace_id, email, name, role, password_hash,"
                    " languages, skills, capacity, active, totp_secret, failed_logins,"
                    " preferences, created_at) VALUES (:id, :ws, :email, 'n', 'agent', '',"
                    " '[]', '[]', 5, true, :secret, 0, :prefs, CURRENT_TIMESTAMP)"
                ),
                {"id": n, "ws": ws, "email": f"a{n}@x", "secret": secret, "prefs": prefs},
            )
    command.upgrade(cfg, "heads")
    key = totp_key(app_secret)
    with engine.connect() as conn:
        rows = {
            r[0]: (r[1], r[2])
            for r in conn.execute(text("SELECT id, totp_secret, preferences FROM agents"))
        }
        cols = conn.execute(text("SELECT attempts, blocked_until FROM staff_totp_steps")).all()
    assert cols == []
    sealed = rows[1][0]
    assert sealed.startswith("enc1:") and open_totp_secret(key, 1, sealed) == plain
    import json

    prefs = rows[2][1] if isinstance(rows[2][1], dict) else json.loads(rows[2][1])
    assert open_totp_secret(key, 2, prefs["totp_pending"]) == pending
    assert rows[3][0] is None
    command.upgrade(cfg, "heads")  # idempotent: nothing sealed twice
    with engine.connect() as conn:
        again = conn.execute(text("SELECT totp_secret FROM agents WHERE id = 1")).scalar()
    assert again == sealed
    command.downgrade(cfg, "0014_totp_secret_enc-1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT totp_secret FROM agents WHERE id = 1")).scalar() == plain
    engine.dispose()
