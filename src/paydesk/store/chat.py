"""Live chat: chat sessions and the per-conversation event log (sequence numbers).

A chat session is one conversation of a ticket (channel "chat"). Every durable event of the
session (a message, a read marker, an agent joining, the chat ending...) is a `ChatEvent` row
with a per-session sequence number `seq` (1, 2, 3...), so a client that reconnects asks for
"everything after seq N" and gets exactly what it missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class ChatSession(Base):
    __tablename__ = "chat_sessions"
    __table_args__ = (
        UniqueConstraint("public_id"),
        Index("ix_chat_sessions_status", "workspace_id", "status", "id"),
        Index("ix_chat_sessions_agent", "agent_id", "status"),
        Index("ix_chat_sessions_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    # "new" (no message yet) | "bot" | "waiting" | "active" | "offline" | "ended"
    status: Mapped[str] = mapped_column(String(16), default="new")
    visitor_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(40), default="general")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    last_seq: Mapped[int] = mapped_column(default=0)
    visitor_read_seq: Mapped[int] = mapped_column(default=0)
    agent_read_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class ChatEvent(Base):
    """One durable event of a chat session. `client_id` (unique per session) makes a retried
    client send idempotent; `message_id` points at the ticket message a chat message became."""

    __tablename__ = "chat_events"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        UniqueConstraint("session_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    type: Mapped[str] = mapped_column(String(24))
    author_type: Mapped[str] = mapped_column(String(16))  # customer | agent | bot | system
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    client_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
