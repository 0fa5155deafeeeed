"""Money parsing, and the HTTP adapter against the fake platform server: retries only where
idempotent, timeouts, garbage answers and the circuit breaker."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from paydesk.domain.errors import InvalidInput
from paydesk.payments.breaker import CircuitBreaker
from paydesk.payments.http import HttpPlatform
from paydesk.payments.money import Money, format_amount, parse_money
from paydesk.payments.port import AccountNotFound, PlatformRejected, PlatformUnavailable
from tests.fakes.platform_server import FakePlatform


def test_money_respects_currency_exponent() -> None:
    assert parse_money("36.50", "CNY") == Money(3650, "CNY")
    assert parse_money("1,200", "JPY") == Money(1200, "JPY")
    assert parse_money("0.00000001", "btc") == Money(1, "BTC")
    assert format_amount(3650, "CNY") == "36.50" and format_amount(1, "BTC") == "0.00000001"
    assert parse_money(Decimal("0.1"), "USD").minor == 10
    for bad, cur in [
        ("1.005", "USD"),
        ("1.5", "JPY"),
        ("0.000000001", "BTC"),
        ("-1", "USD"),
        ("0", "USD"),
        ("NaN", "USD"),
        ("1e400", "USD"),
        ("abc", "USD"),
        ("1", "XYZ"),
    ]:
        with pytest.raises(InvalidInput):
            parse_money(bad, cur)
    with pytest.raises(InvalidInput):
        parse_money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Money(1, "USD") + Money(1, "CNY")


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    f = FakePlatform().start()
    yield f
    f.stop()


def _client(fake: FakePlatform, **kw) -> HttpPlatform:  # type: ignore[no-untyped-def]
    kw.setdefault("backoff_seconds", 0.0)
    return HttpPlatform(fake.url, timeout=kw.pop("timeout", 1.0), **kw)


def test_reads_and_lookups(fake: FakePlatform) -> None:
    p = _client(fake)
    acct = p.find_account(email="alice@example.com")
    assert acct is not None and acct.id == "U900001" and acct.kyc_level == 2
    assert p.find_account(email="nobody@example.com") is None
    assert p.get_transaction("0x" + "ab" * 32).network == "tron"  # type: ignore[union-attr]
    assert p.get_transaction("M1").id == "TP20261101-10001"  # type: ignore[union-attr]
    assert p.get_transaction("TP00000000-00000") is None
    with pytest.raises(AccountNotFound):
        p.get_account("U404")
    assert [t.id for t in p.list_transactions("U900001")][0] == "TP20261101-10001"


def test_get_is_retried_but_breaker_counts_failures(fake: FakePlatform) -> None:
    p = _client(fake, retries=2)
    fake.state.fail_next = 2
    assert p.get_account("U900001").id == "U900001"  # third attempt answers
    assert len(fake.state.calls) == 3


def test_keyed_refund_retried_with_the_same_key_refunds_once(fake: FakePlatform) -> None:
    p = _client(fake, retries=2)
    fake.state.fail_next = 1
    r1 = p.request_refund("TP20261101-10001", 200, "USD", "dup", "key-1")
    r2 = p.request_refund("TP20261101-10001", 200, "USD", "dup", "key-1")
    assert r1.id == r2.id and len(fake.state.refunds) == 1
    assert fake.state.txns["TP20261101-10001"]["refunded_minor"] == 200
    with pytest.raises(PlatformRejected):
        p.request_refund("TP20261101-10001", 281, "USD", "too much", "key-2")


def test_garbage_and_slow_answers_are_platform_unavailable(fake: FakePlatform) -> None:
    p = _client(fake, retries=0, timeout=0.3)
    fake.state.garbage = True
    with pytest.raises(PlatformUnavailable, match="invalid JSON"):
        p.get_account("U900001")
    fake.state.garbage = False
    fake.state.slow_seconds = 0.6
    t0 = time.monotonic()
    with pytest.raises(PlatformUnavailable, match="in time"):
        p.get_account("U900001")
    assert time.monotonic() - t0 < 1.5


def test_circuit_opens_and_fails_fast_then_recovers(fake: FakePlatform) -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30, clock=lambda: clock[0])
    p = _client(fake, retries=0, breaker=breaker)
    fake.state.fail_next = 3
    for _ in range(3):
        with pytest.raises(PlatformUnavailable):
            p.get_account("U900001")
    n = len(fake.state.calls)
    with pytest.raises(PlatformUnavailable, match="circuit open"):
        p.get_account("U900001")
    assert len(fake.state.calls) == n  # failed fast, no request sent
    clock[0] += 31  # half-open: one trial call, which succeeds and closes the circuit
    assert p.get_account("U900001").id == "U900001"
    assert breaker.state == "closed"


def test_unreachable_platform(fake: FakePlatform) -> None:
    fake.stop()
    p = _client(fake, retries=1)
    with pytest.raises(PlatformUnavailable, match="cannot reach"):
        p.find_account(email="alice@example.com")
