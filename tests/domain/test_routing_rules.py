"""Routing rules as pure functions: conditions, actions, order, keywords (jieba), validation."""

from __future__ import annotations

import pytest

from paydesk.domain.errors import InvalidInput
from paydesk.domain.routing import (
    DEFAULT_RULES,
    Actions,
    Conditions,
    Facts,
    RoutingRule,
    compile_rules,
    default_routing_rules,
    evaluate,
    parse_actions,
    parse_conditions,
    route,
)
from paydesk.domain.text import search_text
from paydesk.domain.tickets import Category


def _facts(text: str = "", **kw: object) -> Facts:
    base: dict[str, object] = {"category": "technical", "locale": "en", "channel": "web"}
    base.update(kw)
    return Facts(tokens=frozenset(search_text(text).split()), **base)  # type: ignore[arg-type]


def test_seeded_rules_route_exactly_like_the_built_in_table() -> None:
    compiled = compile_rules(default_routing_rules(), "general-en")
    for cat in Category:
        for loc in ("en", "zh-CN"):
            d = evaluate(compiled, _facts(category=cat.value, locale=loc))
            assert d.queue == route(cat, loc), (cat, loc)
    assert len(default_routing_rules()) == len(DEFAULT_RULES)


def test_first_rule_naming_a_queue_wins_and_earlier_actions_add_up() -> None:
    rules = [
        RoutingRule(
            1, "vip", Conditions(customer_tags=("vip",)), Actions(priority="high", tags=("vip",))
        ),
        RoutingRule(2, "refund words", Conditions(keywords=("refund",)), Actions(tags=("refund",))),
        RoutingRule(3, "vip queue", Conditions(customer_tags=("vip",)), Actions(queue="vip-en")),
        RoutingRule(4, "never reached", Conditions(), Actions(queue="general-en", priority="low")),
    ]
    compiled = compile_rules(rules, "general-en")
    d = evaluate(compiled, _facts("Where is my refund?", customer_tags=frozenset({"vip"})))
    assert (d.queue, d.priority, d.tags, d.queue_rule_id) == (
        "vip-en",
        "high",
        ("vip", "refund"),
        3,
    )
    assert d.matched == (0, 1, 2)
    plain = evaluate(compiled, _facts("hello"))
    assert (plain.queue, plain.priority, plain.queue_rule_id) == ("general-en", "low", 4)


def test_disabled_rules_are_skipped_and_the_default_queue_catches_the_rest() -> None:
    rules = [RoutingRule(1, "off", Conditions(), Actions(queue="technical"), enabled=False)]
    d = evaluate(compile_rules(rules, "general-zh"), _facts())
    assert (d.queue, d.queue_rule_id, d.matched) == ("general-zh", None, ())


def test_every_condition_must_hold_and_any_value_of_one_condition_will_do() -> None:
    rule = RoutingRule(
        1,
        "chat or phone, zh, urgent",
        Conditions(channels=("chat", "phone"), locales=("zh-CN",), priorities=("urgent",)),
        Actions(queue="technical"),
    )
    c = compile_rules([rule], None)
    assert (
        evaluate(c, _facts(channel="phone", locale="zh-CN", priority="urgent")).queue == "technical"
    )
    assert evaluate(c, _facts(channel="email", locale="zh-CN", priority="urgent")).queue is None
    assert evaluate(c, _facts(channel="chat", locale="en", priority="urgent")).queue is None
    # no priority from the channel counts as "normal"
    assert evaluate(c, _facts(channel="chat", locale="zh-CN")).queue is None


def test_chinese_keywords_match_through_jieba_tokens() -> None:
    rule = RoutingRule(
        1, "fraud", Conditions(keywords=("被骗", "account frozen")), Actions(queue="x")
    )
    c = compile_rules([rule], None)
    assert c.needs_tokens and not c.needs_intent and not c.needs_customer_tags
    assert evaluate(c, _facts("我昨天被骗了两千元，怎么办")).queue == "x"
    # a phrase needs all its words, in any order
    assert evaluate(c, _facts("My ACCOUNT is frozen since Monday")).queue == "x"
    assert evaluate(c, _facts("my account works")).queue is None
    # "退款" also matches the compound "退款申请" (jieba search mode)
    c2 = compile_rules(
        [RoutingRule(2, "r", Conditions(keywords=("退款",)), Actions(queue="y"))], None
    )
    assert evaluate(c2, _facts("退款申请一直没有处理")).queue == "y"


def test_intent_condition() -> None:
    c = compile_rules(
        [
            RoutingRule(
                1, "lost phrase", Conditions(intents=("crypto_recovery",)), Actions(queue="sec")
            )
        ],
        None,
    )
    assert c.needs_intent
    assert evaluate(c, _facts(intent="crypto_recovery")).queue == "sec"
    assert evaluate(c, _facts(intent=None)).queue is None


def test_parsing_validates_and_normalises() -> None:
    cond = parse_conditions(
        {
            "categories": ["complaint"],
            "keywords": "Refund，  chargeback , ,",
            "customer_tags": ["VIP "],
        }
    )
    assert cond.keywords == ("refund", "chargeback") and cond.customer_tags == ("vip",)
    acts = parse_actions({"queue": " VIP-EN ", "tags": ["Urgent", "urgent"], "priority": "high"})
    assert acts == Actions(queue="vip-en", priority="high", tags=("urgent",))
    bad = [
        ({"categories": ["money"]}, "categories"),
        ({"locales": ["fr"]}, "locales"),
        ({"channels": "fax"}, "channels"),
        ({"keywords": ["!!!"]}, "keywords"),
        ({"keywords": ["x" * 61]}, "keywords"),
        ({"colour": ["red"]}, "conditions"),
        ({"categories": "complaint", "priorities": [3]}, "priorities"),
    ]
    for data, field in bad:
        with pytest.raises(InvalidInput) as err:
            parse_conditions(data)
        assert err.value.field == field, data
    for data, field in [
        ({}, "queue"),
        ({"priority": "asap"}, "priority"),
        ({"team_id": "7"}, "team_id"),
        ({"queue": 5}, "queue"),
        ({"tags": ["t"] * 5 + [str(i) for i in range(10)]}, "tags"),
    ]:
        with pytest.raises(InvalidInput) as err:
            parse_actions(data)
        assert err.value.field == field, data
