"""Payment cards (PAN, Luhn + brand prefix) and the card data that travels with them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from paydesk.domain.redaction.core import (
    Span,
    char_bytes,
    luhn_ok,
    number_class,
    number_stretches,
)

# (prefix, allowed lengths): known brands only, each with its real PAN lengths, so a random
# 12–19 digit number with a lucky Luhn digit is less often mistaken for a card
BRANDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("4", (13, 16, 19)),  # Visa
    *((p, (16,)) for p in ("51", "52", "53", "54", "55")),  # Mastercard
    *((str(p), (16,)) for p in range(2221, 2721)),  # Mastercard 2-series
    *((p, (16, 17, 18, 19)) for p in ("2200", "2201", "2202", "2203", "2204")),  # Mir
    ("34", (15,)),  # Amex
    ("37", (15,)),
    ("35", (16, 17, 18, 19)),  # JCB
    *((p, (16, 17, 18, 19)) for p in ("6011", "644", "645", "646", "647", "648", "649", "65")),
    ("62", (16, 17, 18, 19)),  # UnionPay
    ("81", (16, 17, 18, 19)),  # UnionPay (new range)
    *((p, (14, 15, 16, 17, 18, 19)) for p in ("36", "38", "39", "300", "301", "302", "303")),
    *((p, (14, 15, 16, 17, 18, 19)) for p in ("304", "305")),  # Diners
    *((p, tuple(range(12, 20))) for p in ("50", "56", "57", "58", "63", "67", "60")),  # Maestro
)
CARD_PREFIXES = tuple(sorted({p for p, _ in BRANDS}))
_BY_PREFIX: dict[str, frozenset[int]] = {}
for _p, _lengths in BRANDS:
    _BY_PREFIX[_p] = _BY_PREFIX.get(_p, frozenset()) | frozenset(_lengths)


def brand_ok(digits: str) -> bool:
    """A known brand prefix with one of that brand's lengths (longest prefix wins)."""
    for size in (4, 3, 2, 1):
        lengths = _BY_PREFIX.get(digits[:size])
        if lengths is not None:
            return len(digits) in lengths
    return False


# A number labelled as one of these is a reference, not a card, even if Luhn happens to pass.
_REFERENCE = re.compile(
    r"(?:\b(?:order|invoice|ref|reference|tracking|transaction|txn|trade|merchant|serial|case|"
    r"ticket|claim|receipt|booking|policy|shipment)\b|"
    r"订单|单号|交易号|流水号|商户|运单|快递|发票|工单|编号|保单)[^\d\n]{0,12}$",
    re.IGNORECASE | re.ASCII,
)
_CARD_WORD = re.compile(r"card|卡", re.IGNORECASE)

# Expiry (MM/YY, MM/YYYY) and a 3–4 digit code right after a card, separated only by
# punctuation/space: "4111 1111 1111 1111 12/27 123". Bounded, no nested repetition.
# "12/28", "12-28", "12|28" (pipe-separated dumps), "1228" only when a code follows
_EXP = (
    r"(?:(?:0?[1-9]|1[0-2])\s?[/\-|]\s?(?:20)?\d\d(?!\d)"
    r"|(?:0[1-9]|1[0-2])\d\d(?=[\s,;|/]{1,4}\d{3,4}(?!\d)))"
)
_TAIL = re.compile(
    rf"[\s,;|/(\[]{{1,4}}(?:(?:exp\w*|有效期)?\s?:?\s?(?P<exp>{_EXP}))?"
    r"(?:[\s,;|/()\[\]]{1,4}(?:cvv2?|cvc2?|安全码)?\s?[:=]?\s?(?P<cvv>\d{3,4})(?![\d/]))?",
    re.IGNORECASE,
)


_SEPARATORS = " -.\r\n\t>"  # between the digits of a card number (the pattern's class)


