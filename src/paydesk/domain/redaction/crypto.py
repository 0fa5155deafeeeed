"""Crypto wallet secrets: BIP-39 recovery phrases (English and Chinese word lists, checksum-
verified), raw private keys (64 hex digits), WIF keys and extended private keys (base58check).

Public addresses and transaction hashes stay readable: a 64-hex string (or an 87/88-character
base58 string, the size of a Solana key *and* signature) is kept when the nearest context is a
transaction ("tx", "hash", "交易哈希", an explorer URL) and removed when it is a key or unknown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from importlib import resources

from paydesk.domain.redaction.core import Span, char_bytes, lowered, lowered_shape, trie_pattern

PHRASE_LENGTHS = (24, 21, 18, 15, 12)


@cache
def wordlist(name: str) -> dict[str, int]:
    """word → index (0–2047) of an official BIP-39 list shipped by the `mnemonic` package."""
    raw = (resources.files("mnemonic") / "wordlist" / f"{name}.txt").read_text("utf-8")
    words = [w.strip() for w in raw.splitlines() if w.strip()]
    return {w: i for i, w in enumerate(words)}


def checksum_ok(indices: Sequence[int]) -> bool:
    """BIP-39: the last len/3 bits of the 11-bit word indices are sha256(entropy)'s first bits."""
    n = len(indices)
    if n not in PHRASE_LENGTHS:
        return False
    value = 0
    for i in indices:
        value = (value << 11) | i
    cs = n // 3
    entropy = (value >> cs).to_bytes(32 * n // 3 // 8, "big")
    want = hashlib.sha256(entropy).digest()[0] >> (8 - cs)
    return want == value & ((1 << cs) - 1)


def _valid_windows(indices: Sequence[int], max_windows: int = 400) -> list[tuple[int, int]]:
    """(start, end) token windows of a run that form a valid phrase; bounded work."""
    out: list[tuple[int, int]] = []
    n = len(indices)
    tried = 0
    for start in range(0, n - 11):
        for length in PHRASE_LENGTHS:
            if start + length > n:
                continue
            tried += 1
            if tried > max_windows:
                return out
            if checksum_ok(indices[start : start + length]):
                out.append((start, start + length))
    return out


_PHRASE_LABEL = re.compile(
    r"seed|recovery|mnemonic|backup|secret|phrase|words|wallet|助记词|助記詞|恢复|恢復|备份|短语|"
    r"种子|私钥|密语|钱包",
    re.IGNORECASE,
)
_EN_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]{3,8}(?![A-Za-z])")
# bytes a–z stay (A–Z lower-cased: `lowered_shape`), every other byte becomes a space: split()
# then gives the words of re.findall("[a-z]+") on the lower-cased text at C speed; _GAPS the
# other way round (the runs between the words)
_LETTERS = bytes(b if 97 <= b <= 122 else b + 32 if 65 <= b <= 90 else 32 for b in range(256))
_GAPS = bytes(32 if 97 <= b <= 122 else 120 for b in range(256))


@cache
def _wordset_bytes() -> frozenset[bytes]:
    return frozenset(w.encode("ascii") for w in wordlist("english"))


_RUN12 = re.compile(rb"\x01{12,}")
_EN_GAP = re.compile(r"[\s,.;:\d)(\-\"'#/|*]{1,12}")
_MAX_RUN = 48  # more list words in a row than any phrase: not prose, remove (bounded work)


def _english_words(text: str) -> tuple[bytes, list[bytes], bytes] | None:
    """Cheap pre-check (C-speed split + set lookups): 12 list words in a row, gaps ignored;
    only those stretches get the exact (slower) pass. Returns the letters-only copy, its words
    and one flag byte per word (1 = in the list), or None when no 12 follow each other."""
    # one byte per character: a–z as they are (A–Z lower-cased), anything else a space
    flat = lowered_shape(text, _LETTERS)
    # words only (no gaps, no positions) — positions are worked out only when 12 list words
    # do follow each other
    words_b = flat.split()
    if len(words_b) < 12:
        return None
    flags = bytes(map(_wordset_bytes().__contains__, words_b))
    if b"\x01" * 12 not in flags:
        return None
    return flat, words_b, flags


