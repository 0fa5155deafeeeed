"""The answer-or-handoff policy on a knowledge base it was not written against.

tests/fixtures/assistant/heldout_kb is a second bilingual KB (23 families on other payment
topics: bill splitting, subscriptions, disputes, virtual cards…) with its own 209 questions —
paraphrases, colloquial wording, typos, mixed Chinese-English, and 52 the KB cannot or must not
answer (topics it lacks, off-topic, prompt injection, people/complaint/fraud/locked cases).
Imported through the real service and asked through the real assistant, on both databases.
"""

from __future__ import annotations

import json
from pathlib import Path

from paydesk.assistant.policy import rule_reason
from paydesk.services import kb
from paydesk.services.assistant import evaluate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "assistant"


def test_heldout_kb_answers_and_hands_off_at_target(ctx):
    counts = kb.import_files(ctx, sorted((FIXTURES / "heldout_kb").glob("*.md")))
    assert (counts["created"], counts["failed"]) == (46, 0)
    lines = (FIXTURES / "heldout_eval.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines if x.strip()]
    result = evaluate(ctx, rows)
    assert result["answerable"] == 157 and result["unanswerable"] == 52
    # measured 91.1 % / 96.2 %; a little room for database-order ties, none for a regression
    assert result["top1_accuracy"] >= 0.89, result["misses"]
    assert result["handoff_recall"] >= 0.92, result["misses"]


def test_hard_rules_do_not_fire_on_everyday_account_words():
    # "限制" (limit) next to 账户 is a parental-control question, not a locked account
    assert rule_reason("想给小孩开个子账户，能限制玩游戏花钱吗") is None
    assert rule_reason("我的账户被限制了") == "account_locked"
    assert rule_reason("账户受限怎么办") == "account_locked"
    assert rule_reason("my account is restricted") == "account_locked"
