"""Full-text queries over ticket tokens, one function per dialect, same token stream."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Select, func, literal_column, select, text

from paydesk.domain.text import tokens
from paydesk.store.tickets import Ticket

_SAFE = re.compile(r"[^\w]", re.UNICODE)


def query_tokens(q: str) -> list[str]:
    """Tokens of a search box query, stripped of anything FTS syntax could interpret."""
    out = []
    for t in tokens(q[:500]):
        t = _SAFE.sub("", t)
        if t and t not in out:
            out.append(t)
    return out[:20]


def ticket_match(
    dialect: str, q: str, *, before_id: int | None = None, newest: int | None = None
) -> ColumnElement[bool] | None:
    """A WHERE clause matching tickets whose text contains every query token (prefix match on
    the last one), or None when the query has no searchable token.

    SQLite only: `newest` bounds the match to the newest N matching tickets (below `before_id`),
    which FTS5 reads in rowid order and stops early — a frequent word otherwise materialises
    every match. Callers re-run without it when the bounded page comes back short."""
    toks = query_tokens(q)
    if not toks:
        return None
    if dialect == "postgresql":
        tsq = " & ".join(toks[:-1] + [toks[-1] + ":*"])
        return literal_column("to_tsvector('simple', tickets.search_text)").op("@@")(
            func.to_tsquery("simple", tsq)
        )
    fts = " AND ".join(f'"{t}"' for t in toks[:-1]) + (" AND " if len(toks) > 1 else "")
    fts += f'"{toks[-1]}"*'
    sub: Select[tuple[int]] = (
        select(literal_column("rowid"))
        .select_from(text("ticket_fts"))
        .where(text("ticket_fts MATCH :fts").bindparams(fts=fts))
    )
    if before_id is not None:
        sub = sub.where(literal_column("rowid") < before_id)
    if newest is not None:
        sub = sub.order_by(literal_column("rowid").desc()).limit(newest)
    return Ticket.id.in_(sub)
