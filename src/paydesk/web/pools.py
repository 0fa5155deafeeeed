"""Thread pools for the blocking calls of async routes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_INTAKE: ThreadPoolExecutor | None = None
_GUARD = threading.Lock()


def intake_pool() -> ThreadPoolExecutor:
    """Threads for calls that end in intake's group commit (chat sends; API tickets with
    attachments or over `intake.INLINE_PREPARE_CHARS`, the others go through
    `intake.receive_async` on the loop). Many concurrent callers let one transaction write all
    of them, instead of queueing behind the loop's small default pool; `loop.run_in_executor` on
    it also costs less per call than anyio's `to_thread` (no cancel scope, no capacity limiter)."""
    global _INTAKE
    if _INTAKE is None:
        with _GUARD:
            if _INTAKE is None:
                _INTAKE = ThreadPoolExecutor(max_workers=64, thread_name_prefix="intake")
    return _INTAKE
