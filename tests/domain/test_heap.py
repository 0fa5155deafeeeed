"""domain/heap.py in a fresh interpreter (freezing would leak into this test process)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import gc, weakref
from paydesk.domain import heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

assert heap.replaced() is False  # never settled: does nothing
heap.loaded_for_good()
assert gc.get_freeze_count() == 0

old = cycle()
gone = weakref.ref(old)
young, *older = gc.get_threshold()
heap.settle()
assert gc.get_freeze_count() > 0
# a settled server collects its young generation less often (objects of requests in flight die
# young instead of being promoted); the older generations keep their thresholds
assert gc.get_threshold() == (max(young, heap.YOUNG_THRESHOLD), *older)
frozen_at_settle = gc.get_freeze_count()

del old  # a frozen cycle is out of the collector's reach ...
gc.collect()
assert gone() is not None

later = [cycle() for _ in range(100)]  # loaded lazily, for the life of the process
heap.loaded_for_good()
assert gc.get_freeze_count() >= frozen_at_settle + 200

new = cycle()
assert heap.replaced() is True  # ... until the data it belonged to is replaced
assert gone() is None
assert gc.get_freeze_count() > 0 and new.other.other is new
print("ok", frozen_at_settle)
"""


def test_settled_data_is_frozen_and_freed_when_replaced() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
