"""Keyword classification of a customer message into a category.

A fallback that always works (bilingual keyword lists); the trained intent model of the assistant
replaces it when one is installed. Scores are simple hit counts; ties go to the earlier category.
"""

from __future__ import annotations

from paydesk.domain.tickets import Category

_KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.COMPLAINT: (
        "complain",
        "complaint",
        "unacceptable",
        "terrible service",
        "worst",
        "ombudsman",
        "regulator",
        "escalate",
        "lawyer",
        "投诉",
        "不满",
        "太差",
        "举报",
        "监管",
        "维权",
    ),
    Category.TRANSACTIONS: (
        "refund",
        "payment",
        "transfer",
        "top-up",
        "top up",
        "topup",
        "charge",
        "charged",
        "transaction",
        "withdraw",
        "deposit",
        "pending",
        "order",
        "money",
        "balance",
        "debited",
        "退款",
        "支付",
        "付款",
        "转账",
        "充值",
        "扣款",
        "扣费",
        "交易",
        "提现",
        "余额",
        "订单",
        "到账",
    ),
    Category.ACCOUNT: (
        "password",
        "log in",
        "login",
        "sign in",
        "locked",
        "register",
        "registration",
        "verification code",
        "profile",
        "phone number",
        "email address",
        "kyc",
        "account",
        "密码",
        "登录",
        "登陆",
        "注册",
        "锁定",
        "冻结",
        "验证码",
        "手机号",
        "邮箱",
        "实名",
        "账户",
        "账号",
    ),
    Category.TECHNICAL: (
        "error",
        "crash",
        "bug",
        "not working",
        "doesn't work",
        "app",
        "outage",
        "down",
        "timeout",
        "loading",
        "blank screen",
        "故障",
        "闪退",
        "报错",
        "打不开",
        "无法",
        "卡住",
        "异常",
    ),
    Category.SUGGESTION: (
        "suggest",
        "suggestion",
        "feature request",
        "would be nice",
        "please add",
        "idea",
        "建议",
        "希望增加",
        "希望能",
        "意见",
    ),
    Category.EDUCATION: (
        "how do i",
        "how to",
        "what is",
        "scam",
        "phishing",
        "safe",
        "security tip",
        "如何",
        "怎么",
        "什么是",
        "诈骗",
        "骗子",
        "安全",
    ),
}


def mentions_complaint(text: str) -> bool:
    """Whether `classify_category(text)` is a complaint (a complaint word anywhere)."""
    t = text.lower()
    return any(w in t for w in _KEYWORDS[Category.COMPLAINT])


def classify_category(text: str) -> Category:
    t = text.lower()
    best = Category.TECHNICAL
    best_score = 0
    for category, words in _KEYWORDS.items():
        score = sum(1 for w in words if w in t)
        # complaints outrank everything they co-occur with: the regulatory clock matters
        if category == Category.COMPLAINT and score:
            return Category.COMPLAINT
        if score > best_score:
            best, best_score = category, score
    return best if best_score else Category.TECHNICAL
