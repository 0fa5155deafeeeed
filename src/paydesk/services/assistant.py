"""The 24-hour assistant: KB search, answer-or-handoff, agent assist, evaluation.

`install(ctx)` (in PLUGINS) gives each process one search index that follows the KB version
counter, registers `ctx.extras["assistant_answer"]` for the chat widget, the demo help center and
a background refresher for the server.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from paydesk.assistant import answer as words
from paydesk.assistant import policy
from paydesk.assistant.llm import LlmClient
from paydesk.assistant.search import IndexHolder, SearchResult, snippet
from paydesk.domain.text import detect_locale
from paydesk.services import kb
from paydesk.services.context import AppContext
from paydesk.store.base import utcnow

log = logging.getLogger(__name__)

CONTENT = Path(__file__).resolve().parent.parent / "assistant" / "content"
MAX_MESSAGE = 4000  # characters considered; a 100 KB paste is cut, not refused
# intent labels of an installed intent model that always mean "a person must handle this"
_HANDOFF_INTENTS = re.compile(r"complain|fraud|scam|human|agent_request|locked|compromis", re.I)
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


def install(ctx: AppContext) -> None:
    ctx.extras["kb_index"] = IndexHolder(
        lambda: kb.load_docs(ctx), lambda: kb.read_version(ctx), poll_seconds=2.0
    )
    ctx.extras["assistant_answer"] = answer
    ctx.extras.setdefault("background", []).append(_refresh_loop)
    ctx.extras.setdefault("demo_seeders", []).append(seed_help_center)


async def _refresh_loop(ctx: AppContext) -> None:
    """Keep this process's index current (first build at start-up, then every ~2 s)."""
    holder: IndexHolder = ctx.extras["kb_index"]
    while True:
        try:
            await asyncio.to_thread(holder.refresh)
        except Exception:
            log.exception("knowledge-base index refresh failed")
        await asyncio.sleep(holder.poll_seconds)


def seed_help_center(ctx: AppContext) -> dict[str, Any]:
    """Demo: import the TOPAY help center shipped in assistant/content (idempotent)."""
    return kb.import_files(ctx, sorted(CONTENT.glob("*.md")))


def _holder(ctx: AppContext) -> IndexHolder:
    holder = ctx.extras.get("kb_index")
    if holder is None:  # a context built without PLUGINS (scripts)
        holder = IndexHolder(lambda: kb.load_docs(ctx), lambda: kb.read_version(ctx))
        ctx.extras["kb_index"] = holder
    return holder  # type: ignore[no-any-return]


def _locale(text: str, locale: str | None) -> str:
    if locale in ("en", "zh-CN"):
        return locale
    if locale and locale.lower().startswith("zh"):
        return "zh-CN"
    return detect_locale(text, "en")


def article_url(ctx: AppContext, locale: str, slug: str, *, absolute: bool = False) -> str:
    path = f"/help/{locale}/{slug}"
    return ctx.settings.base_url.rstrip("/") + path if absolute else path


def search(
    ctx: AppContext,
    q: str,
    locale: str | None = None,
    *,
    limit: int = 10,
    include_internal: bool = False,
) -> list[dict[str, Any]]:
    """Public KB search: [{"id", "title", "score", "snippet", "locale", "url"}], best first."""
    q = (q or "")[:MAX_MESSAGE].strip()
    if not q:
        return []
    loc = _locale(q, locale)
    res = (
        _holder(ctx)
        .get()
        .search(q, locale=loc, limit=max(1, min(limit, 50)), include_internal=include_internal)
    )
    return [
        {
            "id": h.slug,
            "title": h.title,
            "score": round(h.score, 4),
            "snippet": snippet(h.doc, q),
            "locale": h.locale,
            "category": h.category,
            "url": article_url(ctx, h.locale, h.slug),
        }
        for h in res.hits
    ]


def _intent(ctx: AppContext, text: str, locale: str) -> tuple[str | None, float]:
    model = ctx.extras.get("intent_model")
    if model is None:
        return None, 0.0
    try:
        label, conf = model.predict(text, locale)
        return str(label), float(conf)
    except Exception:  # the assistant must answer even if the intent model is broken
        log.exception("intent model failed")
        return None, 0.0


