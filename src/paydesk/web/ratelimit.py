"""Rate limits for public endpoints: fixed windows, in memory (embedded) or in Redis (scale-out).

limiter = get_limiter(ctx)
limiter.hit(f"assistant:{client_ip}", limit=30, window_seconds=60)  # raises RateLimited
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import Request

from paydesk.domain.errors import RateLimited


class MemoryLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def hit(self, key: str, *, limit: int, window_seconds: int) -> None:
        now = time.monotonic()
        with self._lock:
            count, reset = self._counts.get(key, (0, now + window_seconds))
            if now >= reset:
                count, reset = 0, now + window_seconds
            count += 1
            self._counts[key] = (count, reset)
            if len(self._counts) > 100_000:  # bounded memory: drop expired windows
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        if count > limit:
            raise RateLimited(f"too many requests; try again in {int(reset - now) + 1} s")


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "paydesk:rl:") -> None:
        import redis

        self._r = redis.Redis.from_url(url)
        self.prefix = prefix

    def hit(self, key: str, *, limit: int, window_seconds: int) -> None:
        window = int(time.time() // window_seconds)
        k = f"{self.prefix}{key}:{window}"
        try:
            pipe = self._r.pipeline()
            pipe.incr(k)
            pipe.expire(k, window_seconds + 1)
            count = int(pipe.execute()[0])
        except Exception:  # Redis unavailable: fail open rather than take the desk down
            return
        if count > limit:
            raise RateLimited("too many requests; try again shortly")


def get_limiter(ctx: Any) -> MemoryLimiter | RedisLimiter:
    lim = ctx.extras.get("_limiter")
    if lim is None:
        url = ctx.settings.redis_url
        lim = RedisLimiter(url) if url else MemoryLimiter()
        ctx.extras["_limiter"] = lim
    return lim  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
