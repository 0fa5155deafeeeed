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

In one process (`ingest_many`, what each worker runs) a backlog goes in chunks of 64 files: their
raw bytes are written and fsynced together, then the chunk goes through intake in *waves* — the
k-th message of every independent group — each wave one duplicate lookup and one intake write
transaction (`ingest.ingest_wave`, `intake.receive_many`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from paydesk.channels.email.charsets import decode_header_value
from paydesk.domain.text import tokens
from paydesk.services import files
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import IngestOutcome, ingest_wave

ROUND = 1024  # files per round (memory holds only their headers and outcomes)
MIN_FILES_PER_JOB = 48  # below this a second process costs more than it saves

_worker_ctx: AppContext | None = None


def default_jobs(n_files: int, *, single_writer: bool = False) -> int:
    """Worker processes for a backlog. On SQLite (one writer at a time) one process: ingest
    writes whole waves of independent messages per transaction, so a second process only waits
    for the write lock (1,000-message bench on an idle 2-core machine: 195 messages/s with one
    process, 177 with two)."""
    if single_writer:
        return 1
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
        from paydesk.assistant.encoder import encode  # (numpy: imported only for workers)

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


# ---- one process: a backlog in chunks and waves ----------------------------------------------


def ingest_many(
    ctx: AppContext, items: Iterable[tuple[str, bytes | Exception]], *, source: str, chunk: int = 64
) -> Iterator[tuple[str, IngestOutcome | Exception]]:
    """A backlog, in order (`paydesk email ingest FILE…`): each chunk's raw bytes are written
    and fsynced together (concurrent fsyncs share journal commits) before any of them is
    processed, so every message is still durable before its outcome is reported."""
    batch: list[tuple[str, bytes | Exception]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= chunk:
            yield from _ingest_chunk(ctx, batch, source)
            batch = []
    if batch:
        yield from _ingest_chunk(ctx, batch, source)


def _ingest_chunk(
    ctx: AppContext, batch: list[tuple[str, bytes | Exception]], source: str
) -> Iterator[tuple[str, IngestOutcome | Exception]]:
    raws = [data for _, data in batch if isinstance(data, bytes)]
    try:
        stored = iter(files.store_many(ctx.settings.data_dir, "mail", raws))
    except OSError as exc:
        for name, _ in batch:
            yield name, exc
        return
    keys: list[tuple[str, str] | None] = [
        next(stored) if isinstance(data, bytes) else None for _, data in batch
    ]
    outcomes: list[IngestOutcome | Exception | None] = [None] * len(batch)
    groups = independent_groups([data for _, data in batch])
    # wave k: the k-th message of every group. The messages of a wave do not depend on each
    # other, and each comes after the message before it in its group is committed (a reply after
    # the message it answers, a duplicate after its original)
    for k in range(max(len(g) for g in groups)):
        wave = []
        for g in groups:
            if k < len(g):
                data = batch[g[k]][1]
                if isinstance(data, Exception):
                    outcomes[g[k]] = data
                else:
                    wave.append(g[k])
        if not wave:
            continue
        try:
            todo = [(data, keys[i]) for i in wave if isinstance(data := batch[i][1], bytes)]
            done = ingest_wave(ctx, todo, source=source)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: every one reported
            done = [exc] * len(wave)
        for i, out in zip(wave, done, strict=True):
            outcomes[i] = out
    for (name, _), outcome in zip(batch, outcomes, strict=True):
        assert outcome is not None
        yield name, outcome


_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
# the fields that tie messages together, unfolded from the raw header block (bytes)
_LINK_FIELD = re.compile(
    rb"^(from|message-id|in-reply-to|references)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M
)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def link_fields(raw: bytes, limit: int = 65536) -> dict[str, str]:
    """From, Message-ID, In-Reply-To and References of a message (the first of each), read from
    its header block with one regular expression: grouping a backlog needs only these, and the
    stdlib parser with the modern policy costs ~1 ms per message for them."""
    head = raw[:limit]
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    out: dict[str, str] = {}
    for m in _LINK_FIELD.finditer(head):
        name = m.group(1).decode("ascii").lower()
        if name not in out:
            value = m.group(2).decode("utf-8", "replace")
            out[name] = " ".join(value.split())
    if "=?" in out.get("from", ""):  # an encoded display name (the address is never encoded)
        out["from"] = decode_header_value(out["from"])
    return out


def independent_groups(items: list[bytes | Exception]) -> list[list[int]]:
    """Indexes of a chunk's messages, grouped so that messages that may depend on each other —
    the same sender, or one naming another's Message-ID (In-Reply-To, References) — stay in one
    group, in their order. Different groups share nothing and can be processed at once."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, data in enumerate(items):
        if not isinstance(data, bytes):
            continue
        h = link_fields(data)
        links = {"from:" + parseaddr(h.get("from", ""))[1].lower()}
        refs = " ".join(h.get(k, "") for k in ("message-id", "in-reply-to", "references"))
        links.update("id:" + m.lower() for m in _MSG_ID.findall(refs))
        for link in links:
            j = owner.setdefault(link, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())