class SeedPhraseRule:
    """12–24 BIP-39 words in a row whose checksum verifies (ordinary sentences do not), or any
    12+ list words in a row right after a "recovery phrase"/"助记词" label, or 12+ single Chinese
    list characters written with separators (nobody writes prose like that)."""

    def find(self, text: str) -> Iterable[Span]:
        english = _english_words(text)
        chinese = not text.isascii() and _CJK.search(text) is not None
        if english is None and not chinese:
            return ()  # most texts: answered without starting a generator
        return self._find(text, english, chinese)

    def _find(
        self, text: str, english: tuple[bytes, list[bytes], bytes] | None, chinese: bool
    ) -> Iterator[Span]:
        if english is not None:
            yield from self._english(text, *english)
        if chinese:
            yield from self._chinese(text)

    def _english(
        self, text: str, flat: bytes, words_b: list[bytes], flags: bytes
    ) -> Iterable[Span]:
        wl = wordlist("english")
        # the position of word k: the lengths of the words and of the gaps before it (the
        # gaps are the runs of spaces: split() of the inverted bytes), summed at C speed from
        # the previous stretch on
        gaps = flat.translate(_GAPS).split()
        lead = 1 if flat[:1] == b" " else 0  # the text starts with a gap (gaps[0])
        at_word, at_char = 0, len(gaps[0]) if lead else 0
        for stretch in _RUN12.finditer(flags):
            first, last = stretch.start(), stretch.end() - 1
            at_char += sum(map(len, words_b[at_word:first]))
            at_char += sum(map(len, gaps[at_word + lead : first + lead]))
            at_word = first
            lo = at_char
            hi = lo + sum(map(len, words_b[first : last + 1]))
            hi += sum(map(len, gaps[first + lead : last + lead]))
            run: list[re.Match[str]] = []
            for m in _EN_WORD.finditer(text, lo, hi):
                w = m.group(0).lower()
                if w in wl and (not run or _EN_GAP.fullmatch(text, run[-1].end(), m.start())):
                    run.append(m)
                    continue
                yield from self._english_run(text, run, wl)
                run = [m] if w in wl else []
            yield from self._english_run(text, run, wl)

    def _english_run(
        self, text: str, run: list[re.Match[str]], wl: dict[str, int]
    ) -> Iterable[Span]:
        if len(run) < 12:
            return
        if len(run) > _MAX_RUN:
            yield Span(run[0].start(), run[-1].end(), "seed_phrase")
            return
        indices = [wl[m.group(0).lower()] for m in run]
        windows = _valid_windows(indices)
        if not windows:
            # a label ("seed phrase", "助记词") before the last 12 words: those words go even
            # without a valid checksum (a mistyped phrase is still a secret). Label words may be
            # list words themselves ("seed", "phrase"), so the run starts after the last label.
            labels = list(
                _PHRASE_LABEL.finditer(text, max(0, run[0].start() - 80), run[-12].start())
            )
            if labels:
                cut = labels[-1].end()
                k = next(i for i, m in enumerate(run) if m.start() >= cut)
                if len(run) - k >= 12:
                    windows = [(k, len(run))]
        yield from _union(windows, lambda i: run[i].start(), lambda i: run[i - 1].end())

    def _chinese(self, text: str) -> Iterable[Span]:
        for m, ideographs in _spaced_zh(text):
            if ideographs > _MAX_RUN:  # not prose and longer than any phrase: remove, bounded
                yield Span(m.start(), m.end(), "seed_phrase")
                continue
            chars = [(c.start(), c.group(0)) for c in _CJK.finditer(m.group(0))]
            for name in ("chinese_simplified", "chinese_traditional"):
                wl = wordlist(name)
                run: list[tuple[int, str]] = []
                for pos, ch in [*chars, (-1, "")]:
                    if ch in wl:
                        run.append((pos, ch))
                        continue
                    if len(run) >= 12:
                        end = m.start() + run[-1][0] + 1
                        if end < len(text) and _CJK.match(text, end):
                            run.pop()  # "…剪，现在": the last character starts the next word
                            end = m.start() + run[-1][0] + 1
                        if len(run) >= 12:
                            yield Span(m.start() + run[0][0], end, "seed_phrase")
                    run = []
        low = lowered(text)
        for hits, anchor in enumerate(_ZH_ANCHOR_SCAN.finditer(low)):
            if hits >= 64:  # a real message names its phrase a few times
                break
            filler = _ZH_FILLER.match(text, anchor.end())
            seg = _CJK_RUN.match(text, filler.end(), filler.end() + 40) if filler else None
            if seg is not None:
                yield from _unspaced_phrase(seg.group(0), seg.start())


def _unspaced_phrase(s: str, start: int) -> Iterable[Span]:
    """A phrase written without separators right after its label: checksum decides."""
    for name in ("chinese_simplified", "chinese_traditional"):
        wl = wordlist(name)
        for offset in (0, 1) if s[:1] in "是为為" else (0,):
            run = 0
            for ch in s[offset : offset + 24]:
                if ch not in wl:
                    break
                run += 1
            for length in PHRASE_LENGTHS:
                if length <= run and checksum_ok([wl[c] for c in s[offset : offset + length]]):
                    yield Span(start + offset, start + offset + length, "seed_phrase")
                    return


