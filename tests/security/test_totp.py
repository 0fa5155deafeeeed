"""Staff two-factor: a TOTP code works once per time-step (replay refused, audited) and 10
single-use recovery codes (stored salted-hashed, each use audited, regenerable) — service and
pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import select

from paydesk.domain.errors import InvalidInput, Unauthenticated
from paydesk.services import auth
from paydesk.store.audit import AuditEvent
from paydesk.store.totp import RecoveryCode, TotpStep
from tests.factories import agent
from tests.security.helpers import console_login, csrf_of

T0 = [0.0]  # every code of a test is taken relative to one instant (no step-edge flakes)


@pytest.fixture(autouse=True)
def _instant() -> None:
    T0[0] = time.time()


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(T0[0] + 30 * steps_ahead)


def _enrolled(ctx, email="mfa@topay.example"):
    a, actor = agent(ctx, email)
    secret, uri = auth.begin_totp(ctx, actor)
    assert uri.startswith("otpauth://totp/")
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


def test_a_totp_code_is_accepted_once_per_time_step(ctx):
    a, _actor, secret, _ = _enrolled(ctx)
    # the code that confirmed the enrolment is spent already
    with pytest.raises(Unauthenticated, match="already used"):
        auth.check_second_factor(ctx, a.id, _code(secret))
    nxt = _code(secret, 1)  # next step (within the ±1 drift window)
    assert auth.check_second_factor(ctx, a.id, nxt) == "totp"
    with pytest.raises(Unauthenticated, match="already used"):
        auth.check_second_factor(ctx, a.id, nxt)
    # an older step than the last accepted one is refused too, even if never used ("wrong
    # code" when the clock has moved past the drift window meanwhile)
    with pytest.raises(Unauthenticated):
        auth.check_second_factor(ctx, a.id, _code(secret, -1))
    with pytest.raises(Unauthenticated, match="wrong code"):
        auth.check_second_factor(ctx, a.id, "12345")
    with ctx.read() as s:
        step = s.get(TotpStep, a.id)
        assert step is not None and step.last_step == int(T0[0] + 30) // 30
    refused = [d for act, d in _actions(ctx, a.id) if act == "auth.totp_replay_refused"]
    assert len(refused) >= 2
    assert all(nxt not in str(d) for _act, d in _actions(ctx, a.id))  # no code in the audit


def test_recovery_codes_are_shown_once_stored_hashed_and_work_once(ctx):
    a, actor, _secret, codes = _enrolled(ctx)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    with ctx.read() as s:
        rows = s.scalars(select(RecoveryCode).where(RecoveryCode.agent_id == a.id)).all()
        stored = " ".join(f"{r.salt} {r.code_hash}" for r in rows)
        assert len(rows) == 10 and len({r.salt for r in rows}) == 10
    for c in codes:
        assert c not in stored and c.replace("-", "") not in stored
    assert auth.recovery_codes_left(ctx, actor) == 10
    # typed differently (upper case, no dash, spaces) it still works — once
    typed = " " + codes[3].upper().replace("-", "") + " "
    assert auth.check_second_factor(ctx, a.id, typed) == "recovery"
    with pytest.raises(Unauthenticated):
        auth.check_second_factor(ctx, a.id, codes[3])
    assert auth.check_second_factor(ctx, a.id, codes[7]) == "recovery"
    assert auth.recovery_codes_left(ctx, actor) == 8
    used = [d for act, d in _actions(ctx, a.id) if act == "auth.recovery_code_used"]
    assert [d["left"] for d in used] == [9, 8]
    with pytest.raises(Unauthenticated):
        auth.check_second_factor(ctx, a.id, "abcde-fghjk")  # never issued


def test_regenerating_recovery_codes_needs_a_factor_and_voids_the_old_ones(ctx):
    a, actor, secret, old = _enrolled(ctx)
    with pytest.raises(InvalidInput):
        auth.regenerate_recovery_codes(ctx, actor, "000000")
    new = auth.regenerate_recovery_codes(ctx, actor, _code(secret, 1))
    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(Unauthenticated):
        auth.check_second_factor(ctx, a.id, old[0])
    assert auth.check_second_factor(ctx, a.id, new[0]) == "recovery"
    generated = [act for act, _ in _actions(ctx, a.id) if act == "auth.recovery_codes_generated"]
    assert len(generated) == 2


def test_disable_with_a_recovery_code_removes_the_codes(ctx):
    a, actor, _secret, codes = _enrolled(ctx)
    with pytest.raises(Unauthenticated):
        auth.disable_totp(ctx, actor, "wrong password", codes[0])
    auth.disable_totp(ctx, actor, "correct horse battery staple", codes[0])
    assert not auth.totp_enabled(ctx, actor)
    assert auth.recovery_codes_left(ctx, actor) == 0
    with pytest.raises(InvalidInput):
        auth.check_second_factor(ctx, a.id, codes[1])


def test_pages_show_codes_once_and_sign_in_with_a_recovery_code(client, ctx):
    agent(ctx, "page@topay.example")
    console_login(client, "page@topay.example")
    page = client.get("/agent/security?lang=zh-CN")
    assert "两步验证未开启" in page.text
    started = client.post("/agent/security/totp/begin", data={"csrf_token": csrf_of(page.text)})
    secret = started.text.split('id="totp-secret">')[1].split("<")[0]
    ok = client.post(
        "/agent/security/totp/confirm",
        data={"code": _code(secret), "csrf_token": csrf_of(started.text)},
    )
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert "请立即保存这些恢复码" in ok.text
    codes = ok.text.split('id="recovery-codes"')[1].split("</ol>")[0].split("<code>")[1:]
    codes = [c.split("</code>")[0] for c in codes]
    assert len(codes) == 10
    again = client.get("/agent/security?lang=en")
    assert codes[0] not in again.text and "Unused recovery codes: 10 of 10." in again.text

    client.cookies.clear()
    console_login(client, "page@topay.example")
    form = client.get("/agent/2fa")
    assert "recovery code" in form.text and "恢复码" in form.text
    replay = client.post(
        "/agent/2fa", data={"code": _code(secret), "csrf_token": csrf_of(form.text)}
    )
    assert replay.status_code == 401 and "already used" in replay.text
    r = client.post(
        "/agent/2fa",
        data={"code": codes[0], "csrf_token": csrf_of(replay.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/agent").status_code == 200
    assert "9 of 10" in client.get("/agent/security?lang=en").text

    client.cookies.clear()
    console_login(client, "page@topay.example")
    form = client.get("/agent/2fa")
    reused = client.post("/agent/2fa", data={"code": codes[0], "csrf_token": csrf_of(form.text)})
    assert reused.status_code == 401
    assert client.get("/agent", follow_redirects=False).status_code == 303


def test_passwords_use_argon2id_at_the_library_defaults_unless_configured() -> None:
    import os
    import subprocess
    import sys

    code = (
        "from paydesk.services import auth\n"
        "h = auth.hash_password('correct horse')\n"
        "print(h.split('$')[1], h.split('$')[3])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYDESK_ARGON2_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["argon2id", "m=65536,t=3,p=4"], out.stderr
    env["PAYDESK_ARGON2_TIME_COST"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["argon2id", "m=65536,t=2,p=4"], out.stderr
