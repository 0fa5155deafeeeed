"""The shared scans behind the rules: the trie-shaped label pattern and the byte-level
prefilters must find exactly what the plain scans find, at the right character positions."""

from __future__ import annotations

import random
import re

from paydesk.domain.redaction import redact
from paydesk.domain.redaction.core import trie_pattern
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
