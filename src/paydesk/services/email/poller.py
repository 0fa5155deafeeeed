"""IMAP polling: every unseen message goes through `ingest_bytes`; it is flagged \\Seen (or
moved) only after its outcome is committed, so a crash means a refetch, and dedupe makes the
refetch harmless. A message that fails is quarantined and flagged too — it never blocks the
messages after it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from paydesk.channels.email.imap import ImapConfig, ImapMailbox
from paydesk.services.context import AppContext
from paydesk.services.email.ingest import IngestOutcome, ingest_bytes

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    outcomes: list[tuple[int, IngestOutcome]] = field(default_factory=list)


def imap_config(ctx: AppContext) -> ImapConfig:
    s = ctx.settings
    if not s.imap_host or not s.imap_username:
        raise ValueError("PAYDESK_IMAP_HOST and PAYDESK_IMAP_USERNAME must be set")
    return ImapConfig(
        host=s.imap_host,
        port=s.imap_port,
        username=s.imap_username,
        password=s.imap_password or "",
        folder=s.imap_folder,
        done_folder=s.imap_done_folder,
        ssl=s.imap_ssl,
    )


def poll_once(ctx: AppContext, box: ImapMailbox) -> PollResult:
    """Ingest every pending message of an open mailbox."""
    result = PollResult()
    label = f"{box.cfg.username}/{box.cfg.folder}"
    for uid, raw in box.fetch(box.pending()):
        outcome = ingest_bytes(ctx, raw, source="imap", mailbox=label)  # committed when it returns
        box.done(uid)
        result.outcomes.append((uid, outcome))
    return result


def poll_forever(
    ctx: AppContext, stop: threading.Event, cfg: ImapConfig | None = None, idle: float = 25.0
) -> None:
    """Poll until `stop` is set; reconnects with a pause after any connection error."""
    cfg = cfg or imap_config(ctx)
    while not stop.is_set():
        try:
            with ImapMailbox(cfg) as box:
                while not stop.is_set():
                    poll_once(ctx, box)
                    box.wait(min(idle, ctx.settings.imap_poll_seconds))
        except Exception:
            log.exception("IMAP polling of %s@%s failed; retrying", cfg.username, cfg.host)
            stop.wait(5.0)
