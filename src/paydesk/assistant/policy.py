"""When the assistant must hand over to a person: hard rules first, then answer confidence.

Hard rules (bilingual patterns) always hand off — the customer asks for a person, complains,
reports fraud that happened to them, or says the account is locked or taken over. Questions
*about* those topics ("how do I spot a fake agent?") are education and may be answered.

Confidence comes from the search signals of the best article (see `assistant.search`): fused
score, semantic similarity, lexical coverage and the margin to the next article, combined by a
small logistic model calibrated on tests/fixtures/assistant/eval.jsonl with held-out folds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from paydesk.assistant.search import SearchResult

_I = re.IGNORECASE

HUMAN = re.compile(
    r"转人工|找人工|要人工|接人工|换人工|叫人工|联系人工|人工服务|找真人|真人客服|活人|"
    r"(我要|我想|帮我|给我|请|麻烦)(找|转|接|联系)?(人工|客服人员|真人|工作人员)|"
    r"^\s*(人工|人工客服|客服|真人)\s*[!！。.?？]*\s*$|"
    r"\b(talk|speak|chat|connect|put me through|transfer me)\b.{0,20}\b(human|person|agent|"
    r"someone|representative|staff|operator|people|somebody)\b|"
    r"\b(real|live|actual)\s+(person|human|agent|people)\b|\bhuman\b|\brepresentative\b|"
    r"\boperator\b|^\s*(agent|support)\s*[!.?]*\s*$",
    _I,
)
COMPLAINT = re.compile(
    r"投诉|申诉|举报你们|维权|差评|太差|很不满|不满意|欺骗消费者|监管|银保监|"
    r"\bcomplain|\bcomplaint|\bgrievance\b|\bunacceptable\b|\bterrible service\b|"
    r"\bescalat|\bombudsman\b|\bregulator\b|\bdisgusted\b|\bworst service\b",
    _I,
)
FRAUD = re.compile(
    r"被骗|骗走|骗了我|上当|盗刷|被盗|盗用|冒用|未经授权|未授权|不是我本人|不是我(操作|付|转|买|消费|支付)|"
    r"陌生.{0,6}(扣款|交易|消费|转账|登录)|莫名.{0,6}(扣款|扣钱|扣了|少了|消费)|钱(不见|少)了|"
    r"\bscammed\b|\bdefrauded\b|\bstolen\b|\bstole\b|\bunauthori[sz]ed\b|\bfraudulent\b|"
    r"\bi (did ?n[o']?t|never) (make|authori[sz]e|approve|send|buy|pay)|"
    r"\bdo ?n[o']?t recogni[sz]e\b|\bsomeone (else )?(used|took|accessed|spent|withdrew|moved)|"
    r"\bmoney (is )?(gone|missing|disappeared)\b|\b(was|got|been) (tricked|conned|cheated)\b",
    _I,
)
_SCAM_WORD = re.compile(r"诈骗|骗子|\bscam|\bfraud", _I)
_INCIDENT = re.compile(
    r"我(被|遇到|好像|可能|刚|已经)|(了|啦)[。！!？?]?$|\b(i|we) (was|were|got|have been|"
    r"think i|just|already|gave|sent|paid|transferred)\b|\bmy (money|funds)\b",
    _I,
)
_ACCOUNT = r"(账户|账号|帐户|帐号|钱包|余额|资金|钱)"
LOCKED = re.compile(
    _ACCOUNT + r".{0,8}(冻结|被锁|锁定|锁住|封|停用|限制|异常|被盗|被黑)|"
    r"(冻结|锁定|封禁|封了|盗了|盗用|黑了).{0,6}" + _ACCOUNT + r"|封号|盗号|被黑|"
    r"异地登录|别人登录|陌生设备登录|登不上.{0,4}(账户|账号)|"
    r"\baccount\b.{0,30}\b(locked|frozen|suspended|blocked|disabled|hacked|compromised|"
    r"restricted|closed by you)\b|\b(locked|frozen|suspended|blocked|hacked|compromised)\b.{0,20}"
    r"\baccount\b|\block(ed)? (me )?out\b|\bhacked\b|\bcompromised\b|"
    r"\bsomeone (else )?(logged|signed) in|\btaken over\b|"
    r"\bcan'?t (access|get into) my account\b|\b(funds|money|wallet) (is |are )?(frozen|locked)",
    _I,
)

# reasons, in the order they are checked (the first match wins)
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("fraud", FRAUD),
    ("account_locked", LOCKED),
    ("complaint", COMPLAINT),
    ("human", HUMAN),
]


def rule_reason(text: str) -> str | None:
    """The hard handoff reason for a message, or None."""
    sample = text[:4000]
    for reason, pattern in RULES:
        if pattern.search(sample):
            return reason
    if _SCAM_WORD.search(sample) and _INCIDENT.search(sample):
        return "fraud"
    return None


@dataclass(frozen=True, slots=True)
class Calibration:
    """Logistic model of "the best article answers this", over five search signals.

    Fitted (class-balanced, C=10) on the non-rule questions of tests/fixtures/assistant/eval.jsonl;
    5-fold held-out at this threshold: ~85 % answered correctly, ~91 % of unanswerable questions
    handed off. The margin and the agreement of the signals carry most of the weight: a question
    the KB cannot answer tends to have several near-equal candidates that each signal ranks
    differently.
    """

    intercept: float = -6.395
    w_score: float = 1.809  # fused score of the best family
    w_semantic: float = 3.690  # embedding cosine of the best article
    w_coverage: float = 1.861  # share of the query's IDF found in it
    w_margin: float = 4.761  # lead over the second family
    w_agreement: float = 3.532  # share of the 3 signals that rank it first
    threshold: float = 0.45  # probability above which the assistant answers


DEFAULT = Calibration()


def answer_probability(result: SearchResult, c: Calibration = DEFAULT) -> float:
    if not result.hits:
        return 0.0
    h = result.hits[0]
    z = (
        c.intercept
        + c.w_score * h.score
        + c.w_semantic * h.semantic
        + c.w_coverage * min(h.coverage, 1.0)
        + c.w_margin * result.margin
        + c.w_agreement * result.agreement
    )
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def confident(result: SearchResult, c: Calibration = DEFAULT) -> bool:
    """True when the best article is a safe answer on its own."""
    return answer_probability(result, c) >= c.threshold
