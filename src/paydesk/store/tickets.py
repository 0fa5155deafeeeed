"""The ticket aggregate: tickets, tags, conversations, messages, attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_tickets_status_id", "workspace_id", "status", "id"),
        Index("ix_tickets_workspace_id", "workspace_id", "id"),
        Index("ix_tickets_queue_id", "queue_id", "status", "id"),
        Index("ix_tickets_customer", "customer_id", "id"),
        Index("ix_tickets_assignee", "assignee_id", "status", "id"),
        Index("ix_tickets_sla_due", "workspace_id", "sla_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    number: Mapped[int] = mapped_column()
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    category: Mapped[str] = mapped_column(String(24), default="technical")
    type: Mapped[str] = mapped_column(String(16), default="question")
    channel: Mapped[str] = mapped_column(String(16), default="web")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column()
    solved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # SLA clocks (migration 0012_sla; rules in domain/sla.py, written by services/sla.py)
    sla_policy_id: Mapped[int | None] = mapped_column()
    sla_due_at: Mapped[datetime | None] = mapped_column()  # nearest running target
    first_response_due_at: Mapped[datetime | None] = mapped_column()
    next_response_due_at: Mapped[datetime | None] = mapped_column()
    resolution_due_at: Mapped[datetime | None] = mapped_column()  # None while paused/stopped
    resolution_left_seconds: Mapped[int | None] = mapped_column()  # left when paused (< 0 late)
    final_answer_due_at: Mapped[datetime | None] = mapped_column()  # complaints
    final_answer_at: Mapped[datetime | None] = mapped_column()
    holding_reply_at: Mapped[datetime | None] = mapped_column()
    escalation_level: Mapped[int] = mapped_column(default=0, server_default="0")


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)


class Conversation(Base):
    """One channel thread of a ticket (an email thread, a chat session, a call)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    external_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_ticket", "ticket_id", "id"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    author_type: Mapped[str] = mapped_column(String(16))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")  # always redacted
    body_html: Mapped[str | None] = mapped_column(Text)  # sanitised (nh3) and redacted
    internal: Mapped[bool] = mapped_column(default=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
