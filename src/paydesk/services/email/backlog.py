"""A large backlog of mail files (`paydesk email ingest FILE…`) on every core.

Intake of one message is CPU-bound Python (parse, decode, redact, segment, classify) around a
short write; one process uses one core. For a backlog, the files are split between worker
processes (forked from the command's process, so they share its imported code, the
segmentation dictionary and the intent model) by *independent groups*: messages that may depend
on each other (same sender, or one naming another's Message-ID) go to the same worker, in input
order, so a reply is still processed after the message it answers and a duplicate is still
recognised. Workers take turns at the database write lock (`store.db.SqliteWriteLock` on SQLite,
row locks on PostgreSQL) and batch their writes with intake's group commit.

Each round of files ends with a barrier: every outcome of a round is known (and printed, in input
order) before the next round starts, so no dependency can cross rounds unordered.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from paydesk.assistant.encoder import encode
from paydesk.domain.text import tokens
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import IngestOutcome, independent_groups, ingest_many

ROUND = 1024  # files per round (memory holds only their headers and outcomes)
MIN_FILES_PER_JOB = 48  # below this a second process costs more than it saves

_worker_ctx: AppContext | None = None


def default_jobs(n_files: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4, n_files // MIN_FILES_PER_JOB))


def _init(ctx: AppContext) -> None:
    global _worker_ctx
    # (the parent's SQLite write-lock descriptors are forgotten at fork: store.db)
    _worker_ctx = ctx


def _work(task: list[tuple[int, str]]) -> list[tuple[int, dict[str, Any] | str]]:
    ctx = _worker_ctx
    assert ctx is not None

    def read() -> Iterator[tuple[str, bytes | Exception]]:
        for _, name in task:
            try:
                yield name, Path(name).read_bytes()
            except OSError as exc:
                yield name, exc

    out: list[tuple[int, dict[str, Any] | str]] = []
    for (i, _), (_, outcome) in zip(task, ingest_many(ctx, read(), source="cli"), strict=True):
        out.append(
            (i, outcome.as_dict() if isinstance(outcome, IngestOutcome) else str(outcome)[:300])
        )
    flush = getattr(ctx.bus, "flush", None)
    if flush is not None:
        flush()  # live-update rows the worker buffered (it exits without atexit handlers)
    return out


def _heads(names: list[str]) -> list[bytes | Exception]:
    """Enough of each file to group it (headers end at the first blank line)."""
    heads: list[bytes | Exception] = []
    for name in names:
        try:
            with open(name, "rb") as f:
                data = f.read(64 * 1024)
            end = data.find(b"\r\n\r\n")
            end = data.find(b"\n\n") if end < 0 else end
            heads.append(data[: end + 2] if end >= 0 else data)
        except OSError as exc:
            heads.append(exc)
    return heads


def _bins(groups: list[list[int]], sizes: list[int], n: int) -> list[list[int]]:
    """Groups packed into n bins of similar total size (largest first, into the lightest bin);
    each bin lists its file indexes in input order."""
    bins: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for g in sorted(groups, key=lambda g: -sum(sizes[i] for i in g)):
        k = load.index(min(load))
        bins[k].extend(g)
        load[k] += sum(sizes[i] for i in g)
    return [sorted(b) for b in bins if b]


def ingest_files(
    factory: Callable[[], AppContext], names: list[str], jobs: int
) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(file, outcome dict or error text) for every file, in input order. `factory` builds the
    workers' context (the database must already be migrated): once, here, with the routing model
    and its sentence encoder loaded (the model trained first if the data dir has none) and no
    connection open, so each worker starts from a copy made by fork instead of building and
    loading its own (~2 s of CPU a worker)."""
    shared = factory()
    holder = shared.extras.get("intent_model")
    if holder is not None:
        holder.get()
        encode(["预热"])  # the sentence encoder the model asks when its cheap head is unsure
    tokens("预热")  # the segmentation dictionary, likewise
    shared.engine.dispose()
    mp = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=mp, initializer=_init, initargs=(shared,)) as pool:
        for start in range(0, len(names), ROUND):
            part = names[start : start + ROUND]
            heads = _heads(part)
            sizes = []
            for name in part:
                try:
                    sizes.append(1024 + os.path.getsize(name) // 16)  # parse cost ~ size
                except OSError:
                    sizes.append(1024)
            groups = independent_groups(heads)
            # a few more tasks than workers: a worker that finishes early takes another
            tasks = [
                [(i, part[i]) for i in b] for b in _bins(groups, sizes, min(len(part), jobs * 3))
            ]
            results: dict[int, dict[str, Any] | str] = {}
            for done in pool.map(_work, tasks):
                results.update(done)
            for i, name in enumerate(part):
                yield name, results[i]
