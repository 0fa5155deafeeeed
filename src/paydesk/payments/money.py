"""Money as integer minor units plus a currency; parsing and formatting by currency exponent.

Amounts never pass through floats: text → `Decimal` → exact minor units (CNY/USD 2, JPY 0, BTC 8…).
More decimals than the currency allows is an error, never a silent rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from paydesk.domain.errors import InvalidInput

# ISO 4217 exponents plus the crypto assets the wallet supports
EXPONENTS: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "JPY": 0,
    "KRW": 0,
    "BTC": 8,
    "USDT": 6,
    "USDC": 6,
}
MAX_MINOR = 2**62  # minor units are stored as 64-bit integers


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency.upper()]
    except KeyError:
        raise InvalidInput(f"unknown currency {currency!r}", field="currency") from None


@dataclass(frozen=True, slots=True, order=True)
class Money:
    minor: int
    currency: str

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def __str__(self) -> str:
        return f"{format_amount(self.minor, self.currency)} {self.currency}"

    def __add__(self, other: Money) -> Money:
        _same(self, other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        _same(self, other)
        return Money(self.minor - other.minor, self.currency)


def _same(a: Money, b: Money) -> None:
    if a.currency != b.currency:
        raise InvalidInput(f"cannot combine {a.currency} and {b.currency}", field="currency")


def parse_money(value: str | int | Decimal, currency: str, *, field: str = "amount") -> Money:
    """Exact amount in minor units; rejects floats, NaN, exponents beyond the currency's and
    non-positive values."""
    cur = currency.upper()
    exp = exponent(cur)
    if isinstance(value, float) or isinstance(value, bool):
        raise InvalidInput("amounts must be given as strings, not floats", field=field)
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"not an amount: {str(value)[:40]!r}", field=field) from None
    if not d.is_finite():
        raise InvalidInput("not a finite amount", field=field)
    if d <= 0:
        raise InvalidInput("the amount must be positive", field=field)
    minor = d.scaleb(exp)
    if minor != minor.to_integral_value():
        raise InvalidInput(f"{cur} amounts have at most {exp} decimal place(s)", field=field)
    if minor > MAX_MINOR:
        raise InvalidInput("the amount is too large", field=field)
    return Money(int(minor), cur)


def format_amount(minor: int, currency: str) -> str:
    exp = exponent(currency)
    d = Decimal(minor).scaleb(-exp)
    return f"{d:.{exp}f}"
