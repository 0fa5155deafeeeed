"""A small circuit breaker: after N consecutive failures calls fail fast for a cool-down, then one
trial call decides whether the circuit closes again. Thread-safe (the console runs in threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitOpen(Exception):
    """Raised instead of calling the platform while the circuit is open."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go out now (half-open lets exactly one through)."""
        with self._lock:
            st = self._state()
            if st == "open":
                raise CircuitOpen("the payment platform is unavailable (circuit open)")
            if st == "half-open":
                if self._trial_running:
                    raise CircuitOpen("the payment platform is unavailable (probing)")
                self._trial_running = True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False
