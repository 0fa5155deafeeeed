"""Secret redaction — the privacy stage of the intake pipeline.

`redact(text)` returns the text with every secret replaced by a visible marker such as
"[card •••• 1733 removed]" and the list of findings (type, position in the *redacted* text,
last 4 where allowed). The original is never returned alongside, so callers cannot store it.

Rules are small objects with a `find(text) -> list[Span]`; the privacy work adds more of them.
All patterns are linear-time (no nested quantifiers) so adversarial input cannot stall intake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str
    last4: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int  # position of the marker in the redacted text
    end: int
    last4: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"type": self.kind, "start": self.start, "end": self.end, "last4": self.last4}


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def had_secret(self) -> bool:
        return bool(self.findings)


class Rule(Protocol):
    def find(self, text: str) -> Iterable[Span]: ...


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD_PREFIXES = (
    "4",  # Visa
    "51",
    "52",
    "53",
    "54",
    "55",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",  # Mastercard
    "62",
    "81",  # UnionPay
    "34",
    "37",  # Amex
    "35",  # JCB
    "6011",
    "644",
    "645",
    "646",
    "647",
    "648",
    "649",
    "65",  # Discover
    "36",
    "38",
    "39",
    "300",
    "301",
    "302",
    "303",
    "304",
    "305",  # Diners
    "50",
    "56",
    "57",
    "58",
    "67",
    "63",  # Maestro
    "2200",
    "2201",
    "2202",
    "2203",
    "2204",  # Mir
)


class CardNumberRule:
    """12–19 digits in any grouping (spaces, dashes, dots, full-width digits), Luhn-valid,
    with a known brand prefix. Keeps the last four (PCI DSS allows at most first 6 / last 4)."""

    # digit, then up to 18 more each optionally preceded by ONE separator: linear, no backtracking
    _pattern = re.compile(r"(?<![\d０-９])[\d０-９](?:[ \-.\u00a0]?[\d０-９]){11,22}(?![\d０-９])")

    def find(self, text: str) -> Iterable[Span]:
        for m in self._pattern.finditer(text):
            raw = m.group(0)
            digits = re.sub(r"\D", "", raw.translate(_FULLWIDTH))
            if not 12 <= len(digits) <= 19:
                continue
            if not digits.startswith(_CARD_PREFIXES) or not luhn_ok(digits):
                continue
            yield Span(m.start(), m.end(), "card", digits[-4:])


def marker(kind: str, last4: str | None) -> str:
    if last4:
        return f"[{kind} •••• {last4} removed]"
    return f"[{kind} removed]"


class Redactor:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)

    def redact(self, text: str) -> Redacted:
        if not text:
            return Redacted(text, [])
        spans: list[Span] = []
        for rule in self.rules:
            spans.extend(rule.find(text))
        if not spans:
            return Redacted(text, [])
        # longest-first among overlapping spans, then left to right
        spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
        merged: list[Span] = []
        for s in spans:
            if merged and s.start < merged[-1].end:
                continue
            merged.append(s)
        out: list[str] = []
        findings: list[Finding] = []
        pos = 0
        length = 0
        for s in merged:
            chunk = text[pos : s.start]
            out.append(chunk)
            length += len(chunk)
            mark = marker(s.kind, s.last4)
            findings.append(Finding(s.kind, length, length + len(mark), s.last4))
            out.append(mark)
            length += len(mark)
            pos = s.end
        out.append(text[pos:])
        return Redacted("".join(out), findings)


DEFAULT_RULES: list[Rule] = [CardNumberRule()]


def default_redactor() -> Redactor:
    return Redactor(DEFAULT_RULES)


def redact(text: str) -> Redacted:
    return _DEFAULT.redact(text)


_DEFAULT = default_redactor()
