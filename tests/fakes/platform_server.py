"""A small fake of the payment platform's REST API (docs/payments-api.md) on loopback.

A real HTTP server in a thread, with switches to misbehave: `slow_seconds` (answer late),
`garbage` (answer non-JSON), `fail_next` (answer 503 that many times). Keyed POSTs are idempotent
like the real contract says; `calls` records every request for assertions."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

NOW = "2026-11-20T08:00:00+00:00"


def _account(uid: str, email: str, phone: str | None = None) -> dict[str, Any]:
    return {
        "id": uid,
        "name": "Alice Morgan",
        "email": email,
        "phone": phone,
        "status": "active",
        "kyc_level": 2,
        "created_at": NOW,
        "balances": {"USD": 12050},
        "frozen_reason": None,
    }


def _txn(tid: str, uid: str, minor: int, **kw: Any) -> dict[str, Any]:
    d = {
        "id": tid,
        "account_id": uid,
        "kind": "payment",
        "status": "succeeded",
        "amount_minor": minor,
        "currency": "USD",
        "direction": "debit",
        "created_at": NOW,
        "order_ref": None,
        "counterparty": "Blue Bottle Coffee",
        "description": "",
        "failure_reason": None,
        "refunded_minor": 0,
        "original_id": None,
        "network": None,
        "address": None,
        "tx_hash": None,
    }
    d.update(kw)
    return d


@dataclass
class PlatformState:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    txns: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    operations: dict[str, str] = field(default_factory=dict)  # key -> kind
    calls: list[tuple[str, str]] = field(default_factory=list)
    slow_seconds: float = 0.0
    garbage: bool = False
    fail_next: int = 0
    fail_posts: int = 0  # answer 503 to that many POSTs (reads keep working)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakePlatform:
    def __init__(self) -> None:
        self.state = PlatformState()
        st = self.state
        st.accounts["U900001"] = _account("U900001", "alice@example.com", "+447700900123")
        st.txns["TP20261101-10001"] = _txn("TP20261101-10001", "U900001", 480, order_ref="M1")
        st.txns["TP20261101-10002"] = _txn(
            "TP20261101-10002",
            "U900001",
            1500000,
            kind="crypto_send",
            currency="USDT",
            network="tron",
            address="TXYZ",
            tx_hash="0x" + "ab" * 32,
        )
        handler = _make_handler(st)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakePlatform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settle_refunds(self, status: str = "succeeded", reason: str | None = None) -> None:
        """The platform finishes processing: every processing refund becomes `status`."""
        with self.state.lock:
            for r in self.state.refunds.values():
                if r["status"] == "processing":
                    r["status"], r["failure_reason"] = status, reason


def _make_handler(st: PlatformState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _pre(self) -> bool:
            with st.lock:
                st.calls.append((self.command, self.path))
                fail = st.fail_next > 0
                if fail:
                    st.fail_next -= 1
            if st.slow_seconds:
                time.sleep(st.slow_seconds)
            if fail:
                self._send(503, {"error": {"code": "unavailable", "message": "try later"}})
                return False
            if st.garbage:
                self._send(200, b"<html>502 Bad Gateway</html>")
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802
            if not self._pre():
                return
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if parts == ["v1", "accounts"]:
                found = [
                    a
                    for a in st.accounts.values()
                    if (q.get("email") and a["email"] == q["email"])
                    or (q.get("phone") and a["phone"] == q["phone"])
                    or (q.get("user_id") and a["id"] == q["user_id"])
                ]
                return self._send(200, {"accounts": found[:1]})
            if len(parts) == 3 and parts[:2] == ["v1", "accounts"]:
                a = st.accounts.get(parts[2])
                return self._send(200, a) if a else self._send(404, {"error": {}})
            if len(parts) == 4 and parts[3] == "transactions":
                items = [t for t in st.txns.values() if t["account_id"] == parts[2]]
                return self._send(200, {"transactions": items[: int(q.get("limit", 20))]})
            if len(parts) == 4 and parts[3] == "refunds":
                items = [r for r in st.refunds.values() if r["account_id"] == parts[2]]
                return self._send(200, {"refunds": items})
            if len(parts) == 3 and parts[:2] == ["v1", "transactions"]:
                ref = parts[2]
                for t in st.txns.values():
                    if ref in (t["id"], t["order_ref"], t["tx_hash"]):
                        return self._send(200, t)
                return self._send(404, {"error": {"code": "not_found", "message": "no such"}})
            if len(parts) == 3 and parts[:2] == ["v1", "refunds"]:
                for r in st.refunds.values():
                    if r["id"] == parts[2]:
                        return self._send(200, r)
                return self._send(404, {"error": {}})
            self._send(404, {"error": {"code": "not_found", "message": "no route"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with st.lock:
                fail_post = st.fail_posts > 0
                if fail_post:
                    st.fail_posts -= 1
            if fail_post:
                st.calls.append((self.command, self.path))
                return self._send(503, {"error": {"code": "unavailable", "message": "later"}})
            if not self._pre():
                return
            key = self.headers.get("Idempotency-Key") or ""
            if not key:
                return self._send(422, {"error": {"message": "Idempotency-Key required"}})
            parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
            with st.lock:
                if parts == ["v1", "refunds"]:
                    if key in st.refunds:
                        return self._send(200, st.refunds[key])
                    t = st.txns.get(body.get("transaction_id", ""))
                    if t is None:
                        return self._send(404, {"error": {"message": "no such transaction"}})
                    left = t["amount_minor"] - t["refunded_minor"]
                    if body["amount_minor"] > left:
                        return self._send(409, {"error": {"message": "exceeds refundable"}})
                    t["refunded_minor"] += body["amount_minor"]
                    r = {
                        "id": f"RF-{len(st.refunds) + 1}",
                        "transaction_id": t["id"],
                        "account_id": t["account_id"],
                        "amount_minor": body["amount_minor"],
                        "currency": body["currency"],
                        "status": "processing",
                        "idempotency_key": key,
                        "created_at": NOW,
                        "updated_at": NOW,
                        "failure_reason": None,
                    }
                    st.refunds[key] = r
                    return self._send(201, r)
                if len(parts) == 4 and parts[:2] == ["v1", "accounts"]:
                    a = st.accounts.get(parts[2])
                    if a is None:
                        return self._send(404, {"error": {"message": "no such account"}})
                    if key not in st.operations:
                        st.operations[key] = parts[3]
                        if parts[3] == "freeze":
                            a["status"], a["frozen_reason"] = "frozen", body.get("reason")
                        elif parts[3] == "unfreeze":
                            a["status"], a["frozen_reason"] = "active", None
                        elif parts[3] == "contact":
                            a[body["kind"]] = body["value"]
                    return self._send(200, a)
            self._send(404, {"error": {"message": "no route"}})

    return Handler
