"""Pure rules of CSAT/NPS arithmetic and macro templates (no database)."""

from __future__ import annotations

import pytest

from paydesk.domain import macros as m
from paydesk.domain.csat import (
    Rating,
    Scale,
    clean_comment,
    nps_summary,
    parse_answer,
    parse_nps,
    percent,
)
from paydesk.domain.errors import InvalidInput


def test_parse_answer_binary_and_five_point() -> None:
    assert parse_answer(Scale.BINARY, "good", None) == (Rating.GOOD, None)
    assert parse_answer(Scale.BINARY, "bad", "") == (Rating.BAD, None)
    assert parse_answer(Scale.FIVE, None, "5") == (Rating.GOOD, 5)
    assert parse_answer(Scale.FIVE, None, 4) == (Rating.GOOD, 4)
    assert parse_answer(Scale.FIVE, None, "3") == (Rating.BAD, 3)
    assert parse_answer(Scale.FIVE, "good", None) == (Rating.GOOD, None)  # one-click mail link
    for rating, score in (("great", None), (None, None), (None, "0"), (None, "x"), ("good", "6")):
        with pytest.raises(InvalidInput):
            parse_answer(Scale.FIVE, rating, score)


def test_comment_percent_and_nps() -> None:
    assert clean_comment("  hi\x00\x07 there \n") == "hi there"
    assert len(clean_comment("字" * 5000)) == 2000
    assert percent(2, 3) == 66.7 and percent(0, 0) is None
    assert nps_summary([]).score is None
    s = nps_summary([10, 9, 8, 7, 6, 0])
    assert (s.promoters, s.passives, s.detractors, s.score) == (2, 2, 2, 0.0)
    assert nps_summary([10, 10, 3]).score == 33.3
    assert parse_nps("0") == 0 and parse_nps(10) == 10
    for bad in ("11", "-1", "nine", None):
        with pytest.raises(InvalidInput):
            parse_nps(bad)


def test_macro_templates() -> None:
    values = {"customer.name": "{{agent.name}}", "agent.name": "Wang", "ticket.number": "#10001"}
    # one pass: a value that looks like a placeholder is inserted as written
    assert m.render("Hi {{ customer.name }} / {{agent.name}}", values) == "Hi {{agent.name}} / Wang"
    assert m.render("{{ticket.subject}}", values) == "{{ticket.subject}}"
    m.check_template("Hello {{customer.name}}, {{ ticket.number }}", "body_en")
    with pytest.raises(InvalidInput, match="customer.email"):
        m.check_template("{{customer.email}}", "body_en")
    assert m.pick_body("en", "zh", "zh-CN") == "zh"
    assert m.pick_body("en", "", "zh-CN") == "en"
    assert m.pick_body("", "zh", "en") == "zh"
    assert m.clean_actions({"status": "solved", "add_tags": "A, b，a"}) == {
        "status": "solved",
        "add_tags": ["a", "b"],
    }
    assert m.clean_actions({}) == {}
    for bad in ({"status": "closed"}, {"priority": "asap"}, {"add_tags": [1]}):
        with pytest.raises(InvalidInput):
            m.clean_actions(bad)
    assert m.describe_actions({"status": "pending", "add_tags": ["x"]}) == (
        "status → pending; tags + x"
    )
