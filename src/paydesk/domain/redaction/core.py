"""The redaction engine: spans from rules → markers in the text, findings for the agent.

Rules see a *normalised* copy of the text that has exactly the same length as the original
(full-width digits/letters/punctuation and the ideographic space mapped 1:1 to ASCII), so a span
found in the copy cuts the same characters out of the original.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
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

    @property
    def kinds(self) -> list[str]:
        return sorted({f.kind for f in self.findings})


class Rule(Protocol):
    def find(self, text: str) -> Iterable[Span]: ...


# U+FF01..U+FF5E are full-width forms of U+0021..U+007E; U+3000 is the ideographic space.
_NORMALISE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_NORMALISE[0x3000] = 0x20
_NORMALISE[0x00A0] = 0x20
_NORMALISE[0x2007] = 0x20
_NORMALISE[0x202F] = 0x20
# invisible characters pasted into numbers ("4111\u200b1111…", a soft hyphen) read as a space,
# the separator every number rule accepts; typographic dashes and minus signs as "-"
for _cp in (0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF):
    _NORMALISE[_cp] = 0x20
for _cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2212, 0xFE58, 0xFE63):
    _NORMALISE[_cp] = 0x2D


# the same as UTF-8 byte sequences, matched by one pattern of byte classes grouped by their
# leading bytes ("\xef\xbc[\x81…\xbf]|…"): every one is a whole character (a lead byte never
# occurs inside another character), so bytes.replace swaps characters, at C speed
_WIDE_UTF8 = {chr(k).encode(): chr(v).encode() for k, v in _NORMALISE.items()}
_WIDE_GROUPS: dict[bytes, list[int]] = {}
for _seq in _WIDE_UTF8:
    _WIDE_GROUPS.setdefault(_seq[:-1], []).append(_seq[-1])
_WIDE_BYTES = re.compile(
    b"|".join(
        re.escape(lead) + b"[" + b"".join(re.escape(bytes([c])) for c in sorted(last)) + b"]"
        for lead, last in sorted(_WIDE_GROUPS.items())
    )
)


def normalise(text: str) -> str:
    """Same-length ASCII folding of full-width forms, invisible characters and dashes
    (positions stay valid)."""
    if text.isascii():  # every folded character is outside ASCII
        return text
    raw = text.encode("utf-8", "surrogatepass")
    found = set(_WIDE_BYTES.findall(raw))
    if not found:
        return text
    for seq in found:
        raw = raw.replace(seq, _WIDE_UTF8[seq])
    return raw.decode("utf-8", "surrogatepass")


_LOWER_CACHE = threading.local()  # per thread: intake redacts in worker threads
_UPPER_RUN = re.compile(r"[A-Z]+")


def lowered(text: str) -> str:
    """`text` lower-cased with the same length (rules share one copy per text: 1-entry cache).

    str.lower() can change the length of a few non-ASCII letters ("İ"); then only ASCII
    letters are lowered, so positions stay valid."""
    cached: tuple[str, str] | None = getattr(_LOWER_CACHE, "pair", None)
    if cached is not None and cached[0] is text:
        return cached[1]
    low = text.lower()
    if len(low) != len(text):
        low = _UPPER_RUN.sub(lambda m: m.group(0).lower(), text)
    _LOWER_CACHE.pair = (text, low)
    return low


_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))


def char_bytes(text: str) -> bytes:
    """One byte per character, for C-speed prefilters (bytes.translate/find, bytes patterns):
    ASCII as it is, any other character as the lead byte of its UTF-8 form (0xC2–0xF4), so
    offsets in the bytes are positions in the text. Cached for the last two texts (a text and
    its lower-cased copy) of the current redaction."""
    slots: tuple[tuple[str, bytes], ...] = getattr(_LOWER_CACHE, "chars", None) or ()
    for seen, flat in slots:
        if seen is text:
            return flat
    raw = text.encode("utf-8", "surrogatepass")
    flat = raw if len(raw) == len(text) else raw.translate(None, _UTF8_CONTINUATION)
    _LOWER_CACHE.chars = ((text, flat), *slots[:1])
    return flat


def lowered_shape(text: str, table: bytes) -> bytes:
    """`char_bytes(lowered(text)).translate(table)` for a `table` that treats A–Z like a–z and
    every byte outside ASCII alike, taken from the text's own `char_bytes` (one copy per text,
    not two): the lower-cased copy differs from the text only in letters, and no letter outside
    ASCII lower-cases into ASCII except the Kelvin sign (K → k), checked for."""
    if "\u212a" in text:
        return char_bytes(lowered(text)).translate(table)
    return char_bytes(text).translate(table)


# UTF-8 lead bytes of the characters outside ASCII that \d or \s match (Arabic-Indic and other
# digits, NBSP, ideographic and other spaces); test_redaction_scans recomputes the list
_DIGIT_OR_SPACE_LEADS = bytes.fromhex("c2 d9 db df e0 e1 e2 e3 ea ef f0")


def number_class(separators: bytes) -> bytes:
    """A bytes.translate table for `char_bytes`: ASCII digits, the given ASCII separators and
    every character outside ASCII that may be a digit or a space → "n", the rest → " "."""
    keep = set(b"0123456789") | set(separators) | set(_DIGIT_OR_SPACE_LEADS)
    return bytes(110 if b in keep else 32 for b in range(256))


def number_stretches(text: str, table: bytes, least: int) -> Iterator[tuple[int, int]]:
    """(start, end) of every maximal run of at least `least` characters of a `number_class`:
    where a pattern built of those characters can match, found with bytes.find alone."""
    flat = char_bytes(text).translate(table)
    need = b"n" * least
    pos = flat.find(need)  # the leftmost of a run: its start (the search starts on a gap)
    while pos >= 0:
        end = flat.find(b" ", pos)
        if end < 0:
            end = len(flat)
        yield pos, end
        pos = flat.find(need, end)


# ASCII digit byte → its Luhn-doubled value (2d, minus 9 above 9); other bytes unused
_LUHN_DOUBLE = bytes(
    (2 * (b - 48) - 9 if b >= 53 else 2 * (b - 48)) if 48 <= b <= 57 else 0 for b in range(256)
)


# the characters other than A–Z that IGNORECASE matches to an ASCII letter: İ ı ſ K (Kelvin)
_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")


class CaselessWords:
    """`re.compile(source, flags | re.IGNORECASE).search(text, pos, endpos) is not None` for a
    pattern of lower-case words, answered by the case-sensitive pattern on the lower-cased copy
    (`lowered`): IGNORECASE stops the engine from skipping to a word's first letter and costs
    ~10x on a short window. Where İ, ı, ſ or K could make a difference, the caseless pattern
    runs itself."""

    def __init__(self, source: str, flags: int = 0) -> None:
        assert not any("A" <= c <= "Z" for c in source), source  # \S, \D… would change meaning
        self.caseless = re.compile(source, flags | re.IGNORECASE)
        self._lower = re.compile(source, flags)

    def found(self, text: str, low: str, pos: int = 0, endpos: int = sys.maxsize) -> bool:
        """`low`: `text` lower-cased with the same length (or `text` itself if it is)."""
        if _FOLDS_TO_ASCII.search(text, pos, endpos) is not None:
            return self.caseless.search(text, pos, endpos) is not None
        return self._lower.search(low, pos, endpos) is not None


def luhn_ok(digits: str) -> bool:
    if digits.isascii() and digits.isdigit():  # byte sums at C speed
        raw = digits.encode("ascii")
        plain = raw[-1::-2]
        total = sum(plain) - 48 * len(plain) + sum(raw[-2::-2].translate(_LUHN_DOUBLE))
        return total % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


LABELS = {
    "card": "card",
    "cvv": "card security code",
    "expiry": "card expiry",
    "pin": "PIN",
    "password": "password",
    "otp": "one-time code",
    "seed_phrase": "recovery phrase",
    "private_key": "private key",
    "national_id": "ID number",
    "iban": "IBAN",
    "bank_account": "bank account",
}


def marker(kind: str, last4: str | None) -> str:
    """The visible stand-in, e.g. "[card •••• 1733 removed]"."""
    label = LABELS.get(kind, kind)
    if last4:
        return f"[{label} •••• {last4} removed]"
    return f"[{label} removed]"


class Redactor:
    """Runs every rule over the text; overlapping spans resolve longest-first, left to right."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)

    def spans(self, text: str) -> list[Span]:
        norm = normalise(text)
        found: list[Span] = []
        try:
            for rule in self.rules:
                found.extend(rule.find(norm))
        finally:
            _LOWER_CACHE.pair = None  # do not keep the last message alive
            _LOWER_CACHE.chars = None
        found.sort(key=lambda s: (s.start, -(s.end - s.start)))
        merged: list[Span] = []
        for s in found:
            if s.end <= s.start:
                continue
            if merged and s.start < merged[-1].end:
                prev = merged[-1]
                if s.end > prev.end:  # partial overlap: widen so no secret tail survives
                    merged[-1] = Span(prev.start, s.end, prev.kind, prev.last4)
                continue
            merged.append(s)
        return merged

    def redact(self, text: str) -> Redacted:
        if not text:
            return Redacted(text, [])
        merged = self.spans(text)
        if not merged:
            return Redacted(text, [])
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


def trie_pattern(words: Iterable[str]) -> str:
    """One regex for many literals, factored as a trie ("c(?:ode|v[cnv])|…"): the engine then
    does one character test per position instead of one per literal (re has no Aho-Corasick).
    Longer literals win over their prefixes, as in a longest-first alternation."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        end = "" in node
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            return "(?:" + body + ")?"
        return body

    return build(trie)
