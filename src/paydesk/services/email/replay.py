"""Replay quarantined mail (after a fix, or once a transient cause is gone)."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.services.context import AppContext
from paydesk.services.email.ingest import IngestOutcome, process
from paydesk.store.email import EmailRaw, RawStatus

REPLAYABLE = (RawStatus.QUARANTINED, RawStatus.RECEIVED)


def replay(ctx: AppContext, raw_ids: list[int] | None = None) -> list[tuple[int, IngestOutcome]]:
    """Process again the given raw messages (default: every quarantined one), oldest first.
    Rows that are not quarantined (or stuck in `received`) are reported and left alone."""
    with ctx.read() as s:
        stmt = select(EmailRaw.id, EmailRaw.status).order_by(EmailRaw.id)
        if raw_ids:
            stmt = stmt.where(EmailRaw.id.in_(raw_ids))
        else:
            stmt = stmt.where(EmailRaw.status == RawStatus.QUARANTINED)
        rows = list(s.execute(stmt))
    out: list[tuple[int, IngestOutcome]] = []
    found = {r.id for r in rows}
    for rid in raw_ids or []:
        if rid not in found:
            out.append((rid, IngestOutcome("ignored", None, "no such raw message", rid)))
    for r in rows:
        if r.status not in REPLAYABLE:
            out.append(
                (r.id, IngestOutcome("ignored", None, f"not quarantined ({r.status})", r.id))
            )
            continue
        out.append((r.id, process(ctx, r.id)))
    return out
