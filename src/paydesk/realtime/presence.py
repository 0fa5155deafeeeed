"""Agent presence for live chat: who is online/away/offline, with a TTL refreshed by heartbeats.

In-process (embedded) or in a Redis hash (scale-out), so every app process sees the same agents.
An entry whose `expires` has passed counts as offline (a crashed process cannot leave a ghost
agent "online" for more than the TTL).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import orjson

TTL_SECONDS = 60.0


class PresenceStore(Protocol):
    def set(self, workspace_id: int, agent_id: int, info: dict[str, Any]) -> None: ...

    def remove(self, workspace_id: int, agent_id: int) -> None: ...

    def all(self, workspace_id: int) -> dict[int, dict[str, Any]]: ...


class MemoryPresence:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[int, dict[int, dict[str, Any]]] = {}

    def set(self, workspace_id: int, agent_id: int, info: dict[str, Any]) -> None:
        with self._lock:
            self._data.setdefault(workspace_id, {})[agent_id] = {
                **info,
                "expires": time.time() + self.ttl,
            }

    def remove(self, workspace_id: int, agent_id: int) -> None:
        with self._lock:
            self._data.get(workspace_id, {}).pop(agent_id, None)

    def all(self, workspace_id: int) -> dict[int, dict[str, Any]]:
        now = time.time()
        with self._lock:
            items = dict(self._data.get(workspace_id, {}))
        return {k: v for k, v in items.items() if v["expires"] > now}


class RedisPresence:
    def __init__(self, url: str, prefix: str = "paydesk:", ttl: float = TTL_SECONDS) -> None:
        import redis

        self._r = redis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl = ttl

    def _key(self, workspace_id: int) -> str:
        return f"{self.prefix}presence:{workspace_id}"

    def set(self, workspace_id: int, agent_id: int, info: dict[str, Any]) -> None:
        value = orjson.dumps({**info, "expires": time.time() + self.ttl})
        self._r.hset(self._key(workspace_id), str(agent_id), value)

    def remove(self, workspace_id: int, agent_id: int) -> None:
        self._r.hdel(self._key(workspace_id), str(agent_id))

    def all(self, workspace_id: int) -> dict[int, dict[str, Any]]:
        now = time.time()
        out: dict[int, dict[str, Any]] = {}
        raw: dict[bytes, bytes] = self._r.hgetall(self._key(workspace_id))  # type: ignore[assignment]
        for k, v in raw.items():
            info = orjson.loads(v)
            if info.get("expires", 0) > now:
                out[int(k)] = info
        return out


def make_presence(redis_url: str | None, prefix: str = "paydesk:") -> PresenceStore:
    return RedisPresence(redis_url, prefix) if redis_url else MemoryPresence()
