"""`SandboxPlatform`: the `PaymentPlatform` port over the sandbox ledger tables in paydesk's own
database. It behaves like the real platform would: refunds are checked against the refundable
amount under a row lock, and every mutating call is idempotent by key."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.payments.port import (
    CONTACT_KINDS,
    Account,
    AccountNotFound,
    PlatformRejected,
    Refund,
    Transaction,
)
from paydesk.store.base import utcnow
from paydesk.store.ledger import LedgerAccount, LedgerOperation, LedgerRefund, LedgerTransaction

REFUNDABLE_KINDS = ("payment", "top_up")
SETTLE_SECONDS = 120  # a new refund completes this long after it was requested
V = TypeVar("V")


def _from_row(cls: type[V], row: object, **override: Any) -> V:
    """A port value from a ledger row: the ledger columns carry the port's field names."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = {n: getattr(row, n) for n in names if n not in override}
    return cls(**values, **override)


def account_of(row: LedgerAccount) -> Account:
    return _from_row(Account, row, balances={k: int(v) for k, v in (row.balances or {}).items()})


def transaction_of(row: LedgerTransaction) -> Transaction:
    return _from_row(Transaction, row)


def refund_of(row: LedgerRefund) -> Refund:
    return _from_row(Refund, row)


def _due(row: LedgerRefund) -> bool:
    return row.status == "processing" and row.settles_at is not None and row.settles_at <= utcnow()


def refundable_minor(t: Transaction) -> int:
    """What may still be refunded: payments that went through, and failed top-ups whose card was
    debited anyway (the platform returns the money to the card)."""
    paid = t.kind == "payment" and t.status == "succeeded"
    debited = (
        t.kind == "top_up"
        and t.status == "failed"
        and (t.failure_reason or "").startswith("debited")
    )
    if not (paid or debited):
        return 0
    return max(0, t.amount_minor - t.refunded_minor)


