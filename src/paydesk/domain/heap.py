"""Long-lived data out of the cyclic garbage collector's way (servers).

A full (generation-2) collection walks every tracked container. A server holding the
segmentation dictionary (one dict of ~600k words), the intent model and the KB index paused
110–240 ms at each one, several times a minute under load: that pause was the p99 of every
endpoint, the trivial one included. `settle()` collects once and moves what is alive into the
permanent generation (`gc.freeze`), after a server has loaded that data; `replaced()` is called
when such data is swapped for a new copy (a KB rebuild, a retrained model): in a settled process
it lets the collector see everything again so the old copy is freed, then settles the new one
(one full collection, on the rebuilding thread). Processes that never settle (CLI, tests) are
unaffected.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_settled = False
# A server allocates fast (hundreds of requests or chat messages a second): with the default
# young-generation threshold of 700, objects that live a few milliseconds (a request in flight)
# survive young collections, are promoted, and soon force a full collection of the whole heap
# (thousands of open sockets: 0.5 s and more). Fewer, larger young collections let them die young.
YOUNG_THRESHOLD = 20_000


def settle() -> None:
    global _settled
    with _lock:
        _settled = True
        gc.collect()
        gc.freeze()
        young, *older = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)


def loaded_for_good() -> None:
    """Data that stays for the life of the process was just loaded lazily (the segmentation
    dictionary on the first Chinese text): a settled process freezes it too."""
    if _settled:
        with _lock:
            gc.freeze()


def replaced() -> bool:
    """True when it ran a full collection (a settled process)."""
    if not _settled:
        return False
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    return True
