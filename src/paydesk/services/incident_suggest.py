""" "Many similar technical tickets just arrived — is this an outage?" A cheap check run when the
incidents page (or the API) is loaded, never on the intake hot path.

It reads the recent (`incident_suggest_window_minutes`) unsolved technical tickets that are not
linked to an incident — at most `SCAN_LIMIT`, visible to the reader — and groups them by the
keywords of their already tokenised `search_text` (jieba segments for Chinese, words for
English; stop words and support small talk removed): a keyword shared by at least
`incident_suggest_min_tickets` tickets makes a group, the largest first, each ticket in one
group. An open incident whose title or service contains the keyword is offered for linking.
"""

from __future__ import annotations

import re
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


def group_similar(
    docs: list[tuple[int, str]], min_size: int, max_groups: int = MAX_GROUPS
) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """Pure: (id, tokenised text) → [(keyword, shared terms, ids)], largest group first; each id
    in one group. A keyword must appear in `min_size` documents not already grouped."""
    words = {i: _words(t) for i, t in docs}
    df = Counter(w for ws in words.values() for w in ws)
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
    for keyword, terms, ids in group_similar([(r[0], r[2]) for r in rows], min_size):
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