class SandboxPlatform:
    """Refunds complete by themselves `settle_seconds` after the request, as the platform's own
    processing would (observed on the next `get_refund`/`list_refunds`): succeeded, with a
    refund credit in the account's history, or failed when the account was closed meanwhile."""

    name = "sandbox"

    def __init__(
        self,
        write: Callable[[], Session],
        read: Callable[[], Session] | None = None,
        *,
        settle_seconds: int = SETTLE_SECONDS,
    ) -> None:
        self._write = write
        self.settle_seconds = settle_seconds
        self._read_factory = read or write
        self._shared: ContextVar[Session | None] = ContextVar(f"sandbox-{id(self)}", default=None)

    @contextmanager
    def reading(self, session: Session) -> Iterator[None]:
        """Serve the reads inside the block from the caller's session: the sidebar's lookups
        then cost one connection checkout and transaction instead of one each."""
        token = self._shared.set(session)
        try:
            yield
        finally:
            self._shared.reset(token)

    def _read(self) -> AbstractContextManager[Session]:
        shared = self._shared.get()
        return nullcontext(shared) if shared is not None else self._read_factory()

    # reads -------------------------------------------------------------------------------
    def find_account(
        self, *, email: str | None = None, phone: str | None = None, user_id: str | None = None
    ) -> Account | None:
        conds = []
        if user_id:
            conds.append(LedgerAccount.id == user_id)
        if email:
            conds.append(LedgerAccount.email == email.strip().lower())
        if phone:
            conds.append(LedgerAccount.phone == phone.strip())
        if not conds:
            return None
        with self._read() as s:
            row = s.scalars(select(LedgerAccount).where(or_(*conds)).limit(1)).first()
            return account_of(row) if row else None

    def get_account(self, account_id: str) -> Account:
        with self._read() as s:
            row = s.get(LedgerAccount, account_id)
            if row is None:
                raise AccountNotFound(f"no platform account {account_id!r}")
            return account_of(row)

    def list_transactions(
        self, account_id: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Transaction]:
        stmt = select(LedgerTransaction).where(LedgerTransaction.account_id == account_id)
        if before is not None:
            stmt = stmt.where(LedgerTransaction.created_at < before)
        stmt = stmt.order_by(LedgerTransaction.created_at.desc()).limit(max(1, min(limit, 200)))
        with self._read() as s:
            return [transaction_of(r) for r in s.scalars(stmt)]

    def get_transaction(self, ref: str) -> Transaction | None:
        ref = ref.strip()
        if not ref or len(ref) > 100:
            return None
        with self._read() as s:
            row = s.get(LedgerTransaction, ref)
            # one indexed lookup per kind of reference: an OR across two columns makes SQLite
            # scan the whole ledger
            if row is None and ref.lower().startswith("0x"):
                row = s.scalars(
                    select(LedgerTransaction)
                    .where(LedgerTransaction.tx_hash == ref.lower())
                    .limit(1)
                ).first()
            if row is None:
                row = s.scalars(
                    select(LedgerTransaction).where(LedgerTransaction.order_ref == ref).limit(1)
                ).first()
            if row is None and len(ref) == 64:
                row = s.scalars(
                    select(LedgerTransaction)
                    .where(LedgerTransaction.tx_hash == ref.lower())
                    .limit(1)
                ).first()
            return transaction_of(row) if row else None

    def get_refund(self, refund_id: str) -> Refund:
        with self._read() as s:
            row = s.get(LedgerRefund, refund_id)
            if row is None:
                raise AccountNotFound(f"no refund {refund_id!r}")
            due = _due(row)
            refund = refund_of(row)
        return self._settle([refund.id])[0] if due else refund

    def list_refunds(self, account_id: str, *, limit: int = 20) -> list[Refund]:
        with self._read() as s:
            rows = list(
                s.scalars(
                    select(LedgerRefund)
                    .where(LedgerRefund.account_id == account_id)
                    .order_by(LedgerRefund.created_at.desc())
                    .limit(limit)
                )
            )
            due = [r.id for r in rows if _due(r)]
            found = [refund_of(r) for r in rows]
        if due:
            settled = {r.id: r for r in self._settle(due)}
            found = [settled.get(r.id, r) for r in found]
        return found

    # the platform's own processing ---------------------------------------------------------
    def _settle(self, refund_ids: list[str]) -> list[Refund]:
        """Complete due refunds, each once: the row lock (PostgreSQL) or the write transaction
        (SQLite) and the status check make a concurrent reader see the first outcome."""
        now = utcnow()
        out: list[Refund] = []
        with self._write() as s, s.begin():
            for rid in refund_ids:
                row = s.scalars(
                    select(LedgerRefund).where(LedgerRefund.id == rid).with_for_update()
                ).one()
                if _due(row):
                    self._complete(s, row, now)
                out.append(refund_of(row))
        return out

    def _complete(self, s: Session, refund: LedgerRefund, now: datetime) -> None:
        txn = s.scalars(
            select(LedgerTransaction)
            .where(LedgerTransaction.id == refund.transaction_id)
            .with_for_update()
        ).one()
        acct = s.get(LedgerAccount, refund.account_id)
        refund.updated_at = now
        if acct is None or acct.status == "closed":
            refund.status = "failed"
            refund.failure_reason = "the account was closed before the refund completed"
            txn.refunded_minor = max(0, txn.refunded_minor - refund.amount_minor)
            return
        refund.status = "succeeded"
        s.add(
            LedgerTransaction(
                id=f"TP{now:%Y%m%d}-{secrets.randbelow(10**8):08d}",
                account_id=refund.account_id,
                kind="refund",
                status="succeeded",
                amount_minor=refund.amount_minor,
                currency=refund.currency,
                direction="credit",
                counterparty=txn.counterparty,
                description=f"refund of {txn.id}",
                original_id=txn.id,
                created_at=now,
            )
        )
        if txn.kind == "payment":  # wallet payments come back to the wallet; top-ups to the card
            balances = dict(acct.balances or {})
            balances[refund.currency] = int(balances.get(refund.currency, 0)) + refund.amount_minor
            acct.balances = balances

    # writes ------------------------------------------------------------------------------
    def request_refund(
        self,
        transaction_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
    ) -> Refund:
        try:
            return self._refund_tx(transaction_id, amount_minor, currency, reason, idempotency_key)
        except IntegrityError:
            # a concurrent call with the same key won the insert: answer with its refund
            with self._read() as s:
                row = s.scalars(
                    select(LedgerRefund).where(LedgerRefund.idempotency_key == idempotency_key)
                ).first()
                if row is None:
                    raise
                return refund_of(row)

    def _refund_tx(
        self, transaction_id: str, amount_minor: int, currency: str, reason: str, key: str
    ) -> Refund:
        with self._write() as s, s.begin():
            existing = s.scalars(
                select(LedgerRefund).where(LedgerRefund.idempotency_key == key)
            ).first()
            if existing is not None:
                return refund_of(existing)
            # the row lock serialises concurrent refunds of one transaction (PostgreSQL); on
            # SQLite the IMMEDIATE transaction already holds the database write lock
            row = s.scalars(
                select(LedgerTransaction)
                .where(LedgerTransaction.id == transaction_id)
                .with_for_update()
            ).first()
            if row is None:
                raise AccountNotFound(f"no transaction {transaction_id!r}")
            if row.currency != currency:
                raise PlatformRejected(f"the transaction is in {row.currency}, not {currency}")
            left = refundable_minor(transaction_of(row))
            if amount_minor <= 0 or amount_minor > left:
                raise PlatformRejected(
                    f"refund exceeds the refundable amount ({left} minor units left)"
                )
            row.refunded_minor += amount_minor
            now = utcnow()
            refund = LedgerRefund(
                id="RF" + now.strftime("%Y%m%d") + "-" + secrets.token_hex(4).upper(),
                transaction_id=row.id,
                account_id=row.account_id,
                amount_minor=amount_minor,
                currency=currency,
                status="processing",
                reason=reason[:500],
                idempotency_key=key,
                settles_at=now + timedelta(seconds=self.settle_seconds),
                created_at=now,
                updated_at=now,
            )
            s.add(refund)
            s.flush()
            return refund_of(refund)

    def _run_operation(
        self,
        account_id: str,
        kind: str,
        key: str,
        details: dict[str, str | bool],
        apply: Callable[[LedgerAccount], None],
    ) -> Account:
        try:
            with self._write() as s, s.begin():
                acct = s.scalars(
                    select(LedgerAccount).where(LedgerAccount.id == account_id).with_for_update()
                ).first()
                if acct is None:
                    raise AccountNotFound(f"no platform account {account_id!r}")
                done = s.scalars(
                    select(LedgerOperation).where(LedgerOperation.idempotency_key == key)
                ).first()
                if done is None:
                    apply(acct)
                    s.add(
                        LedgerOperation(
                            account_id=account_id, kind=kind, idempotency_key=key, details=details
                        )
                    )
                    s.flush()
                return account_of(acct)
        except IntegrityError:
            return self.get_account(account_id)

    def trigger_password_reset(self, account_id: str, idempotency_key: str) -> None:
        def apply(acct: LedgerAccount) -> None:
            if acct.status == "closed":
                raise PlatformRejected("the account is closed")

        self._run_operation(
            account_id, "password_reset", idempotency_key, {"sent_to": "registered"}, apply
        )

    def change_contact(
        self, account_id: str, kind: str, value: str, idempotency_key: str
    ) -> Account:
        if kind not in CONTACT_KINDS:
            raise PlatformRejected(f"unknown contact kind {kind!r}")

        def apply(acct: LedgerAccount) -> None:
            if acct.status != "active":
                raise PlatformRejected(f"the account is {acct.status}")
            setattr(acct, kind, value)

        return self._run_operation(
            account_id, "contact_change", idempotency_key, {"kind": kind}, apply
        )

    def set_frozen(
        self, account_id: str, frozen: bool, reason: str, idempotency_key: str
    ) -> Account:
        def apply(acct: LedgerAccount) -> None:
            if acct.status == "closed":
                raise PlatformRejected("the account is closed")
            acct.status = "frozen" if frozen else "active"
            acct.frozen_reason = reason[:500] if frozen else None

        return self._run_operation(
            account_id,
            "freeze" if frozen else "unfreeze",
            idempotency_key,
            {"frozen": frozen},
            apply,
        )
