"""Identity and bank data: China resident ID (GB 11643 checksum), IBAN (ISO 13616 mod-97),
bank account numbers next to an account label (English or Chinese)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from paydesk.domain.redaction.core import (
    Span,
    char_bytes,
    lowered,
    lowered_shape,
    number_class,
    number_stretches,
)

MAX_CHECKS = 1000  # candidates checked per text: a real message has a few; bounds floods
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_ok(value: str) -> bool:
    """18-character China resident ID: region, birth date and ISO 7064 mod 11-2 check char."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


_CN_ID = re.compile(
    r"([1-9]\d{5})[\s\-]?((?:18|19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
    r"[\s\-]?(\d{3}[\dXx])(?![0-9A-Za-z])"
)  # no leading lookbehind (it defeats the fast scan): the boundary is checked in find()


# every match lies in a run of 18+ digits, X/x, spaces and dashes
_CN_ID_CLASS = number_class(b"Xx- \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")


def _cn_id_matches(text: str) -> Iterator[re.Match[str]]:
    """_CN_ID.finditer(text), run only on those runs (and the character after each, which the
    closing lookahead reads)."""
    for start, end in number_stretches(text, _CN_ID_CLASS, 18):
        yield from _CN_ID.finditer(text, start, end + 1)


class ChinaResidentIdRule:
    """18-digit resident ID with a valid birth date and check character (15-digit old IDs
    carry no checksum: `LabelledSecretRule` takes them next to an ID label)."""

    def find(self, text: str) -> Iterable[Span]:
        if b"n" * 18 not in char_bytes(text).translate(_CN_ID_CLASS):
            return ()  # no run long enough (most texts): no generator started
        return self._find(text)

    def _find(self, text: str) -> Iterator[Span]:
        for n, m in enumerate(_cn_id_matches(text)):
            if n >= MAX_CHECKS:
                break
            if m.start() and text[m.start() - 1].isascii() and text[m.start() - 1].isalnum():
                continue
            if cn_id_ok("".join(m.groups())):
                yield Span(m.start(), m.end(), "national_id")


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(value: str) -> bool:
    v = value.upper()
    if len(v) < 15 or len(v) > 34 or not v.isalnum():
        return False
    want = IBAN_LENGTHS.get(v[:2])
    if want is not None and len(v) != want:
        return False
    moved = v[4:] + v[:4]
    n = 0
    try:
        for c in moved:
            n = (n * (100 if c.isalpha() else 10) + int(c, 36)) % 97
    except ValueError:  # a letter outside A–Z ("K", the Kelvin sign, lower-cases to "k")
        return False
    return n == 1


# country code, check digits, then up to 30 characters in optional groups of four; matched on
# the lower-cased text so "gb82 west 1234 …" and "GB82WEST…" are found alike
_IBAN = re.compile(r"([a-z]{2}\d\d(?:[ \-]?[0-9a-z]){11,30})(?![0-9a-z])")


# letters → "l", digits → "d", everything else (UTF-8 of non-ASCII too) → " ": an IBAN starts
# where a C-speed bytes.find sees "lldd" at the start of a token
_IBAN_BYTES = bytes(
    108 if chr(b).isascii() and chr(b).isalpha() else 100 if 48 <= b <= 57 else 32
    for b in range(256)
)


def _iban_matches(low: str, text: str | None = None) -> Iterable[re.Match[str]]:
    """IBAN pattern matches in `low`, the lower-cased copy of `text` (when given)."""
    # one byte per character: offsets are positions
    flat = (
        lowered_shape(text, _IBAN_BYTES)
        if text is not None
        else char_bytes(low).translate(_IBAN_BYTES)
    )
    pos = flat.find(b"lldd")
    while pos >= 0:
        if pos == 0 or flat[pos - 1] == 32:
            at = pos
            if not (at and low[at - 1].isascii() and low[at - 1].isalnum()):
                m = _IBAN.match(low, at)
                if m is not None:
                    yield m
        pos = flat.find(b"lldd", pos + 1)


class IbanRule:
    """IBANs with or without a label: mod-97 = 1 and the country's exact length make a chance
    hit on an ordinary token about 1 in 97 × (length mismatch); a country missing from the
    length table counts only when written in capitals."""

    def find(self, text: str) -> Iterable[Span]:
        if b"lldd" not in lowered_shape(text, _IBAN_BYTES):
            return ()  # no two letters and two digits in a row (most texts)
        return self._find(text)

    def _find(self, text: str) -> Iterator[Span]:
        low = lowered(text)
        for n, m in enumerate(_iban_matches(low, text)):
            if n >= MAX_CHECKS:
                break
            raw = text[m.start(1) : m.end(1)]
            compact = re.sub(r"[ \-]", "", raw).upper()
            want = IBAN_LENGTHS.get(compact[:2])
            if want is None and not raw[:2].isupper():
                continue
            if want is not None and len(compact) > want:
                # the match ran into the next word: cut it at the country's length
                count = 0
                for i, ch in enumerate(raw):
                    if ch.isalnum():
                        count += 1
                        if count == want:
                            raw = raw[: i + 1]
                            break
                compact = compact[:want]
            if iban_ok(compact):
                yield Span(m.start(1), m.start(1) + len(raw), "iban", compact[-4:])