_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{12,40}")
# single characters separated by spaces/commas/numbering: "的 一 是 在 …" or "1.的 2.一 …"
_SPACED_ZH = re.compile(r"(?:[\u4e00-\u9fff][\s,、;.\d)(\-]{1,6}){11,}[\u4e00-\u9fff]")

# The same shape one byte per character (`char_bytes`), at C speed: lead bytes E4–E9
# (U+4000–U+9FFF, a superset of the ideographs) → "C", ASCII separators and every other
# non-ASCII character (Unicode spaces and digits, "、") → "s", other ASCII → "x". Every match
# of _SPACED_ZH lies inside a match of _SPACED_FLAT, so only those stretches are scanned.
_FLAT_ZH = bytes(
    67 if 0xE4 <= b <= 0xE9
    else 115 if b >= 0xC0 or chr(b) in " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f,;.)(-0123456789"
    else 120
    for b in range(256)
)  # fmt: skip
_SPACED_FLAT = re.compile(rb"Cs(?:s{0,5}+Cs){10,}s{0,5}+C")  # (C s{1,6}){11,} C, from "Cs"


def _spaced_zh(text: str) -> Iterable[tuple[re.Match[str], int]]:
    """_SPACED_ZH.finditer(text), scanning only where the byte-level shape allows a match
    (twice as fast even on a 100-character message: the plain scan tries every ideograph),
    each with its number of ideographs, counted at C speed (a match's separators are never in
    U+4000–U+9FFF, so inside it the shape's "C"s are exactly its ideographs)."""
    flat = char_bytes(text).translate(_FLAT_ZH)
    for stretch in _SPACED_FLAT.finditer(flat):
        for m in _SPACED_ZH.finditer(text, stretch.start(), stretch.end()):
            yield m, flat.count(b"C", m.start(), m.end())


_ZH_ANCHORS = (
    "助记词", "助記詞", "恢复短语", "恢復短語", "恢复词",
    "备份短语", "种子短语", "钱包短语", "密语",
    "recovery phrase", "seed phrase", "mnemonic",
)  # fmt: skip
_ZH_ANCHOR_SCAN = re.compile(trie_pattern(_ZH_ANCHORS))
_ZH_FILLER = re.compile(r"[^\u4e00-\u9fff\n]{0,6}(?:是|为|為|如下|：)?[^\u4e00-\u9fff\n]{0,4}")


def _union(windows: list[tuple[int, int]], start_of, end_of) -> Iterable[Span]:  # type: ignore[no-untyped-def]
    windows.sort()
    cur: list[int] | None = None
    for a, b in windows:
        if cur is not None and a <= cur[1]:
            cur[1] = max(cur[1], b)
            continue
        if cur is not None:
            yield Span(start_of(cur[0]), end_of(cur[1]), "seed_phrase")
        cur = [a, b]
    if cur is not None:
        yield Span(start_of(cur[0]), end_of(cur[1]), "seed_phrase")


# --- private keys -----------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58check_decode(s: str) -> bytes | None:
    """Payload of a base58check string, or None when the 4-byte checksum does not match."""
    n = 0
    for c in s:
        i = _B58_INDEX.get(c)
        if i is None:
            return None
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(s) - len(s.lstrip("1"))) + raw
    if len(raw) < 5:
        return None
    body, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] != check:
        return None
    return body


_HEX_ONLY = re.compile(r"[0-9a-fA-F]+")
_B58_ONLY = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")
# matched against a lower-cased window (case-insensitive matching is slow in the engine);
# behind a lookahead for the characters a match can start with (a "\b" in front of some
# alternatives keeps the engine from skipping to them itself)
KEEP_CONTEXT_SOURCE = (
    r"\btx\b|\btxid|\btxn|\btx[\s_-]?hash|hash|transaction|signature|\bsig\b|block|sha-?256|sha-?1|"
    r"checksum|digest|explorer|scan\b|scan\.|etherscan|tronscan|bscscan|solscan|blockchair|"
    r"mempool|/tx/|/transaction/|transfer|deposit|withdraw|confirmation|pending|"
    r"交易|哈希|区块|回执|凭证|流水|转账|充值|提现|提币|到账|确认"
)
_KEEP_CONTEXT = re.compile(
    rf"(?=[tshbcdempw/交哈区回凭流转充提到确])(?:{KEEP_CONTEXT_SOURCE})", re.ASCII
)
_STRONG_KEY_CONTEXT = re.compile(
    r"private|priv\b|secret\s+key|私钥|私鑰|密钥|秘钥|keystore", re.ASCII
)
KEY_CONTEXT_SOURCE = r"private|priv\b|secret|\bkey\b|私钥|密钥|秘钥|助记|keystore|导出|export"
_KEY_CONTEXT = re.compile(rf"(?=[pske私密秘助导])(?:{KEY_CONTEXT_SOURCE})", re.ASCII)


