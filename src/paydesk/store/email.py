"""Email channel tables: every raw message received (with its fate) and the outbound outbox.

`email_raw` is the durable intake log: a row is committed (and the raw bytes fsynced under the
data dir) before the mail is acknowledged, so a parse failure becomes a quarantine entry, never a
loss. `email_outbox` holds fully rendered outgoing MIME so every retry sends identical bytes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class RawStatus:
    RECEIVED = "received"  # stored, not yet processed (a crash here is retried on redelivery)
    PROCESSED = "processed"  # became a ticket message
    IGNORED = "ignored"  # auto-reply, bulk, own address, bounce, duplicate: recorded only
    QUARANTINED = "quarantined"  # could not be processed; `paydesk email replay` retries
    OVERSIZE = "oversize"  # too large to import; the sender got a notice, agents see an entry


class OutboxStatus:
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker; the lease expires at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # permanent error, retries exhausted, or bounced


class EmailRaw(Base):
    __tablename__ = "email_raw"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_email_raw_status", "status", "id"),
        Index("ix_email_raw_mid", "mid_hash"),
        Index("ix_email_raw_ticket", "ticket_id"),
        Index("ix_email_raw_message", "message_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    source: Mapped[str] = mapped_column(String(16))  # cli | imap | lmtp | smtp | replay
    mailbox: Mapped[str] = mapped_column(String(200), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column()
    message_id: Mapped[str | None] = mapped_column(Text)
    mid_hash: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(100))
    from_addr: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500), default="")  # redacted
    status: Mapped[str] = mapped_column(String(16), default=RawStatus.RECEIVED)
    reason: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    message_ref: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # the stored bytes are a redacted rendering, not the original (it held a secret)
    redacted: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class EmailOutbox(Base):
    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_due", "status", "next_attempt_at"),
        Index("ix_email_outbox_to", "to_addr", "kind", "created_at"),
        Index("ix_email_outbox_mid", "mid_hash"),
        Index("ix_email_outbox_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    message_ref: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # reply | ack | notice
    to_addr: Mapped[str] = mapped_column(String(254))
    message_id: Mapped[str] = mapped_column(Text)
    mid_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500), default="")
    mime: Mapped[str] = mapped_column(Text)  # the rendered message, 7-bit clean
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
