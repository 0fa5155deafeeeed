"""The payment platform as paydesk sees it: the `PaymentPlatform` port and its value types.

Two implementations: `SandboxPlatform` (a ledger in paydesk's own database, for the demo, pilots
and tests) and `HttpPlatform` (the platform's REST API, docs/payments-api.md). Services only talk
to this Protocol, so the console works the same against either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from paydesk.domain.errors import Conflict, DomainError, NotFound

ACCOUNT_STATUSES = ("active", "frozen", "closed")
TXN_KINDS = ("payment", "transfer", "top_up", "refund", "withdrawal", "crypto_send")
TXN_STATUSES = ("pending", "succeeded", "failed", "reversed")
REFUND_STATUSES = ("pending", "processing", "succeeded", "failed")
CONTACT_KINDS = ("email", "phone")


class PlatformUnavailable(DomainError):
    """The platform did not answer in time, answered garbage, or the circuit is open.

    Nothing was changed on our side; the caller may retry later."""

    code = "platform_unavailable"
    status = 503


class PlatformRejected(Conflict):
    """The platform understood the request and refused it (e.g. more than the refundable amount)."""

    code = "platform_rejected"


class AccountNotFound(NotFound):
    code = "account_not_found"


@dataclass(frozen=True, slots=True)
class Account:
    id: str  # the platform's user id, e.g. "U100023"
    name: str
    email: str | None
    phone: str | None
    status: str  # active | frozen | closed
    kyc_level: int  # 0 none, 1 basic, 2 verified, 3 enhanced
    created_at: datetime
    balances: dict[str, int] = field(default_factory=dict)  # currency -> minor units
    frozen_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str  # e.g. TP20261102-88341
    account_id: str
    kind: str
    status: str
    amount_minor: int  # always positive; `direction` says which way it moved
    currency: str
    direction: str  # "debit" | "credit"
    created_at: datetime
    order_ref: str | None = None  # merchant order number
    counterparty: str | None = None
    description: str = ""
    failure_reason: str | None = None
    refunded_minor: int = 0  # sum of succeeded and in-flight refunds
    original_id: str | None = None  # for refunds: the refunded transaction
    network: str | None = None  # crypto: e.g. "ethereum", "tron", "bsc"
    address: str | None = None
    tx_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    transaction_id: str
    amount_minor: int
    currency: str
    status: str  # pending | processing | succeeded | failed
    idempotency_key: str
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _fields(self)


def _fields(value: Any) -> dict[str, Any]:
    """A dict of a value whose fields are all immutable: `asdict` without its recursive deep
    copy (which costs more than the rest of a transaction row on the sidebar)."""
    return {f.name: getattr(value, f.name) for f in fields(value)}


class PaymentPlatform(Protocol):
    """Every call either completes or raises: `AccountNotFound`/`NotFound`, `PlatformRejected`,
    `PlatformUnavailable`. Mutating calls take an idempotency key: the same key twice performs
    the action once and returns the first result."""

    name: str

    def find_account(
        self, *, email: str | None = None, phone: str | None = None, user_id: str | None = None
    ) -> Account | None: ...

    def get_account(self, account_id: str) -> Account: ...

    def list_transactions(
        self, account_id: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Transaction]: ...

    def get_transaction(self, ref: str) -> Transaction | None:
        """By transaction id, merchant order number or on-chain tx hash."""
        ...

    def get_refund(self, refund_id: str) -> Refund: ...

    def list_refunds(self, account_id: str, *, limit: int = 20) -> list[Refund]: ...

    def request_refund(
        self,
        transaction_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
    ) -> Refund: ...

    def trigger_password_reset(self, account_id: str, idempotency_key: str) -> None: ...

    def change_contact(
        self, account_id: str, kind: str, value: str, idempotency_key: str
    ) -> Account: ...

    def set_frozen(
        self, account_id: str, frozen: bool, reason: str, idempotency_key: str
    ) -> Account: ...
