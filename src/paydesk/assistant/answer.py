"""The assistant's words: replies drawn from an article, handoff messages, business hours.

Pure functions (the clock is passed in). Every customer-facing text exists in zh-CN and en, and
every reply says it comes from an automated assistant. Facts in a reply are always sentences of
a knowledge-base article, never generated text.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from paydesk.assistant.search import Doc, normalise, paragraphs
from paydesk.domain.text import tokens

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "I'm TOPAY's virtual assistant (automated).",
        "from_article": "From our help article “{title}”:",
        "more": "Read the full article: {url}",
        "not_helpful": "If this does not solve it, reply “agent” and a person will take over.",
        "handoff.low_confidence": (
            "I'm not sure I have the right answer to that, so I'm passing your question to a "
            "member of our support team."
        ),
        "handoff.human": "Of course — I'm passing you to a member of our support team.",
        "handoff.complaint": (
            "I'm sorry about this. Complaints are handled by a person: I've passed your message "
            "to our complaints team, who will record it and keep you informed."
        ),
        "handoff.fraud": (
            "This needs a person right away: I've passed your message to our security team. "
            "Meanwhile, do not share codes, passwords or your recovery phrase with anyone — "
            "TOPAY staff never ask for them."
        ),
        "handoff.account_locked": (
            "Account access and security problems are handled by a person: I've passed your "
            "message to our account security team. Never share your password or one-time "
            "codes with anyone, including people claiming to be TOPAY staff."
        ),
        "handoff.empty": "Please type your question and I'll try to help.",
        "hours.open": "An agent will reply shortly.",
        "hours.closed": (
            "Our agents work {hours} (China time). We have your message and a person will "
            "answer after {opens}."
        ),
        "secret": (
            "Warning: your message contained sensitive data (for example a card number, "
            "password or code). I removed it — never send secrets in chat, not even to us."
        ),
        "related": "These articles may help meanwhile:",
    },
    "zh-CN": {
        "intro": "我是 TOPAY 智能助手（自动回复）。",
        "from_article": "摘自帮助文章《{title}》：",
        "more": "查看完整文章：{url}",
        "not_helpful": "如果没有解决您的问题，请回复“人工”，我们的客服人员会接手。",
        "handoff.low_confidence": "这个问题我不确定能准确回答，已为您转接人工客服。",
        "handoff.human": "好的，已为您转接人工客服。",
        "handoff.complaint": (
            "很抱歉给您带来不好的体验。投诉由专人处理：您的留言已转给投诉处理团队，"
            "他们会登记并及时告知处理进展。"
        ),
        "handoff.fraud": (
            "这种情况需要人工立即处理：已为您转接安全团队。在此期间，请勿向任何人透露验证码、"
            "密码或助记词——TOPAY 工作人员绝不会索要这些信息。"
        ),
        "handoff.account_locked": (
            "账户登录和安全问题由专人处理：已为您转接账户安全团队。请勿向任何人（包括自称 TOPAY "
            "工作人员的人）透露密码或验证码。"
        ),
        "handoff.empty": "请输入您的问题，我会尽力帮助您。",
        "hours.open": "客服人员将很快回复您。",
        "hours.closed": (
            "人工客服服务时间为每天 {hours}（北京时间）。我们已收到您的留言，客服人员将于 {opens} "
            "之后回复您。"
        ),
        "secret": (
            "提醒：您的消息中包含敏感信息（如银行卡号、密码或验证码），已为您自动隐藏。"
            "请勿在聊天中发送任何密码或验证码，即使对方是我们。"
        ),
        "related": "在等待期间，以下文章或许有帮助：",
    },
}


def text(locale: str, key: str, **kw: object) -> str:
    table = TEXTS.get(locale) or TEXTS["en"]
    return table[key].format(**kw) if kw else table[key]


# ---------- business hours ----------
def parse_hours(spec: str) -> tuple[time, time]:
    """ "08:00-22:00" → (08:00, 22:00); a bad value falls back to 08:00–22:00."""
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", spec or "")
    if not m:
        return time(8), time(22)
    a, b, c, d = (int(x) for x in m.groups())
    if a > 23 or c > 24 or b > 59 or d > 59:
        return time(8), time(22)
    return time(a, b), (time(23, 59, 59) if c == 24 else time(c, d))


def next_opening(now: datetime, spec: str, tz: str) -> datetime | None:
    """None while agents are working; otherwise when they start again (aware, in `tz`)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    start, end = parse_hours(spec)
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone)


def hours_notice(locale: str, now: datetime, spec: str, tz: str) -> str:
    opens = next_opening(now, spec, tz)
    if opens is None:
        return text(locale, "hours.open")
    start, end = parse_hours(spec)
    label = f"{start:%H:%M}–{end:%H:%M}"
    when = (
        opens.strftime("%m月%d日 %H:%M") if locale == "zh-CN" else opens.strftime("%H:%M on %d %b")
    )
    return text(locale, "hours.closed", hours=label, opens=when)


# ---------- replies ----------
def best_passage(doc: Doc, question: str, limit: int = 420) -> str:
    """The article's lead, or the paragraph that shares most words with the question when it
    clearly matches better; cut at a sentence end near `limit` characters."""
    paras = [p for p in paragraphs(doc.body) if len(p) >= 12 and p.strip() != doc.title]
    if not paras:
        return doc.title
    qt = set(tokens(normalise(question[:500])))
    scored = []
    for i, p in enumerate(paras[:20]):
        pt = set(tokens(normalise(p)))
        overlap = len(qt & pt) / (len(qt) or 1)
        scored.append((overlap - 0.05 * i, i))
    best = max(scored)[1] if qt else 0
    passage = paras[best]
    if best == 0 and len(passage) < 120 and len(paras) > 1:
        passage = f"{passage} {paras[1]}"
    return _cut(passage, limit)


def _cut(s: str, limit: int) -> str:
    if len(s) <= limit:
        return s
    head = s[:limit]
    ends = [head.rfind(c) for c in "。！？.!?；"]
    cut = max(ends)
    return head[: cut + 1] if cut > limit // 2 else head.rstrip() + "…"


def article_reply(locale: str, doc: Doc, question: str, url: str, passage: str = "") -> str:
    passage = passage or best_passage(doc, question)
    return "\n\n".join(
        [
            f"{text(locale, 'intro')} {text(locale, 'from_article', title=doc.title)}",
            passage,
            text(locale, "more", url=url),
            text(locale, "not_helpful"),
        ]
    )


def handoff_reply(locale: str, reason: str, notice: str) -> str:
    key = f"handoff.{reason}"
    if key not in TEXTS["en"]:
        key = "handoff.low_confidence"
    return f"{text(locale, 'intro')} {text(locale, key)} {notice}".strip()
