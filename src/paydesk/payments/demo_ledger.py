"""Realistic sandbox histories for the demo customers: everyday payments, top-ups, transfers and
crypto sends, plus the cases support sees every day — a duplicate charge, a transfer stuck in
pending, a failed top-up whose card was debited, a refund in progress and a crypto send to the
wrong network. Deterministic (seeded RNG) and idempotent (accounts that exist are skipped)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from paydesk.store.base import utcnow
from paydesk.store.ledger import LedgerAccount, LedgerRefund, LedgerTransaction

MERCHANTS = {
    "zh-CN": [
        "全家便利店",
        "美团外卖",
        "滴滴出行",
        "京东商城",
        "星巴克",
        "中国移动话费",
        "盒马鲜生",
    ],
    "en": ["Blue Bottle Coffee", "Tesco", "Uber", "Amazon", "Spotify", "Shell", "Pret A Manger"],
}
# the transaction ids the demo tickets mention: the first customer of each locale owns them
DEMO_REFS = {"zh-CN": "TP20261102-88341", "en": "TP20261030-55120"}


def _txn_id(at: datetime, rng: random.Random, used: set[str]) -> str:
    while True:
        tid = f"TP{at:%Y%m%d}-{rng.randrange(10**5):05d}"
        if tid not in used:
            used.add(tid)
            return tid


def seed(
    sessions: Callable[[], Session],
    people: list[tuple[str, str, str | None, str]],
    *,
    now: datetime | None = None,
    rng_seed: int = 7,
) -> int:
    """Create accounts + histories for (name, email, phone, locale); returns accounts created."""
    now = now or utcnow()
    rng = random.Random(rng_seed)
    with sessions() as s:
        have = set(s.scalars(select(LedgerAccount.email)))
        ids = set(s.scalars(select(LedgerAccount.id)))
        used = set(s.scalars(select(LedgerTransaction.id)))
    accounts: list[dict[str, Any]] = []
    txns: list[dict[str, Any]] = []
    refunds: list[dict[str, Any]] = []
    firsts: set[str] = set()
    for i, (name, email, phone, locale) in enumerate(people):
        if email in have:
            continue
        loc = locale if locale in MERCHANTS else "en"
        cur = "CNY" if loc == "zh-CN" else "USD"
        n = 100000 + i
        while f"U{n}" in ids:
            n += len(people) + 1
        acct_id = f"U{n}"
        ids.add(acct_id)
        accounts.append(
            {
                "id": acct_id,
                "name": name,
                "email": email,
                "phone": phone,
                "status": "active",
                "kyc_level": 2 if i % 5 else 1,
                "frozen_reason": None,
                "balances": {cur: rng.randrange(5_000, 800_000), "USDT": rng.randrange(10**8)},
                "created_at": now - timedelta(days=400 + i),
            }
        )

        def add(
            kind: str,
            status: str,
            minor: int,
            at: datetime,
            direction: str = "debit",
            currency: str = cur,
            tid: str | None = None,
            acct: str = acct_id,
            **extra: Any,
        ) -> dict[str, Any]:
            row = {
                "id": tid or _txn_id(at, rng, used),
                "account_id": acct,
                "kind": kind,
                "status": status,
                "amount_minor": minor,
                "currency": currency,
                "direction": direction,
                "order_ref": None,
                "counterparty": None,
                "description": "",
                "failure_reason": None,
                "refunded_minor": 0,
                "original_id": None,
                "network": None,
                "address": None,
                "tx_hash": None,
                "created_at": at,
            }
            row.update(extra)
            txns.append(row)
            return row

        # everyday history over the last 90 days
        for _ in range(rng.randrange(18, 30)):
            at = now - timedelta(days=rng.uniform(3, 90))
            merchant = rng.choice(MERCHANTS[loc])
            add(
                "payment",
                "succeeded",
                rng.randrange(300, 30_000),
                at,
                counterparty=merchant,
                order_ref=f"M{rng.randrange(10**9):09d}",
                description=merchant,
            )
        for _ in range(3):
            add(
                "top_up",
                "succeeded",
                rng.choice([10_000, 20_000, 50_000]),
                now - timedelta(days=rng.uniform(5, 90)),
                direction="credit",
                description="bank card top-up",
            )
        # the support cases
        shop = MERCHANTS[loc][0]
        dup_minor = 3650 if cur == "CNY" else 480
        at = now - timedelta(days=2, hours=3)
        order = f"M{rng.randrange(10**9):09d}"
        add(
            "payment",
            "succeeded",
            dup_minor,
            at,
            counterparty=shop,
            order_ref=order,
            description=f"{shop} (duplicate charge)",
        )
        add(
            "payment",
            "succeeded",
            dup_minor,
            at + timedelta(seconds=40),
            counterparty=shop,
            order_ref=order,
            description=f"{shop} (duplicate charge)",
        )
        add(
            "transfer",
            "pending",
            50_000 if cur == "CNY" else 12_000,
            now - timedelta(hours=20),
            counterparty="王磊" if loc == "zh-CN" else "James Morgan",
            description="transfer to a friend — pending bank confirmation",
        )
        add(
            "top_up",
            "failed",
            20_000 if cur == "CNY" else 5_000,
            now - timedelta(days=1),
            failure_reason="debited: the bank charged the card but the top-up timed out",
            description="bank card top-up",
        )
        ref_id = DEMO_REFS[loc] if loc not in firsts else None
        firsts.add(loc)
        paid = add(
            "payment",
            "succeeded",
            25_900 if cur == "CNY" else 6_499,
            now - timedelta(days=12),
            tid=ref_id if ref_id and ref_id not in used else None,
            counterparty=MERCHANTS[loc][3],
            order_ref=f"M{rng.randrange(10**9):09d}",
            description=f"{MERCHANTS[loc][3]} — returned item",
            refunded_minor=0,
        )
        used.add(paid["id"])
        paid["refunded_minor"] = paid["amount_minor"]
        refunds.append(
            {
                "id": f"RF{now - timedelta(days=10):%Y%m%d}-{secrets.token_hex(4).upper()}",
                "transaction_id": paid["id"],
                "account_id": acct_id,
                "amount_minor": paid["amount_minor"],
                "currency": cur,
                "status": "processing",
                "reason": "item returned to merchant",
                "idempotency_key": f"demo-refund-{acct_id}",
                "failure_reason": None,
                # a card refund: still with the bank in the demo story, done in two days
                "settles_at": now + timedelta(days=2),
                "created_at": now - timedelta(days=10),
                "updated_at": now - timedelta(days=10),
            }
        )
        add(
            "crypto_send",
            "succeeded",
            150_000_000,
            now - timedelta(days=4),
            currency="USDT",
            network="bsc" if loc == "zh-CN" else "tron",
            address="0x" + secrets.token_hex(20) if loc == "zh-CN" else "T" + secrets.token_hex(16),
            tx_hash="0x" + secrets.token_hex(32),
            description="USDT sent on the wrong network (recipient expects Ethereum ERC-20)",
        )
    if not accounts:
        return 0
    with sessions() as s, s.begin():
        s.execute(insert(LedgerAccount), accounts)
        s.execute(insert(LedgerTransaction), txns)
        if refunds:
            s.execute(insert(LedgerRefund), refunds)
    return len(accounts)
