"""Satisfaction surveys: one CSAT survey per resolution of a ticket, and NPS questions.

A survey row is created when a ticket is solved; `round` counts the ticket's resolutions, so a
reopened and re-solved ticket gets a new survey. The rating link carries a signed token whose
random part is stored only as a SHA-256 hash (`token_hash`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class CsatSurvey(Base):
    __tablename__ = "csat_surveys"
    __table_args__ = (
        UniqueConstraint("ticket_id", "round"),
        Index("ix_csat_surveys_created", "workspace_id", "created_at"),
        Index("ix_csat_surveys_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(default=1)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # who and where at the moment of the resolution (reports group by these)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[str] = mapped_column(String(16))  # email | chat | portal
    locale: Mapped[str] = mapped_column(String(10), default="en")
    scale: Mapped[str] = mapped_column(String(8), default="binary")
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rating: Mapped[str | None] = mapped_column(String(8))  # good | bad
    score: Mapped[int | None] = mapped_column()  # 1–5 on the five-point scale
    comment: Mapped[str | None] = mapped_column(Text)  # redacted
    rated_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()


class NpsSurvey(Base):
    __tablename__ = "nps_surveys"
    __table_args__ = (
        Index("ix_nps_surveys_created", "workspace_id", "created_at"),
        Index("ix_nps_surveys_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    score: Mapped[int | None] = mapped_column()  # 0–10
    comment: Mapped[str | None] = mapped_column(Text)  # redacted
    answered_at: Mapped[datetime | None] = mapped_column()