class CardNumberRule:
    """12–19 digits in any grouping (up to two spaces/dashes/dots between digits), Luhn-valid,
    with a known brand prefix and length → "[card •••• 1733 removed]" (PCI DSS: at most the
    last four stay visible).
    An expiry date and security code written right after the number go with it."""

    # digit, then up to 22 more each optionally preceded by ONE separator: linear
    # (a leading lookbehind would disable the regex engine's fast digit scan: checked below)
    # (a card copied from two lines of a form: a line break counts as a separator). Possessive
    # quantifiers: no backtracking into a digit chain, so each attempt is linear and short
    # (">" too: a card quoted in a reply, "4111 1111\n> 1111 1111")
    _pattern = re.compile(r"\d(?:[ \-.\r\n\t>]{0,3}+\d){11,}+")

    # every match lies in a run of 12+ digits and separators: found first with bytes.find on
    # a one-byte-per-character copy, the pattern then runs only there
    _class = number_class(_SEPARATORS.encode())

    def _matches(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, text) of the pattern's matches, as `_pattern.finditer(text)` finds them.
        A run that is one block of ASCII digits between separators (an order number, most ids)
        is its own match: no regex call."""
        for start, end in number_stretches(text, self._class, 12):
            run = text[start:end]
            digits = run.strip(_SEPARATORS)
            if digits.isdigit() and digits.isascii():
                if len(digits) >= 12:
                    at = start + len(run) - len(run.lstrip(_SEPARATORS))
                    yield at, at + len(digits), digits
                continue
            for m in self._pattern.finditer(text, start, end):
                yield m.start(), m.end(), m.group(0)

    def find(self, text: str) -> Iterable[Span]:
        # most messages hold no run of 12 digits and separators: answered without starting
        # a generator (a rule's fixed cost is most of its cost on a short message)
        if b"n" * 12 not in char_bytes(text).translate(self._class):
            return ()
        return self._find(text)

    def _find(self, text: str) -> Iterator[Span]:
        budget = [4000]  # Luhn checks per text: bounds adversarial digit chains
        for at, stop, raw in self._matches(text):
            if at and text[at - 1] == "+":
                continue  # international phone number
            if raw.isdigit():
                # no separators (order numbers, most ids): one candidate, the whole run, as
                # `_candidates` would find it (a run longer than 19 digits holds no card)
                if len(raw) > 19:
                    continue
                budget[0] -= 1
                if not (brand_ok(raw) and luhn_ok(raw)):
                    continue
                found: Iterable[tuple[int, int, str]] = ((at, stop, raw),)
            else:
                found = _candidates(raw, at, budget)
            for start, end, digits in found:
                before = text[max(0, start - 30) : start]
                if _REFERENCE.search(before) and not _CARD_WORD.search(before):
                    continue
                yield Span(start, end, "card", digits[-4:])
                tail = _TAIL.match(text, end, end + 40)
                if tail is not None:
                    if tail.group("exp"):
                        yield Span(tail.start("exp"), tail.end("exp"), "expiry")
                    if tail.group("cvv") and (tail.group("exp") or len(tail.group("cvv")) == 3):
                        yield Span(tail.start("cvv"), tail.end("cvv"), "cvv")


_GROUP = re.compile(r"\d+")
_BIG_GROUP = re.compile(r"(?<!\d)\d{3,}")


def _candidates(raw: str, offset: int, budget: list[int]) -> Iterable[tuple[int, int, str]]:
    """Card numbers inside a digit sequence: a card is often followed by its expiry or code
    ("4111 1111 1111 1111 05 29"), so try group-aligned sub-sequences, longest first.

    Work is bounded: each start looks at most 19 digits ahead; in a long chain only groups of
    3+ digits can start a card (nobody writes "4 1 1 1 …" over 80 characters), and a per-text
    budget of Luhn checks caps the starts after the first."""
    tiny_ok = len(raw) <= 80
    starts = [0] if not tiny_ok else [g.start() for g in _GROUP.finditer(raw)]
    if not tiny_ok:
        starts += [g.start() for g in _BIG_GROUP.finditer(raw) if g.start() > 0]
    resume = 0
    for n, start in enumerate(starts):
        if start < resume:
            continue
        digits = ""
        ends: list[tuple[int, str]] = []
        for g in _GROUP.finditer(raw, start):
            digits += g.group(0)
            if len(digits) > 19:
                break
            # a card that starts mid-sequence must be long (15+): "1234 5678 9012 3456" is
            # not a 12-digit Maestro number after a "1234"
            if len(digits) >= (12 if n == 0 else 15):
                ends.append((g.end(), digits))
        found = None
        for end, cand in reversed(ends):
            budget[0] -= 1
            if budget[0] < 0 and n:
                return
            if brand_ok(cand) and luhn_ok(cand):
                found = (end, cand)
                break
        if found is not None:
            yield offset + start, offset + found[0], found[1]
            resume = found[0]
