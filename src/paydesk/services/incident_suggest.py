""" "Many similar technical tickets just arrived — is this an outage?" A cheap check run when the
incidents page (or the API) is loaded, never on the intake hot path.

It reads the recent (`incident_suggest_window_minutes`) unsolved technical tickets that are not
linked to an incident — at most `SCAN_LIMIT`, visible to the reader — and groups them by the
keywords of their already tokenised `search_text` (jieba segments for Chinese, words for
English; stop words and support small talk removed): a keyword shared by at least
`incident_suggest_min_tickets` tickets makes a group, the largest first, each ticket in one
group. Words that are merely common ("morning", "transfer") do not make a group: when the week
before holds enough technical tickets (`BASELINE_MIN`), a keyword must be `BURST_RATIO` times
more frequent in the window than there. An open incident sharing the group's words is offered
for linking.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select

from paydesk.assistant.search import stopwords
from paydesk.domain.text import tokens
from paydesk.domain.tickets import Category, Status
from paydesk.services.access import visible_tickets
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.store.base import utcnow
from paydesk.store.incidents import Incident, IncidentTicket
from paydesk.store.tickets import Ticket

SCAN_LIMIT = 500
BASELINE_DAYS = 7
BASELINE_LIMIT = 2000
BASELINE_MIN = 20  # fewer earlier tickets than this: no baseline, every word may group
BURST_RATIO = 3.0
BASELINE_TTL_SECONDS = 300.0  # the week before the window changes slowly
MAX_GROUPS = 5
# words every support message has; they say nothing about what is broken
SUPPORT_WORDS = frozenset(
    """hi hello dear please help thanks thank support team issue problem problems
    question app topay account use using used get got today now still can cannot can't
    work working works doesn't don't does did will would could just also
    您好 你好 请 请问 谢谢 问题 帮忙 帮助 一下 客服 怎么 怎么办
    无法 不能 没有 可以 一直 现在 今天""".split()
)
_NUMERIC = re.compile(r"^[\d.,:/-]+$")


@dataclass(frozen=True, slots=True)
class Suggestion:
    keyword: str
    terms: tuple[str, ...]  # the keyword and the words most of the group share
    ticket_ids: tuple[int, ...]
    subjects: tuple[str, ...]  # a few examples
    first_at: datetime
    last_at: datetime
    incident_id: int | None  # an open incident that seems to be about this
    incident_title: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "keyword": self.keyword,
            "terms": list(self.terms),
            "count": len(self.ticket_ids),
            "ticket_ids": list(self.ticket_ids),
            "subjects": list(self.subjects),
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "incident_id": self.incident_id,
            "incident_title": self.incident_title,
        }


def _words(text: str) -> set[str]:
    stop = stopwords()
    return {
        w
        for w in text.split()
        if w not in stop
        and w not in SUPPORT_WORDS
        and not _NUMERIC.match(w)
        and (len(w) >= 3 or (len(w) >= 2 and not w.isascii()))
    }


def baseline_counts(baseline: list[str]) -> tuple[int, Counter[str]]:
    return len(baseline), Counter(w for t in baseline for w in _words(t))


def bursting(window: list[str], baseline: list[str] | tuple[int, Counter[str]]) -> set[str] | None:
    """Pure: the words of `window` at least `BURST_RATIO` times more frequent (share of documents)
    than in `baseline` (texts, or their `baseline_counts`); None when the baseline is too small
    to judge."""
    n_b, df_b = baseline_counts(baseline) if isinstance(baseline, list) else baseline
    if n_b < BASELINE_MIN or not window:
        return None
    df_w = Counter(w for t in window for w in _words(t))
    n_w = len(window)
    return {w for w, n in df_w.items() if (n / n_w) >= BURST_RATIO * (df_b[w] + 1) / (n_b + 2)}


def group_similar(
    docs: list[tuple[int, str]],
    min_size: int,
    max_groups: int = MAX_GROUPS,
    allowed: set[str] | None = None,
) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """Pure: (id, tokenised text) → [(keyword, shared terms, ids)], largest group first; each id
    in one group. A keyword must appear in `min_size` documents not already grouped (and be in
    `allowed` when given)."""
    words = {i: _words(t) for i, t in docs}
    df = Counter(w for ws in words.values() for w in ws if allowed is None or w in allowed)
    taken: set[int] = set()
    out: list[tuple[str, tuple[str, ...], list[int]]] = []
    for word, n in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < min_size or len(out) >= max_groups:
            break
        members = [i for i, _ in docs if i not in taken and word in words[i]]
        if len(members) < min_size:
            continue
        shared = Counter(w for i in members for w in words[i] if w != word)
        terms = [w for w, c in shared.most_common(3) if c * 10 >= len(members) * 6]
        out.append((word, (word, *terms), members))
        taken.update(members)
    return out


def _baseline(
    ctx: AppContext, s: Any, workspace_id: int, since: datetime
) -> tuple[int, Counter[str]]:
    """Word counts of the week's technical tickets before the window — workspace-wide statistics
    (nothing of them is shown), cached per process for `BASELINE_TTL_SECONDS`."""
    cache: dict[int, tuple[float, tuple[int, Counter[str]]]] = ctx.extras.setdefault(
        "incident_baseline", {}
    )
    hit = cache.get(workspace_id)
    if hit is not None and time.monotonic() - hit[0] < BASELINE_TTL_SECONDS:
        return hit[1]
    texts = s.scalars(
        select(Ticket.search_text)
        .where(
            Ticket.workspace_id == workspace_id,
            Ticket.created_at >= since - timedelta(days=BASELINE_DAYS),
            Ticket.created_at < since,
            Ticket.category == Category.TECHNICAL.value,
        )
        .order_by(Ticket.id.desc())
        .limit(BASELINE_LIMIT)
    ).all()
    counts = baseline_counts([str(t)[:4000] for t in texts])
    cache[workspace_id] = (time.monotonic(), counts)
    return counts


def suggestions(ctx: AppContext, actor: Actor, *, now: datetime | None = None) -> list[Suggestion]:
    """Groups of similar recent technical tickets (see the module docstring)."""
    if not actor.is_staff:
        return []
    now = now or utcnow()
    since = now - timedelta(minutes=max(1, ctx.settings.incident_suggest_window_minutes))
    min_size = max(2, ctx.settings.incident_suggest_min_tickets)
    linked = select(IncidentTicket.ticket_id)
    stmt = visible_tickets(
        actor,
        select(Ticket)  # type: ignore[arg-type]
        .where(
            Ticket.created_at >= since,
            Ticket.category == Category.TECHNICAL.value,
            Ticket.status.not_in((Status.SOLVED.value, Status.CLOSED.value)),
            Ticket.id.not_in(linked),
        )
        .order_by(Ticket.id.desc())
        .limit(SCAN_LIMIT),
    )
    with ctx.read() as s:
        found = cast(list[Ticket], list(s.scalars(stmt)))
        rows = [(t.id, t.subject, t.search_text[:4000], t.created_at) for t in found]
        if len(rows) < min_size:
            return []
        baseline = _baseline(ctx, s, actor.workspace_id, since)
        open_incidents = [
            (i.id, i.title, _words(" ".join(tokens(f"{i.title} {i.affected_service}"))))
            for i in s.scalars(
                select(Incident)
                .where(Incident.workspace_id == actor.workspace_id, Incident.status != "resolved")
                .order_by(Incident.id.desc())
                .limit(50)
            )
        ]
    by_id = {r[0]: r for r in rows}
    out = []
    allowed = bursting([r[2] for r in rows], baseline)
    docs = [(r[0], r[2]) for r in rows]
    for keyword, terms, ids in group_similar(docs, min_size, allowed=allowed):
        times = [by_id[i][3] for i in ids]
        match = next((inc for inc in open_incidents if set(terms) & inc[2]), None)
        out.append(
            Suggestion(
                keyword=keyword,
                terms=terms,
                ticket_ids=tuple(sorted(ids)),
                subjects=tuple(by_id[i][1] for i in ids[:3]),
                first_at=min(times),
                last_at=max(times),
                incident_id=match[0] if match else None,
                incident_title=match[1] if match else None,
            )
        )
    return out
