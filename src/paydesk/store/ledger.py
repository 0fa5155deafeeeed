"""The sandbox ledger: the payment platform's accounts, transactions and refunds, kept in
paydesk's own database so the demo and pilots run without the real platform.

Only `payments.sandbox.SandboxPlatform` reads and writes these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        Index("ix_ledger_accounts_email", "email"),
        Index("ix_ledger_accounts_phone", "phone"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    kyc_level: Mapped[int] = mapped_column(default=1)
    frozen_reason: Mapped[str | None] = mapped_column(String(500))
    balances: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        # the sidebar's "latest transactions of this account" is one index range scan
        Index("ix_ledger_transactions_account_created", "account_id", "created_at"),
        Index("ix_ledger_transactions_order_ref", "order_ref"),
        Index("ix_ledger_transactions_tx_hash", "tx_hash"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    direction: Mapped[str] = mapped_column(String(8))
    order_ref: Mapped[str | None] = mapped_column(String(64))
    counterparty: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    original_id: Mapped[str | None] = mapped_column(String(40))
    network: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(128))
    tx_hash: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerRefund(Base):
    __tablename__ = "ledger_refunds"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_ledger_refunds_transaction", "transaction_id"),
        Index("ix_ledger_refunds_account", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"))
    account_id: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    reason: Mapped[str] = mapped_column(String(500), default="")
    idempotency_key: Mapped[str] = mapped_column(String(120))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    settles_at: Mapped[datetime | None] = mapped_column()  # processing → succeeded/failed then
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerOperation(Base):
    """Account operations performed by the platform (password reset links, contact changes,
    freezes), keyed by the caller's idempotency key."""

    __tablename__ = "ledger_operations"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
