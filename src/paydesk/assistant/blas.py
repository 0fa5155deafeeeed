"""One BLAS thread for small matrix products (a query, a message or a few).

On products that small, BLAS threads only wait for each other: the KB search and the intent
model's neighbour vote limit BLAS to one thread around them. threadpoolctl loads on first use
(importing it and scanning the loaded libraries costs time that every CLI command and worker
would otherwise pay at start-up), and one controller serves the whole process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread() -> Any:
    """A context manager: BLAS runs on one thread inside it."""
    return _controller().limit(limits=1, user_api="blas")
