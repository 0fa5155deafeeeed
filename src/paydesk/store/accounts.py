"""paydesk's own records around the platform: identity verifications (one-time codes), refund
requests with maker-checker approval, disputes/chargebacks and ticket ↔ transaction links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class Verification(Base):
    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16), default="registered")  # registered | new
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    destination: Mapped[str] = mapped_column(String(254))
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(secret, id:code)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    consumed_at: Mapped[datetime | None] = mapped_column()
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundRequest(Base):
    __tablename__ = "refund_requests"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_refund_requests_ticket", "ticket_id"),
        Index("ix_refund_requests_customer", "customer_id", "created_at"),
        Index("ix_refund_requests_status", "workspace_id", "status"),
        Index("ix_refund_requests_due", "status", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[str] = mapped_column(String(40))
    transaction_id: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(1000))
    # pending_approval → approved → executing → submitted → succeeded | failed;
    # pending_approval → rejected; executing → stuck (retries exhausted, a supervisor decides)
    status: Mapped[str] = mapped_column(String(20))
    requires_approval: Mapped[bool] = mapped_column(default=False)
    requested_by_type: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[int | None] = mapped_column()
    requested_by_name: Mapped[str] = mapped_column(String(200), default="")
    decided_by_id: Mapped[int | None] = mapped_column()
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_note: Mapped[str | None] = mapped_column(String(1000))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    platform_refund_id: Mapped[str | None] = mapped_column(String(40))
    platform_status: Mapped[str | None] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[datetime | None] = mapped_column()  # refund job: next platform poll
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dispute(Base):
    """A dispute (customer contests a charge with us) or chargeback (raised through the card
    network): a case with its own response deadline."""

    __tablename__ = "disputes"
    __table_args__ = (
        Index("ix_disputes_ticket", "ticket_id"),
        Index("ix_disputes_open", "workspace_id", "status", "respond_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    transaction_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # dispute | chargeback
    reason: Mapped[str] = mapped_column(String(1000))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|responded|won|lost
    respond_by: Mapped[datetime] = mapped_column()
    opened_by_name: Mapped[str] = mapped_column(String(200), default="")
    resolved_at: Mapped[datetime | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTransaction(Base):
    __tablename__ = "ticket_transactions"
    __table_args__ = (
        UniqueConstraint("ticket_id", "ref"),
        Index("ix_ticket_transactions_ref", "ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(100))  # transaction id, order number or tx hash
    source: Mapped[str] = mapped_column(String(16))  # auto | agent
    linked_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
