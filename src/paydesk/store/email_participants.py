"""Email participants of a ticket: the people a customer copied (Cc, extra To) who receive the
agents' replies in Cc. One row per (ticket, address); removing one keeps the row (inactive) so
the console can say who removed whom and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class EmailParticipant(Base):
    __tablename__ = "email_participants"
    __table_args__ = (
        UniqueConstraint("ticket_id", "address"),
        Index("ix_email_participants_address", "address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))  # normalised mailbox, never a display name
    # the known customer this address belongs to (an email identity), else None: a stranger
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="cc")  # cc | to | agent
    added_from_message: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    added_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
