"""The shared scans behind the rules: the trie-shaped label pattern and the byte-level
prefilters must find exactly what the plain scans find, at the right character positions."""

from __future__ import annotations

import random
import re

from mnemonic import Mnemonic

from paydesk.domain.redaction import (
    CardNumberRule,
    core,
    credentials,
    crypto,
    identity,
    luhn_ok,
    redact,
)
from paydesk.domain.redaction.core import (
    _NORMALISE,
    char_bytes,
    lowered,
    lowered_shape,
    normalise,
    trie_pattern,
)
from paydesk.domain.redaction.crypto import _long_runs
from paydesk.domain.redaction.identity import _iban_matches

KEY = "e331b6d69882b4cb4ea581d88e0b604039a3de5967688d3dcffdd2270c0fd109"


def test_trie_pattern_matches_like_a_longest_first_alternation() -> None:
    rng = random.Random(3)
    words = ["code", "cvv", "cvc", "pass", "passcode", "pw", "pwd", "验证码", "密码", "动态密码"]
    longest_first = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))
    trie = re.compile(trie_pattern(words))
    alphabet = "codepasswvc 验证码密动态"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert trie.findall(text) == longest_first.findall(text), text


def test_byte_prefilters_report_character_positions_after_non_ascii_text() -> None:
    text = "我的钱包 ü 私钥在这里：" + KEY + " 还有 " + "a" * 49 + " 和 " + "b1" * 30
    runs = [text[a:b] for a, b in _long_runs(text)]
    assert runs == [KEY, "b1" * 30]
    ascii_text = "x " + KEY
    assert [ascii_text[a:b] for a, b in _long_runs(ascii_text)] == [KEY]
    low = "退款到账户（德国）de89 3704 0044 0532 0130 00 谢谢 xde89370400440532013000"
    assert [m.group(1) for m in _iban_matches(low)] == ["de89 3704 0044 0532 0130 00"]


def test_inner_labels_still_count_when_a_longer_label_fails() -> None:
    # "银行卡号" is tried first (no 8+ digit value follows), then "卡号" / "密码" inside it
    out = redact("动态密码 302918，银行卡号码错了，密码：Zh@ngSan_1990")
    assert "302918" not in out.text and "Zh@ngSan_1990" not in out.text
    assert sorted(out.kinds) == ["otp", "password"]


def test_spaced_chinese_prefilter_finds_what_the_plain_scan_finds() -> None:
    # one character per byte (UTF-8 continuation bytes dropped): stretches that can hold
    # 12 ideographs with separators; the plain pattern runs only there (long texts)
    rng = random.Random(6)
    ideographs = [*"的一是在不了有和人这中大", "\u4dff", "\u4000", "\u9fff", "\u4e00"]
    seps = [*" ,、;.1)(-\t\n", "\u2028", "\u0660", "\u00a0", "\u1680"]
    other = [*"abX", "😀", "é", "。"]
    found = 0
    for _ in range(150):
        parts: list[str] = []
        size, limit = 0, rng.choice([40, 400, 4000])
        while size < limit:
            parts.append(rng.choice(ideographs))
            r = rng.random()
            if r < 0.93:
                parts.append("".join(rng.choice(seps) for _ in range(rng.choice([1, 1, 2, 6, 7]))))
            elif r < 0.97:
                parts.append(rng.choice(other))
            size += len(parts[-1]) + 1
        text = "".join(parts)
        want = [m.span() for m in crypto._SPACED_ZH.finditer(text)]
        got = list(crypto._spaced_zh(text))
        assert [m.span() for m, _ in got] == want
        assert [n for _, n in got] == [len(crypto._CJK.findall(m.group(0))) for m, _ in got]
        found += len(want)
    assert found > 50


def test_anchor_hits_are_every_position_where_a_label_starts() -> None:
    rng = random.Random(4)
    alphabet = [*"abcdeiknoprstvxy2/ ", "密码", "银行卡号", "验证码", "账户", "卡"]
    for _ in range(2000):
        low = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        want = []
        for i in range(len(low)):
            m = credentials._ANCHOR_SCAN.match(low, i)
            if m is not None:
                want.append((i, m.group(0)))
        assert list(credentials._anchor_hits(low)) == want, low


