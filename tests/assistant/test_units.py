"""Pure parts: article files, handoff rules, business hours, groundedness (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paydesk.assistant import answer as words
from paydesk.assistant.articles import ArticleFormatError, dump, parse
from paydesk.assistant.encoder import dimension, encode
from paydesk.assistant.llm import grounded
from paydesk.assistant.policy import rule_reason


def test_article_file_round_trip_and_errors():
    text = (
        "---\nid: Refund-Times\ntitle: ' How long? '\nlocale: zh\ntags: 退款, refund\n---\nBody\n"
    )
    a = parse(text)
    assert (a.slug, a.title, a.locale, a.tags) == (
        "refund-times",
        "How long?",
        "zh-CN",
        ["退款", "refund"],
    )
    assert parse(dump(a)) == a
    for bad, reason in [
        ("no front matter", "missing YAML front matter"),
        ("---\nid: x\n---\nbody", "title is required"),
        ("---\nid: a b\ntitle: t\nlocale: en\n---\n", "must be a slug"),
        ("---\nid: a\ntitle: t\nlocale: fr\n---\n", "locale must be one of"),
        ("---\n- just\n- a list\n---\n", "must be a mapping"),
        ("---\nid: [unclosed\n---\n", "not valid YAML"),
    ]:
        with pytest.raises(ArticleFormatError, match=reason):
            parse(bad)


def test_rules_separate_incidents_from_education():
    assert rule_reason("how do I spot a scam?") is None
    assert rule_reason("怎么识别假客服") is None
    assert rule_reason("支付密码输错被锁了多久能解") is None  # the PIN, not the account
    assert rule_reason("客服电话是多少") is None
    assert rule_reason("I think I was scammed by a fake agent") == "fraud"
    assert rule_reason("我好像遇到诈骗了") == "fraud"
    assert rule_reason("someone logged into my account from another city") == "account_locked"
    assert rule_reason("人工") == "human"
    assert rule_reason("Can I speak to a representative?") == "human"


def test_business_hours_in_shanghai_time():
    spec, tz = "08:00-22:00", "Asia/Shanghai"
    assert words.next_opening(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), spec, tz) is None  # 10:00
    late = words.next_opening(datetime(2026, 1, 5, 15, 0, tzinfo=UTC), spec, tz)  # 23:00
    assert late is not None and (late.day, late.hour) == (6, 8)
    early = words.next_opening(datetime(2026, 1, 4, 22, 30, tzinfo=UTC), spec, tz)  # 06:30
    assert early is not None and (early.day, early.hour) == (5, 8)
    msg = words.hours_notice("zh-CN", datetime(2026, 1, 5, 15, 0, tzinfo=UTC), spec, tz)
    assert "08:00–22:00" in msg and "01月06日 08:00" in msg
    assert words.parse_hours("garbage")[0].hour == 8


def test_encoder_contract():
    v = encode(["退款多久到账", "how long does a refund take", "", "天气"])
    assert v.shape == (4, dimension()) and str(v.dtype) == "float32"
    assert abs(float((v[0] ** 2).sum()) - 1) < 1e-4 and float(abs(v[2]).sum()) == 0.0
    assert float(v[0] @ v[1]) > float(v[0] @ v[3])  # cross-lingual paraphrase beats off-topic
    assert encode([]).shape == (0, dimension())


def test_groundedness_check():
    src = "Refunds to a bank card take 1-7 business days. 退款到银行卡需要1-7个工作日。"
    assert grounded("Refunds to a bank card take 1-7 business days.", src)
    assert not grounded("Refunds are instant and you get a 10% bonus voucher.", src)
    assert not grounded("", src)
