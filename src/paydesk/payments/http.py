"""`HttpPlatform`: the `PaymentPlatform` port over the platform's REST API (docs/payments-api.md).

- every call has a connect/read timeout;
- reads (GET) and keyed writes (`Idempotency-Key`) are retried on connection errors, timeouts and
  502/503/504 — a keyed write is idempotent by contract, so a retry cannot act twice; anything
  else is never retried;
- a circuit breaker fails fast while the platform is down, so the console stays responsive and
  says "platform unavailable" instead of hanging;
- answers are validated: garbage (non-JSON, missing fields, wrong types) is `PlatformUnavailable`,
  never a crash.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from paydesk.payments.breaker import CircuitBreaker, CircuitOpen
from paydesk.payments.port import (
    Account,
    AccountNotFound,
    PlatformRejected,
    PlatformUnavailable,
    Refund,
    Transaction,
)

log = logging.getLogger(__name__)
RETRY_STATUSES = (502, 503, 504)


class HttpPlatform:
    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 3.0,
        retries: int = 2,
        backoff_seconds: float = 0.05,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "paydesk/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
        )
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.breaker = breaker or CircuitBreaker()

    def close(self) -> None:
        self._client.close()

    # transport ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        allow_404: bool = False,
    ) -> Any:
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise PlatformUnavailable(str(exc)) from None
        idempotent = method == "GET" or idempotency_key is not None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        attempts = 1 + (self.retries if idempotent else 0)
        last: str = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_seconds * (2 ** (attempt - 1)))
            try:
                resp = self._client.request(method, path, params=params, json=json, headers=headers)
            except httpx.TimeoutException:
                last = "the payment platform did not answer in time"
                continue
            except httpx.HTTPError as exc:
                last = f"cannot reach the payment platform ({type(exc).__name__})"
                continue
            if resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
                last = f"the payment platform failed (HTTP {resp.status_code})"
                if resp.status_code in RETRY_STATUSES:
                    continue
                break
            # the platform answered: it is up, whatever it said
            self.breaker.success()
            return self._decode(resp, allow_404)
        self.breaker.failure()
        log.warning("payment platform call %s %s failed: %s", method, path, last)
        raise PlatformUnavailable(last)

    def _decode(self, resp: httpx.Response, allow_404: bool) -> Any:
        try:
            body = resp.json()
        except ValueError:
            raise PlatformUnavailable("the payment platform answered with invalid JSON") from None
        if resp.status_code == 404:
            if allow_404:
                return None
            raise AccountNotFound(_message(body, "not found on the payment platform"))
        if resp.status_code in (409, 422):
            raise PlatformRejected(_message(body, "the payment platform refused the request"))
        if resp.status_code >= 400:
            raise PlatformUnavailable(f"the payment platform refused us (HTTP {resp.status_code})")
        if not isinstance(body, dict):
            raise PlatformUnavailable("the payment platform answered with an unexpected shape")
        return body

    # port --------------------------------------------------------------------------------
    def find_account(
        self, *, email: str | None = None, phone: str | None = None, user_id: str | None = None
    ) -> Account | None:
        params = {k: v for k, v in (("email", email), ("phone", phone), ("user_id", user_id)) if v}
        if not params:
            return None
        body = self._call("GET", "v1/accounts", params=params)
        items = _list(body, "accounts")
        return _account(items[0]) if items else None

    def get_account(self, account_id: str) -> Account:
        return _account(self._call("GET", f"v1/accounts/{_seg(account_id)}"))

    def list_transactions(
        self, account_id: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Transaction]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before.isoformat()
        body = self._call("GET", f"v1/accounts/{_seg(account_id)}/transactions", params=params)
        return [_transaction(x) for x in _list(body, "transactions")]

    def get_transaction(self, ref: str) -> Transaction | None:
        if not ref.strip() or len(ref) > 100:
            return None
        body = self._call("GET", f"v1/transactions/{_seg(ref.strip())}", allow_404=True)
        return _transaction(body) if body is not None else None

    def get_refund(self, refund_id: str) -> Refund:
        return _refund(self._call("GET", f"v1/refunds/{_seg(refund_id)}"))

    def list_refunds(self, account_id: str, *, limit: int = 20) -> list[Refund]:
        body = self._call("GET", f"v1/accounts/{_seg(account_id)}/refunds", params={"limit": limit})
        return [_refund(x) for x in _list(body, "refunds")]

    def request_refund(
        self,
        transaction_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
    ) -> Refund:
        body = self._call(
            "POST",
            "v1/refunds",
            json={
                "transaction_id": transaction_id,
                "amount_minor": amount_minor,
                "currency": currency,
                "reason": reason,
            },
            idempotency_key=idempotency_key,
        )
        return _refund(body)

    def trigger_password_reset(self, account_id: str, idempotency_key: str) -> None:
        self._call(
            "POST",
            f"v1/accounts/{_seg(account_id)}/password-reset",
            json={},
            idempotency_key=idempotency_key,
        )

    def change_contact(
        self, account_id: str, kind: str, value: str, idempotency_key: str
    ) -> Account:
        body = self._call(
            "POST",
            f"v1/accounts/{_seg(account_id)}/contact",
            json={"kind": kind, "value": value},
            idempotency_key=idempotency_key,
        )
        return _account(body)

    def set_frozen(
        self, account_id: str, frozen: bool, reason: str, idempotency_key: str
    ) -> Account:
        body = self._call(
            "POST",
            f"v1/accounts/{_seg(account_id)}/{'freeze' if frozen else 'unfreeze'}",
            json={"reason": reason},
            idempotency_key=idempotency_key,
        )
        return _account(body)


# decoding: strict, so a half-understood answer never reaches an agent ------------------------


def _seg(value: str) -> str:
    return quote(value, safe="")


def _message(body: Any, default: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        msg = body["error"].get("message")
        if isinstance(msg, str):
            return msg[:300]
    return default


def _list(body: Any, key: str) -> list[Any]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise PlatformUnavailable(f"the payment platform answered without {key!r}")
    return items


def _get(d: Any, key: str, typ: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if not isinstance(d, dict):
        raise PlatformUnavailable("the payment platform answered with an unexpected shape")
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
        raise PlatformUnavailable(f"the payment platform answered with a bad {key!r}")
    return v


def _time(d: Any, key: str) -> datetime:
    raw = _get(d, key, str)
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise PlatformUnavailable(f"the payment platform answered with a bad {key!r}") from None
    if t.tzinfo is None:
        raise PlatformUnavailable(f"the payment platform sent a naive {key!r}")
    return t


def _account(d: Any) -> Account:
    balances = _get(d, "balances", dict, optional=True) or {}
    if not all(isinstance(v, int) for v in balances.values()):
        raise PlatformUnavailable("the payment platform answered with bad balances")
    return Account(
        id=_get(d, "id", str),
        name=_get(d, "name", str, optional=True) or "",
        email=_get(d, "email", str, optional=True),
        phone=_get(d, "phone", str, optional=True),
        status=_get(d, "status", str),
        kyc_level=_get(d, "kyc_level", int),
        created_at=_time(d, "created_at"),
        balances=balances,
        frozen_reason=_get(d, "frozen_reason", str, optional=True),
    )


def _transaction(d: Any) -> Transaction:
    opt = {
        k: _get(d, k, str, optional=True)
        for k in (
            "order_ref",
            "counterparty",
            "failure_reason",
            "original_id",
            "network",
            "address",
            "tx_hash",
        )
    }
    return Transaction(
        id=_get(d, "id", str),
        account_id=_get(d, "account_id", str),
        kind=_get(d, "kind", str),
        status=_get(d, "status", str),
        amount_minor=_get(d, "amount_minor", int),
        currency=_get(d, "currency", str),
        direction=_get(d, "direction", str),
        created_at=_time(d, "created_at"),
        description=_get(d, "description", str, optional=True) or "",
        refunded_minor=_get(d, "refunded_minor", int, optional=True) or 0,
        **opt,
    )


def _refund(d: Any) -> Refund:
    return Refund(
        id=_get(d, "id", str),
        transaction_id=_get(d, "transaction_id", str),
        amount_minor=_get(d, "amount_minor", int),
        currency=_get(d, "currency", str),
        status=_get(d, "status", str),
        idempotency_key=_get(d, "idempotency_key", str, optional=True) or "",
        created_at=_time(d, "created_at"),
        updated_at=_time(d, "updated_at"),
        failure_reason=_get(d, "failure_reason", str, optional=True),
    )