def answer(ctx: AppContext, message: str, locale: str | None = None) -> dict[str, Any]:
    """Answer from the KB or hand off. Never raises for any text.

    Returns {"handoff", "reply", "articles": [{"id","title","score"}], "intent", "reason",
    "redacted", "message"} — `message` is the redacted text to store with a handoff.
    """
    raw = message if isinstance(message, str) else ""
    raw = raw[:MAX_MESSAGE]
    red = ctx.redactor.redact(raw)
    text = red.text.strip()
    loc = _locale(text, locale)
    warn = words.text(loc, "secret") if red.findings else ""
    base = {"redacted": bool(red.findings), "message": red.text}

    def out(handoff: bool, reply: str, reason: str, arts: list[Any], intent: str | None) -> dict:
        if warn:
            reply = f"{warn}\n\n{reply}"
        return {
            "handoff": handoff,
            "reply": reply,
            "articles": arts,
            "intent": intent,
            "reason": reason,
            **base,
        }

    notice = words.hours_notice(
        loc, utcnow(), ctx.settings.assistant_business_hours, ctx.settings.timezone
    )
    if not _LETTERS.search(text):  # empty, emoji-only, digits-only: nothing to search for
        if warn:  # they only pasted a secret: a person should look (and warn again)
            return out(True, words.handoff_reply(loc, "low_confidence", notice), "secret", [], None)
        return out(
            False,
            f"{words.text(loc, 'intro')} {words.text(loc, 'handoff.empty')}",
            "empty",
            [],
            None,
        )
    intent, intent_conf = _intent(ctx, text, loc)
    reason = policy.rule_reason(text)
    if reason is None and intent and intent_conf >= 0.9 and _HANDOFF_INTENTS.search(intent):
        reason = "intent"
    res: SearchResult = _holder(ctx).get().search(text, locale=loc, limit=3)
    arts = [{"id": h.slug, "title": h.title, "score": round(h.score, 4)} for h in res.hits]
    intent = intent or reason or (res.hits[0].category if res.hits else None)
    if reason is not None:
        reply = words.handoff_reply(loc, reason if reason != "intent" else "human", notice)
        return out(True, reply, reason, arts, intent)
    if not policy.confident(res):
        reply = words.handoff_reply(loc, "low_confidence", notice)
        if arts and policy.answer_probability(res) >= policy.DEFAULT.threshold / 3:
            titles = "\n".join(
                f"- {h.title}: {article_url(ctx, h.locale, h.slug)}" for h in res.hits
            )
            reply += f"\n\n{words.text(loc, 'related')}\n{titles}"
        return out(True, reply, "low_confidence", arts, intent)
    top = res.hits[0]
    url = article_url(ctx, top.locale, top.slug, absolute=True)
    passage = _generate(ctx, text, top.doc, loc) or ""
    return out(
        False, words.article_reply(loc, top.doc, text, url, passage), "answered", arts, intent
    )


def _generate(ctx: AppContext, question: str, doc: Any, locale: str) -> str | None:
    s = ctx.settings
    if not s.assistant_llm_url:
        return None
    client = LlmClient(
        s.assistant_llm_url,
        s.assistant_llm_model,
        s.assistant_llm_key,
        s.assistant_llm_timeout_seconds,
    )
    return client.rephrase(question, doc.title, doc.body, locale)


def suggest_for_text(ctx: AppContext, text: str, locale: str | None = None) -> dict[str, Any]:
    """Agent assist: top articles (internal ones included) and a reply draft for a message."""
    red = ctx.redactor.redact((text or "")[:MAX_MESSAGE]).text
    # the customer's own words decide the language of the draft (ticket locale is a fallback)
    loc = detect_locale(red, _locale(red, locale))
    if not red.strip():
        return {"articles": [], "draft": ""}
    res = _holder(ctx).get().search(red, locale=loc, limit=3, include_internal=True)
    arts = [
        {
            "id": h.slug,
            "title": h.title,
            "score": round(h.score, 3),
            "url": article_url(ctx, h.locale, h.slug),
            "visibility": h.doc.visibility,
        }
        for h in res.hits
    ]
    draft = ""
    if res.hits:
        top = res.hits[0]
        passage = words.best_passage(top.doc, red, limit=600)
        link = (
            ""
            if top.doc.visibility != "public"
            else "\n\n"
            + words.text(loc, "more", url=article_url(ctx, top.locale, top.slug, absolute=True))
        )
        greet = "您好，" if loc == "zh-CN" else "Hello,"
        draft = f"{greet}\n\n{passage}{link}"
    return {"articles": arts, "draft": draft, "locale": loc}


def evaluate(ctx: AppContext, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Score the assistant on {"q", "locale", "expect": slug | null} rows.

    top1_accuracy: answered (no handoff) with the expected article, over answerable rows;
    handoff precision/recall: over rows that expect null (the KB cannot or must not answer).
    """
    n_ans = correct = 0
    tp = fp = fn = 0
    misses: list[dict[str, Any]] = []
    for row in rows:
        r = answer(ctx, str(row.get("q", "")), row.get("locale"))
        expect = row.get("expect")
        got = None if r["handoff"] else (r["articles"][0]["id"] if r["articles"] else None)
        if expect:
            n_ans += 1
            if got == expect:
                correct += 1
            else:
                misses.append(
                    {"q": row.get("q"), "expect": expect, "got": got, "reason": r["reason"]}
                )
        if r["handoff"] and not expect:
            tp += 1
        elif r["handoff"] and expect:
            fp += 1
        elif not r["handoff"] and not expect:
            fn += 1
            misses.append({"q": row.get("q"), "expect": None, "got": got, "reason": r["reason"]})
    n_un = tp + fn
    return {
        "questions": n_ans + n_un,
        "answerable": n_ans,
        "unanswerable": n_un,
        "top1_accuracy": round(correct / n_ans, 4) if n_ans else None,
        "handoff_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "handoff_recall": round(tp / n_un, 4) if n_un else None,
        "misses": misses,
    }
