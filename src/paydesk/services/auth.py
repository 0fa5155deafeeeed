"""Authentication: argon2id passwords with throttling, API tokens, web sessions, CSRF tokens.

Secrets given to clients (tokens, session cookies, links) are random 256-bit values; only their
SHA-256 is stored, so a database leak yields nothing usable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.domain.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from paydesk.domain.permissions import Role
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.totp_throttle import SecondFactorLocked, get_throttle
from paydesk.store.agents import Agent
from paydesk.store.auth import ApiToken, WebSession
from paydesk.store.base import utcnow
from paydesk.store.totp import (
    RecoveryCode,
    TotpStep,
    is_sealed,
    open_totp_secret,
    seal_totp_secret,
    totp_key,
)
from paydesk.store.workspace import QueueMember


def _make_hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106 low-memory profile: t=3, 64 MiB, p=4).
    PAYDESK_ARGON2_TIME_COST / PAYDESK_ARGON2_MEMORY_KIB / PAYDESK_ARGON2_PARALLELISM override
    them — the test suite lowers them (same algorithm and code path, a fraction of the cost);
    hashes carry their parameters, and a login rehashes one made with other parameters."""
    defaults = PasswordHasher()

    def env(name: str, default: int) -> int:
        raw = os.environ.get(f"PAYDESK_ARGON2_{name}", "")
        return max(1, int(raw)) if raw.strip().isdigit() else default

    return PasswordHasher(
        time_cost=env("TIME_COST", defaults.time_cost),
        memory_cost=max(8, env("MEMORY_KIB", defaults.memory_cost)),
        parallelism=env("PARALLELISM", defaults.parallelism),
    )