def test_luhn_byte_sums_agree_with_the_digit_loop() -> None:
    def slow(digits: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = ord(ch) - 48
            if i % 2 == 1:
                d = d * 2 - 9 if d * 2 > 9 else d * 2
            total += d
        return total % 10 == 0

    rng = random.Random(2)
    for _ in range(5000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 24)))
        assert luhn_ok(digits) is slow(digits), digits


def test_symbol_runs_are_the_runs_the_symbol_pattern_finds() -> None:
    rng = random.Random(1)
    alphabet = [*"ab1 _@!#$^&*+=~%.", "的", "😀", "é"]
    for i in range(3000):
        size = rng.randint(0, 3000 if i % 100 == 0 else 60)
        text = "".join(rng.choice(alphabet) for _ in range(size))
        want = [m.span() for m in credentials._SHAPE_SYMBOL.finditer(text)]
        assert list(credentials._symbol_runs(text)) == want, text


def test_caseless_words_answer_like_ignorecase_also_for_letters_that_fold_to_ascii() -> None:
    # İ ı ſ K match i/i/s/k under IGNORECASE; lower-casing alone would miss or add them
    rng = random.Random(8)
    words = credentials._BANK_GAP_STOP
    pieces = ["phone", "PHONE", "pHone", "ıd", "İD", "id", "uſer", "USER", "ticket", "\u212aey",
              "ca", "se", " ", "-", "电话", "¥", "x", "1"]  # fmt: skip
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        low = lowered(text)
        for pos, endpos in ((0, len(text)), (1, max(1, len(text) - 2))):
            want = words.caseless.search(text, pos, endpos) is not None
            assert words.found(text, low, pos, endpos) is want, (text, pos, endpos)


def test_number_shape_leads_are_those_of_the_digits_and_spaces_outside_ascii() -> None:
    digit_or_space = re.compile(r"[\d\s]")
    leads = {
        chr(cp).encode()[0]
        for cp in range(0x80, 0x110000)
        if not 0xD800 <= cp < 0xE000 and digit_or_space.match(chr(cp))
    }
    assert bytes(sorted(leads)) == core._DIGIT_OR_SPACE_LEADS


def test_card_and_id_scans_on_number_shapes_find_what_the_plain_scans_find() -> None:
    rng = random.Random(12)
    pieces = [*"0123456789" * 2, *" -.\n\t>Xxa+", "\x0b", "\u2028", "\u0663", "\u0967", "的", "。"]
    pieces += ["11010519491231002X", "4111 1111", " 2026112612345678 ", "-123456789012-"]
    card = CardNumberRule()
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 80)))
        assert list(card._matches(text)) == [
            (*m.span(), m.group(0)) for m in card._pattern.finditer(text)
        ], text
        assert [m.span() for m in identity._cn_id_matches(text)] == [
            m.span() for m in identity._CN_ID.finditer(text)
        ], text


def test_phrase_positions_after_leading_digits_chinese_and_other_words() -> None:
    phrase = Mnemonic("english").to_mnemonic(bytes(range(16, 32)))
    for before in ("", "12 ", "助记词：", "“", "hi, zzz qq 我的 ", "x" * 300 + " 的 "):
        for after in ("", ".", " thanks", " 谢谢"):
            text = before + phrase + after
            out = redact(text)
            assert out.text == before + "[recovery phrase removed]" + after, text


def test_normalise_by_bytes_equals_the_character_table() -> None:
    rng = random.Random(1)
    folded = [chr(k) for k in _NORMALISE]
    others = ["a", "的", " ", "1", "\ud800", "😀", "é", "\uff00", "\uff5f", "\u2014", "\u3001"]
    for _ in range(5000):
        text = "".join(rng.choice(folded + others) for _ in range(rng.randint(0, 30)))
        assert normalise(text) == text.translate(_NORMALISE), repr(text)


def test_lowered_shape_is_the_shape_of_the_lower_cased_copy() -> None:
    rng = random.Random(5)
    pieces = [*"aZkK 1-", "\u212a", "İ", "Ω", "ω", "的", "ſ", "é", "É", "😀"]
    for table in (crypto._LETTERS, identity._IBAN_BYTES):
        for _ in range(2000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
            assert lowered_shape(text, table) == char_bytes(lowered(text)).translate(table), text