def _nearest_is_key(text: str, start: int) -> bool:
    """True when key words are closer than transaction words in the 48 characters before."""
    lo = max(0, start - 48)
    if start > 0 and text[start - 1] == "/":  # part of a URL path (explorer link)
        return False
    window = text[lo:start].lower()
    if _STRONG_KEY_CONTEXT.search(window):
        return True  # "private key", "私钥": explicit, whatever else the sentence mentions
    keep = [m.end() for m in _KEEP_CONTEXT.finditer(window)]
    if not keep:
        return True
    key = [m.end() for m in _KEY_CONTEXT.finditer(window)]
    return bool(key) and key[-1] > keep[-1]


_LABELLED_KEY = re.compile(
    r"(?:private\s*key|priv\s*key|secret\s*key|私钥|私鑰|密钥|秘钥)[^A-Za-z0-9\n]{0,12}"
    r"(?:is\s+|是|为)?[^A-Za-z0-9\n]{0,4}([A-Za-z0-9+/=_\-]{32,200}"
    # or hex in groups, as some wallets print it ("e331b6d6 9882b4cb …", "e3:31:b6:…")
    r"|[0-9A-Fa-f]{2,16}(?:[ :][0-9A-Fa-f]{2,16}){3,31}(?![0-9A-Za-z]))",
    re.IGNORECASE,
)


# ASCII letters and digits → "a", every other byte (UTF-8 of non-ASCII too) → " ": then a run
# of 50+ is a C-speed bytes.find, with no regex attempt at every word of ordinary text
_RUN_BYTES = bytes(97 if chr(b).isascii() and chr(b).isalnum() else 32 for b in range(256))
_RUN50 = b"a" * 50
_NOT_A = re.compile(rb"[^a]")


def _long_runs(text: str) -> Iterable[tuple[int, int]]:
    """(start, end) in characters of every maximal run of 50+ ASCII letters/digits."""
    flat = char_bytes(text).translate(_RUN_BYTES)
    pos = flat.find(_RUN50)
    while pos >= 0:
        stop = _NOT_A.search(flat, pos)
        end = stop.start() if stop else len(flat)
        yield pos, end
        pos = flat.find(_RUN50, end)


class PrivateKeyRule:
    """Raw 64-hex keys (unless in transaction context), WIF and xprv keys (always), and any
    long token right after a "private key"/"私钥" label (whatever the encoding)."""

    def find(self, text: str) -> Iterable[Span]:
        low = lowered(text)
        labelled = (
            "priv" in low
            or "secret" in low
            or (
                not text.isascii()
                and ("钥" in text or "鑰" in text)  # one C-speed scan for the four words
                and any(w in text for w in ("私钥", "私鑰", "密钥", "秘钥"))
            )
        )
        if not labelled and _RUN50 not in char_bytes(text).translate(_RUN_BYTES):
            return ()  # no key label, no 50-character run (most texts): no generator started
        return self._find(text, labelled)

    def _find(self, text: str, labelled: bool) -> Iterator[Span]:
        if labelled:
            for n, m in enumerate(_LABELLED_KEY.finditer(text)):
                if n >= 200:
                    break
                if sum(c not in " :" for c in m.group(1)) >= 32:
                    yield Span(m.start(1), m.end(1), "private_key")
        # long ASCII alphanumeric runs; hex keys and base58 keys are told apart here
        for run_start, end in _long_runs(text):
            run, start = text[run_start:end], run_start
            if run[:2] in ("0x", "0X"):
                run, start = run[2:], start + 2
            if len(run) == 64 and _HEX_ONLY.fullmatch(run):
                if _nearest_is_key(text, run_start):
                    yield Span(run_start, end, "private_key")
                continue
            if len(run) > 112 or not _B58_ONLY.fullmatch(run):
                continue
            if len(run) in (51, 52) and run[0] in "5KL9c":
                body = b58check_decode(run)
                if body is not None and body[0] in (0x80, 0xEF) and len(body) in (33, 34):
                    yield Span(start, end, "private_key")
                continue
            if run[:4] in ("xprv", "tprv", "yprv", "zprv", "Yprv", "Zprv", "uprv", "vprv"):
                yield Span(start, end, "private_key")
                continue
            if len(run) in (86, 87, 88) and _nearest_is_key(text, start):
                yield Span(start, end, "private_key")  # Solana-style 64-byte secret key