_hasher = _make_hasher()
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist (same cost as a real check). Made
    on first use: hashing at import cost every CLI command ~0.3 s."""
    return _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise InvalidInput("passwords need at least 10 characters", field="password")
    return _hasher.hash(password)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def agent_actor(s: Session, agent: Agent) -> Actor:
    queues = frozenset(
        s.scalars(select(QueueMember.queue_id).where(QueueMember.agent_id == agent.id))
    )
    return Actor(
        kind="agent",
        id=agent.id,
        workspace_id=agent.workspace_id,
        role=agent.role,
        name=agent.name,
        queue_ids=queues,
    )


def authenticate(ctx: AppContext, email: str, password: str, *, workspace_id: int = 1) -> Agent:
    """Check a staff login. Five failures lock the account for 15 minutes (audited); the same
    error message for unknown user, wrong password and locked account."""
    now = utcnow()
    bad = Unauthenticated("wrong email or password")
    with ctx.uow() as uow:
        s = uow.session
        agent = s.scalars(
            select(Agent).where(
                Agent.workspace_id == workspace_id, Agent.email == email.strip().lower()
            )
        ).first()
        if agent is None or not agent.active:
            try:
                _hasher.verify(_dummy_hash(), password)  # same cost as a real check
            except VerificationError:
                pass
            raise bad
        if agent.locked_until and agent.locked_until > now:
            raise RateLimited("too many failed sign-ins; try again later")
        try:
            _hasher.verify(agent.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            agent.failed_logins += 1
            actor = Actor(
                kind="agent",
                id=agent.id,
                workspace_id=workspace_id,
                role=agent.role,
                name=agent.name,
            )
            if agent.failed_logins >= MAX_FAILED_LOGINS:
                agent.locked_until = now + LOCKOUT
                agent.failed_logins = 0
                audit.record(s, actor, "auth.locked", object_type="agent", object_id=agent.id)
            else:
                audit.record(s, actor, "auth.failed", object_type="agent", object_id=agent.id)
            s.commit()
            raise bad from None
        agent.failed_logins = 0
        agent.locked_until = None
        if _hasher.check_needs_rehash(agent.password_hash):
            agent.password_hash = _hasher.hash(password)
        audit.record(
            s, agent_actor(s, agent), "auth.login", object_type="agent", object_id=agent.id
        )
    return agent


# --- API tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str


# Scopes narrow what a token's role allows, by API area and access: "tickets:read",
# "tickets:write" (implies read), "audit:read", "*" (everything the role may do). No scopes =
# the role's full reach (tokens made before scopes existed keep working).
SCOPE_AREAS = frozenset(
    {"tickets", "customers", "audit", "privacy", "tokens", "kb", "assistant", "payments", "*"}
)


def normalise_scopes(scopes: list[str] | None) -> list[str]:
    out: list[str] = []
    for raw in scopes or []:
        scope = raw.strip().lower()
        area, _, access = scope.partition(":")
        if scope == "*" or (area in SCOPE_AREAS and access in ("read", "write", "*")):
            if scope not in out:
                out.append(scope)
            continue
        raise InvalidInput(f"unknown scope {raw!r} (use area:read|write, or *)", field="scopes")
    return out


def scope_allows(scopes: list[str], area: str, write: bool) -> bool:
    """Whether a token with `scopes` may call an endpoint of `area` (read = GET/HEAD)."""
    if not scopes or "*" in scopes:
        return True
    wanted = {f"{area}:write", f"{area}:*", "*:write", "*:*"}
    if not write:
        wanted |= {f"{area}:read", "*:read"}
    return bool(wanted.intersection(scopes))


def create_token(
    ctx: AppContext,
    role: str,
    name: str,
    *,
    workspace_id: int = 1,
    scopes: list[str] | None = None,
    actor: Actor | None = None,
) -> NewToken:
    """A new API token (returned once; only its SHA-256 is stored)."""
    try:
        Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", field="role") from None
    if not name.strip():
        raise InvalidInput("a token needs a name", field="name")
    scope_list = normalise_scopes(scopes)
    raw = "pd_" + secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        tok = ApiToken(
            workspace_id=workspace_id,
            name=name.strip()[:200],
            role=role,
            token_hash=sha256(raw),
            prefix=raw[:8],
            scopes=scope_list,
        )
        uow.session.add(tok)
        uow.session.flush()
        audit.record(
            uow.session,
            actor or system_actor(workspace_id),
            "token.created",
            object_type="token",
            object_id=tok.id,
            details={"role": role, "name": tok.name, "scopes": scope_list},
        )
        tid = tok.id
    return NewToken(tid, raw)


def revoke_token(ctx: AppContext, actor: Actor, token_id: int) -> None:
    """Revoke a token (admin). Takes effect everywhere within the 5 s resolve cache; at once in
    this process."""
    from paydesk.domain.permissions import Perm

    actor.require(Perm.ADMIN)
    with ctx.uow() as uow:
        tok = uow.session.get(ApiToken, token_id)
        if tok is None or tok.workspace_id != actor.workspace_id:
            raise NotFound(f"token {token_id} not found")
        if tok.revoked_at is None:
            tok.revoked_at = utcnow()
            audit.record(
                uow.session, actor, "token.revoked", object_type="token", object_id=token_id
            )
        digest = tok.token_hash
    _token_cache(ctx, "token_cache").pop(digest, None)
    _token_cache(ctx, "token_scopes").pop(digest, None)


def list_tokens(ctx: AppContext, actor: Actor) -> list[dict[str, object]]:
    """Tokens of the workspace (never the secret; the 8-character prefix identifies it)."""
    from paydesk.domain.permissions import Perm

    actor.require(Perm.ADMIN)
    with ctx.read() as s:
        rows = s.scalars(
            select(ApiToken)
            .where(ApiToken.workspace_id == actor.workspace_id)
            .order_by(ApiToken.id)
        ).all()
        return [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "prefix": t.prefix,
                "scopes": list(t.scopes or []),
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in rows
        ]


TOKEN_CACHE_SECONDS = 5.0  # revocation takes effect within this long


def _token_cache(ctx: AppContext, name: str) -> dict[str, tuple[Any, float]]:
    return ctx.extras.setdefault(name, {})  # type: ignore[no-any-return]


def _cached(ctx: AppContext, name: str, digest: str) -> tuple[Any, float] | None:
    import time

    hit = _token_cache(ctx, name).get(digest)
    return hit if hit and hit[1] > time.monotonic() else None


def _remember(ctx: AppContext, name: str, digest: str, value: Any) -> None:
    import time

    _token_cache(ctx, name)[digest] = (value, time.monotonic() + TOKEN_CACHE_SECONDS)


def cached_token_scopes(ctx: AppContext, raw: str) -> tuple[bool, list[str] | None]:
    """(found, scopes) from this process's short cache of `token_scopes`, with no I/O: the
    event loop asks this first and hands `token_scopes` to a thread only on a miss."""
    hit = _cached(ctx, "token_scopes", sha256(raw))
    return (True, hit[0]) if hit else (False, None)


def cached_token_actor(ctx: AppContext, raw: str) -> Actor | None:
    """The actor of a live token from this process's short cache of `resolve_token` (no I/O);
    None when not cached (unknown, revoked, or not looked up in the last few seconds)."""
    hit = _cached(ctx, "token_cache", sha256(raw))
    return hit[0] if hit else None


def token_scopes(ctx: AppContext, raw: str) -> list[str] | None:
    """Scopes of a live token (None when unknown or revoked). Cached like `resolve_token`."""
    found, scopes = cached_token_scopes(ctx, raw)
    if found:
        return scopes
    digest = sha256(raw)
    with ctx.read() as s:
        tok = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        scopes = None if tok is None or tok.revoked_at is not None else list(tok.scopes or [])
    _remember(ctx, "token_scopes", digest, scopes)
    return scopes


def resolve_token(ctx: AppContext, raw: str) -> Actor:
    """The actor of a bearer token; Unauthenticated when unknown or revoked."""
    actor = cached_token_actor(ctx, raw)
    if actor is not None:
        return actor
    digest = sha256(raw)
    with ctx.read() as s:
        tok = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if tok is None or tok.revoked_at is not None:
            raise Unauthenticated("invalid or revoked API token")
        actor = Actor(
            kind="token",
            id=tok.id,
            workspace_id=tok.workspace_id,
            role=tok.role,
            name=f"token:{tok.name}",
        )
    # a short cache keeps the hot path off the database
    _remember(ctx, "token_cache", digest, actor)
    return actor


# --- web sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    actor: Actor
    csrf_token: str
    session_id: str
    mfa_pending: bool = False


def create_session(
    ctx: AppContext,
    *,
    agent_id: int | None = None,
    customer_id: int | None = None,
    workspace_id: int = 1,
    replace: str | None = None,
    mfa_pending: bool = False,
) -> str:
    """A new session; the cookie value is returned once. `replace` (the old cookie) is deleted:
    the identifier always rotates on sign-in, which defeats session fixation."""
    raw = secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        s = uow.session
        if replace:
            s.execute(delete(WebSession).where(WebSession.id == sha256(replace)))
        s.add(
            WebSession(
                id=sha256(raw),
                workspace_id=workspace_id,
                agent_id=agent_id,
                customer_id=customer_id,
                csrf_token=secrets.token_urlsafe(24),
                expires_at=utcnow() + timedelta(seconds=ctx.settings.session_ttl_seconds),
                mfa_pending=mfa_pending,
            )
        )
    return raw


def resolve_session(ctx: AppContext, raw: str) -> SessionInfo | None:
    if not raw or len(raw) > 100:
        return None
    with ctx.read() as s:
        ws = s.get(WebSession, sha256(raw))
        if ws is None or ws.expires_at <= utcnow():
            return None
        if ws.agent_id is not None:
            agent = s.get(Agent, ws.agent_id)
            if agent is None or not agent.active:
                return None
            actor = agent_actor(s, agent)
        elif ws.customer_id is not None:
            actor = Actor(
                kind="customer", id=ws.customer_id, workspace_id=ws.workspace_id, role="customer"
            )
        else:
            return None
        return SessionInfo(actor, ws.csrf_token, ws.id, ws.mfa_pending)


def destroy_session(ctx: AppContext, raw: str) -> None:
    with ctx.uow() as uow:
        uow.session.execute(delete(WebSession).where(WebSession.id == sha256(raw)))


def complete_mfa(ctx: AppContext, raw: str) -> None:
    with ctx.uow() as uow:
        uow.session.execute(
            update(WebSession).where(WebSession.id == sha256(raw)).values(mfa_pending=False)
        )


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


# --- TOTP two-factor (staff) ------------------------------------------------------------------

TOTP_ISSUER = "TOPAY paydesk"


def begin_totp(ctx: AppContext, actor: Actor) -> tuple[str, str]:
    """Start (or restart) enrollment: a new secret kept as *pending* until a code confirms it.

    Returns (secret, otpauth URI). The live secret, if any, stays in force meanwhile."""
    import pyotp

    if actor.kind != "agent" or actor.id is None:
        raise InvalidInput("only staff accounts have two-factor sign-in")
    secret = pyotp.random_base32()
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, actor.id)
        if agent is None:
            raise NotFound("agent not found")
        sealed = seal_totp_secret(_key(ctx), agent.id, secret)
        agent.preferences = {**(agent.preferences or {}), "totp_pending": sealed}
        email = agent.email
    return secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def _key(ctx: AppContext) -> bytes:
    """AES key for TOTP secrets at rest (derived once per process from the app secret)."""
    key: bytes | None = ctx.extras.get("_totp_key")
    if key is None:
        key = totp_key(ctx.settings.resolved_secret())
        ctx.extras["_totp_key"] = key
    return key


def _open_secret(ctx: AppContext, s: Session, agent: Agent, stored: str) -> str | None:
    """The agent's plaintext TOTP secret (a pre-0014 plaintext value is sealed on the way), or
    None when it does not open with this app secret (audited; recovery codes still work)."""
    try:
        secret = open_totp_secret(_key(ctx), agent.id, stored)
    except ValueError:
        audit.record(
            s, system_actor(agent.workspace_id), "auth.totp_secret_unreadable",
            object_type="agent", object_id=agent.id,
        )  # fmt: skip
        return None
    if not is_sealed(stored) and stored == agent.totp_secret:
        agent.totp_secret = seal_totp_secret(_key(ctx), agent.id, secret)
    return secret


RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


def _totp_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The 30-second step (now −1, 0, +1: clock drift) whose code equals `code`, or None."""
    import time

    import pyotp

    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time() if at is None else at) // totp.interval
    for step in (now, now - 1, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(s: Session, agent_id: int, step: int) -> bool:
    """Record `step` as the agent's last accepted step unless it (or a later one) was used:
    one conditional UPDATE, so two requests racing with the same code cannot both win."""
    res = s.execute(
        update(TotpStep)
        .where(TotpStep.agent_id == agent_id, TotpStep.last_step < step)
        .values(last_step=step)
    )
    if res.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if s.get(TotpStep, agent_id) is not None:
        return False  # replay: this step or a later one was already accepted
    try:
        with s.begin_nested():
            s.add(TotpStep(agent_id=agent_id, last_step=step))
    except IntegrityError:
        return False  # a concurrent request inserted it first
    return True


def _normalise_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _recovery_hash(salt: str, code: str) -> str:
    return hashlib.sha256((salt + _normalise_recovery(code)).encode()).hexdigest()


def _new_recovery_codes(s: Session, actor: Actor, agent_id: int) -> list[str]:
    """Replace the agent's recovery codes with 10 new ones (audited); returns them (shown
    once)."""
    s.execute(delete(RecoveryCode).where(RecoveryCode.agent_id == agent_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # ~50 bits
        code = f"{raw[:5]}-{raw[5:]}"
        salt = secrets.token_hex(16)
        s.add(RecoveryCode(agent_id=agent_id, salt=salt, code_hash=_recovery_hash(salt, code)))
        codes.append(code)
    audit.record(
        s,
        actor,
        "auth.recovery_codes_generated",
        object_type="agent",
        object_id=agent_id,
        details={"count": len(codes)},
    )
    return codes


def _use_recovery_code(s: Session, agent_id: int, code: str) -> bool:
    norm = _normalise_recovery(code)
    if len(norm) != 10:
        return False
    rows = s.scalars(
        select(RecoveryCode).where(
            RecoveryCode.agent_id == agent_id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    for row in rows:
        if hmac.compare_digest(row.code_hash, _recovery_hash(row.salt, norm)):
            # single use, race-free: only the request that flips used_at wins
            res = s.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
            )
            return res.rowcount == 1  # type: ignore[attr-defined]
    return False


def _recovery_left(s: Session, agent_id: int) -> int:
    return len(
        s.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.agent_id == agent_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def _second_factor(ctx: AppContext, s: Session, actor: Actor, agent: Agent, code: str) -> str:
    """Check a TOTP code (once per time-step) or an unused recovery code; audits the decision.
    Returns "totp" or "recovery"; raises Unauthenticated otherwise, SecondFactorLocked (429)
    when the account has used up its attempts (`services/totp_throttle.py`: counted per account
    across sessions and processes *before* the code is looked at)."""
    stored = agent.totp_secret
    if not stored:
        raise InvalidInput("two-factor sign-in is not on", field="code")
    throttle = get_throttle(ctx)
    try:
        attempt = throttle.reserve(s, agent.id)
    except SecondFactorLocked as exc:
        audit.record(
            s, actor, "auth.second_factor_throttled", object_type="agent", object_id=agent.id,
            details={"retry_after": exc.retry_after},
        )  # fmt: skip
        raise
    secret = _open_secret(ctx, s, agent, stored)
    step = _totp_step(secret, code) if secret else None
    if step is not None:
        if _claim_step(s, agent.id, step):
            throttle.succeeded(s, agent.id)
            return "totp"
        audit.record(s, actor, "auth.totp_replay_refused", object_type="agent", object_id=agent.id)
        _failed(s, actor, agent.id, attempt.number, attempt.lock_seconds)
        raise Unauthenticated("this code was already used; wait for the next one")
    if _use_recovery_code(s, agent.id, code):
        throttle.succeeded(s, agent.id)
        audit.record(
            s,
            actor,
            "auth.recovery_code_used",
            object_type="agent",
            object_id=agent.id,
            details={"left": _recovery_left(s, agent.id)},
        )
        return "recovery"
    _failed(s, actor, agent.id, attempt.number, attempt.lock_seconds)
    raise Unauthenticated("wrong code")


def _failed(s: Session, actor: Actor, agent_id: int, number: int, lock: int) -> None:
    audit.record(
        s, actor, "auth.second_factor_failed", object_type="agent", object_id=agent_id,
        details={"attempts": number},
    )  # fmt: skip
    if lock:
        audit.record(
            s, actor, "auth.second_factor_locked", object_type="agent", object_id=agent_id,
            details={"attempts": number, "seconds": lock},
        )  # fmt: skip


def check_second_factor(ctx: AppContext, agent_id: int, code: str) -> str:
    """The sign-in second step: a current TOTP code not used before, or a recovery code.

    Returns "totp" or "recovery"; raises Unauthenticated (wrong/replayed code). The refusal of
    a replayed code and every recovery-code use are audited (committed even on refusal)."""
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, agent_id)
        if agent is None:
            raise Unauthenticated("wrong code")
        actor = agent_actor(uow.session, agent)
        try:
            return _second_factor(ctx, uow.session, actor, agent, code)
        except (Unauthenticated, RateLimited):
            uow.session.commit()  # keep the attempt count and the audit event of the refusal
            raise


def confirm_totp(ctx: AppContext, actor: Actor, code: str) -> list[str]:
    """Turn two-factor on once a code from the pending secret verifies (audited).

    Returns the 10 recovery codes — the only time they are shown; only salted hashes stay."""
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, actor.id) if actor.kind == "agent" else None
        pending = (agent.preferences or {}).get("totp_pending") if agent else None
        if agent is None or not pending:
            raise InvalidInput("start the enrollment first", field="code")
        try:
            pending = open_totp_secret(_key(ctx), agent.id, pending)
        except ValueError:
            raise InvalidInput("start the enrollment again", field="code") from None
        step = _totp_step(pending, code)
        if step is None:
            raise InvalidInput("that code is not right; check the time on your phone", field="code")
        agent.totp_secret = seal_totp_secret(_key(ctx), agent.id, pending)
        agent.preferences = {k: v for k, v in agent.preferences.items() if k != "totp_pending"}
        uow.session.flush()
        uow.session.execute(delete(TotpStep).where(TotpStep.agent_id == agent.id))
        uow.session.add(TotpStep(agent_id=agent.id, last_step=step))  # the code is spent
        audit.record(
            uow.session, actor, "auth.totp_enabled", object_type="agent", object_id=agent.id
        )
        codes = _new_recovery_codes(uow.session, actor, agent.id)
    return codes


def regenerate_recovery_codes(ctx: AppContext, actor: Actor, code: str) -> list[str]:
    """New set of 10 recovery codes (the old ones stop working); needs a current second
    factor (TOTP code or an unused recovery code). Audited."""
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, actor.id) if actor.kind == "agent" else None
        if agent is None or not agent.totp_secret:
            raise InvalidInput("two-factor sign-in is not on", field="code")
        try:
            _second_factor(ctx, uow.session, actor, agent, code)
        except RateLimited:
            uow.session.commit()
            raise
        except Unauthenticated as exc:
            uow.session.commit()
            raise InvalidInput(exc.message, field="code") from None
        codes = _new_recovery_codes(uow.session, actor, agent.id)
    return codes


def recovery_codes_left(ctx: AppContext, actor: Actor) -> int:
    if actor.kind != "agent" or actor.id is None:
        return 0
    with ctx.read() as s:
        return _recovery_left(s, actor.id)


def disable_totp(ctx: AppContext, actor: Actor, password: str, code: str) -> None:
    """Turn two-factor off: needs the password *and* a current code or a recovery code
    (audited); the recovery codes go with it."""
    with ctx.uow() as uow:
        agent = uow.session.get(Agent, actor.id) if actor.kind == "agent" else None
        if agent is None or not agent.totp_secret:
            raise InvalidInput("two-factor sign-in is not on", field="code")
        try:
            _hasher.verify(agent.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise Unauthenticated("wrong password") from None
        try:
            _second_factor(ctx, uow.session, actor, agent, code)
        except RateLimited:
            uow.session.commit()
            raise
        except Unauthenticated as exc:
            uow.session.commit()
            raise InvalidInput(
                "that code is not right" if exc.message == "wrong code" else exc.message,
                field="code",
            ) from None
        agent.totp_secret = None
        uow.session.execute(delete(RecoveryCode).where(RecoveryCode.agent_id == agent.id))
        audit.record(
            uow.session, actor, "auth.totp_disabled", object_type="agent", object_id=agent.id
        )


def totp_enabled(ctx: AppContext, actor: Actor) -> bool:
    with ctx.read() as s:
        agent = s.get(Agent, actor.id) if actor.kind == "agent" else None
        return bool(agent and agent.totp_secret)
