"""Per-account throttle of second-factor attempts (TOTP and recovery codes), shared by every
session and process: Redis when `PAYDESK_REDIS_URL` is set, the database otherwise.

An attempt is *counted before the code is checked* (so parallel guesses cannot slip past the
limit); the first `free` attempts since the last success go through at once, every one after
that earns a lock that doubles (30 s, 60 s, 120 s … capped at 15 min). While locked no code is
even looked at. A success clears the count. With ~3 codes valid per 10^6 (±1 step) a guesser
gets about 100 tries a day: a chance of ~3·10^-4 per day, against 1 in 3 minutes unthrottled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.domain.errors import RateLimited
from paydesk.store.base import utcnow
from paydesk.store.totp import TotpStep

FREE_ATTEMPTS = 5
BASE_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 900
QUIET_RESET_SECONDS = 86_400  # Redis: a count with no attempt for a day starts again


class SecondFactorLocked(RateLimited):
    """Too many second-factor attempts for this account; `retry_after` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    number: int  # attempts since the last success, this one included
    lock_seconds: int  # the lock this attempt started (0: none)


class Throttle(Protocol):
    def reserve(self, s: Session, agent_id: int) -> Attempt:
        """Count one attempt or raise SecondFactorLocked (nothing counted then)."""
        ...

    def succeeded(self, s: Session, agent_id: int) -> None: ...


def lock_seconds(number: int, free: int, base: int, cap: int) -> int:
    if number < free:
        return 0
    return int(min(cap, base * 2 ** min(number - free, 30)))


@dataclass
class DbThrottle:
    """Counter and lock in `staff_totp_steps` (one row per agent): a conditional UPDATE takes
    the row lock, so concurrent attempts on PostgreSQL queue behind it and see its lock; SQLite
    has one writer at a time anyway."""

    free: int = FREE_ATTEMPTS
    base_seconds: int = BASE_LOCK_SECONDS
    max_seconds: int = MAX_LOCK_SECONDS

    def reserve(self, s: Session, agent_id: int) -> Attempt:
        now = utcnow()
        _ensure_row(s, agent_id)
        res = s.execute(
            update(TotpStep)
            .where(
                TotpStep.agent_id == agent_id,
                (TotpStep.blocked_until.is_(None)) | (TotpStep.blocked_until <= now),
            )
            .values(attempts=TotpStep.attempts + 1)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            until = s.scalar(select(TotpStep.blocked_until).where(TotpStep.agent_id == agent_id))
            left = (until - now).total_seconds() if until is not None else 1.0
            raise SecondFactorLocked(max(1, math.ceil(left)))
        number = int(s.scalar(select(TotpStep.attempts).where(TotpStep.agent_id == agent_id)) or 0)
        lock = lock_seconds(number, self.free, self.base_seconds, self.max_seconds)
        if lock:
            s.execute(
                update(TotpStep)
                .where(TotpStep.agent_id == agent_id)
                .values(blocked_until=now + timedelta(seconds=lock))
            )
        return Attempt(number, lock)

    def succeeded(self, s: Session, agent_id: int) -> None:
        s.execute(
            update(TotpStep)
            .where(TotpStep.agent_id == agent_id)
            .values(attempts=0, blocked_until=None)
        )


def _ensure_row(s: Session, agent_id: int) -> None:
    if s.get(TotpStep, agent_id) is not None:
        return
    try:
        with s.begin_nested():
            s.add(TotpStep(agent_id=agent_id, last_step=0, attempts=0))
    except IntegrityError:
        pass  # a concurrent request inserted it


# KEYS: count, lock. ARGV: now (ms), free, base (s), cap (s), quiet (s). One atomic step:
# refuse while locked, else count and (past `free`) start the next lock.
_RESERVE_LUA = """
local now = tonumber(ARGV[1])
local until_ms = tonumber(redis.call('GET', KEYS[2]) or '0')
if until_ms > now then return {-1, until_ms - now} end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
local free = tonumber(ARGV[2])
if n < free then return {n, 0} end
local lock = tonumber(ARGV[3]) * 2 ^ math.min(n - free, 30)
lock = math.min(lock, tonumber(ARGV[4]))
redis.call('SET', KEYS[2], tostring(now + lock * 1000), 'PX', math.floor(lock * 1000))
return {n, lock}
"""


class RedisThrottle:
    """Same policy with the counter and lock in Redis (every process sees them at once). If
    Redis cannot be reached the database throttle takes over: attempts stay limited."""

    def __init__(
        self,
        url: str,
        prefix: str = "paydesk:",
        *,
        free: int = FREE_ATTEMPTS,
        base_seconds: int = BASE_LOCK_SECONDS,
        max_seconds: int = MAX_LOCK_SECONDS,
    ) -> None:
        import redis

        self._r: Any = redis.Redis.from_url(url, socket_timeout=2)
        self._script = self._r.register_script(_RESERVE_LUA)
        self.prefix = f"{prefix}2fa:"
        self.free, self.base_seconds, self.max_seconds = free, base_seconds, max_seconds
        self.fallback = DbThrottle(free, base_seconds, max_seconds)

    def _keys(self, agent_id: int) -> list[str]:
        return [f"{self.prefix}{agent_id}:count", f"{self.prefix}{agent_id}:lock"]

    def reserve(self, s: Session, agent_id: int) -> Attempt:
        import redis

        try:
            number, extra = self._script(
                keys=self._keys(agent_id),
                args=[
                    int(time.time() * 1000),
                    self.free,
                    self.base_seconds,
                    self.max_seconds,
                    QUIET_RESET_SECONDS,
                ],
            )
        except redis.RedisError:
            return self.fallback.reserve(s, agent_id)
        if int(number) < 0:
            raise SecondFactorLocked(max(1, math.ceil(int(extra) / 1000)))
        return Attempt(int(number), int(extra))

    def succeeded(self, s: Session, agent_id: int) -> None:
        import redis

        try:
            self._r.delete(*self._keys(agent_id))
        except redis.RedisError:
            pass
        self.fallback.succeeded(s, agent_id)


def get_throttle(ctx: Any) -> Throttle:
    """The process's throttle (in `ctx.extras`, so tests and deployments can set their own)."""
    throttle: Throttle | None = ctx.extras.get("totp_throttle")
    if throttle is None:
        url = ctx.settings.redis_url
        throttle = RedisThrottle(url, ctx.settings.redis_prefix) if url else DbThrottle()
        ctx.extras["totp_throttle"] = throttle
    return throttle
