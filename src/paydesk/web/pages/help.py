"""Public help center (/help): categories, readable article URLs, search, "was this helpful?".

URLs: /help → /help/<locale>; /help/<locale>/<article id>; /help/<locale>/category/<name>;
/help/<locale>/search?q=. Article Markdown is rendered without raw HTML and cleaned by nh3.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import nh3
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import NotFound
from paydesk.services import assistant, kb
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.ratelimit import client_ip, get_limiter
from paydesk.web.sessions import customer_session
from paydesk.web.templating import render

router = APIRouter(prefix="/help", include_in_schema=False)
LOCALES = ("en", "zh-CN")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Help center",
        "intro": "Answers to common questions about your TOPAY account, payments and security.",
        "search": "Search the help center",
        "search_button": "Search",
        "results_for": "Results for “{q}”",
        "no_results": "No article matches your search. Try other words, or contact us.",
        "helpful": "Was this article helpful?",
        "yes": "Yes",
        "no": "No",
        "comment": "How can we improve it? (optional — never include passwords or codes)",
        "thanks": "Thank you for your feedback.",
        "other_lang": "阅读中文版",
        "back": "All articles",
        "updated": "Updated",
        "contact": "Still need help? Contact us",
        "empty": "No articles yet.",
        "assistant_note": "Answers also come from our 24-hour assistant in the chat.",
    },
    "zh-CN": {
        "title": "帮助中心",
        "intro": "关于 TOPAY 账户、支付和安全的常见问题解答。",
        "search": "搜索帮助中心",
        "search_button": "搜索",
        "results_for": "“{q}”的搜索结果",
        "no_results": "没有找到相关文章，请换个说法试试，或联系我们。",
        "helpful": "这篇文章对您有帮助吗？",
        "yes": "有帮助",
        "no": "没帮助",
        "comment": "我们可以如何改进？（选填，请勿填写密码或验证码）",
        "thanks": "感谢您的反馈。",
        "other_lang": "Read in English",
        "back": "全部文章",
        "updated": "更新于",
        "contact": "仍需帮助？联系我们",
        "empty": "暂无文章。",
        "assistant_note": "在线客服中的 24 小时智能助手也会为您解答。",
    },
}
CATEGORIES: dict[str, dict[str, str]] = {
    "en": {
        "account": "Account",
        "transactions": "Payments and transfers",
        "technical": "App and technical issues",
        "complaints": "Complaints and suggestions",
        "security": "Security and scams",
        "general": "General",
    },
    "zh-CN": {
        "account": "账户",
        "transactions": "支付与转账",
        "technical": "App 与技术问题",
        "complaints": "投诉与建议",
        "security": "安全与防骗",
        "general": "其他",
    },
}


def _texts(locale: str) -> dict[str, str]:
    return TEXTS[locale]


def _cat_name(locale: str, cat: str) -> str:
    return CATEGORIES[locale].get(cat, cat.replace("-", " ").replace("_", " ").title())


@lru_cache(maxsize=1)
def _md() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(body: str) -> Markup:
    """Article Markdown → safe HTML (no raw HTML; nh3 keeps a small tag set, links get rel)."""
    html = _md().render(body)
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))  # noqa: S704


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise NotFound("page not found")
    return locale


def _page(request: Request, ctx: Any, template: str, locale: str, **kw: Any) -> Response:
    csrf.prepare(request, None)
    resp = render(
        request,
        template,
        locale=locale,
        h=_texts(locale),
        cat_name=lambda c: _cat_name(locale, c),
        signed_in=customer_session(request, ctx) is not None,
        other_locale="zh-CN" if locale == "en" else "en",
        **kw,
    )
    return csrf.finish(request, resp)


@router.get("")
def help_root(request: Request) -> Response:
    return RedirectResponse(f"/help/{negotiate(request)}", status_code=303)


@router.get("/{locale}")
def help_home(request: Request, ctx: Ctx, locale: str) -> Response:
    locale = _locale(locale)
    articles = kb.public_articles(ctx, locale)
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in articles:
        groups.setdefault(a["category"], []).append(a)
    order = list(CATEGORIES["en"])
    cats = sorted(groups, key=lambda c: (order.index(c) if c in order else 99, c))
    return _page(request, ctx, "help/home.html", locale, groups=[(c, groups[c]) for c in cats])


@router.get("/{locale}/search")
def help_search(request: Request, ctx: Ctx, locale: str, q: str = "") -> Response:
    locale = _locale(locale)
    q = q[:500]
    results: list[dict[str, Any]] = []
    if q.strip():
        get_limiter(ctx).hit(f"kb:{client_ip(request)}", limit=600, window_seconds=60)
        results = assistant.search(ctx, q, locale, limit=10)
    return _page(request, ctx, "help/search.html", locale, q=q, results=results)


@router.get("/{locale}/category/{category}")
def help_category(request: Request, ctx: Ctx, locale: str, category: str) -> Response:
    locale = _locale(locale)
    articles = kb.public_articles(ctx, locale, category[:60])
    if not articles:
        raise NotFound("no such category")
    return _page(request, ctx, "help/category.html", locale, category=category, articles=articles)


@router.get("/{locale}/{slug}")
def help_article(request: Request, ctx: Ctx, locale: str, slug: str) -> Response:
    locale = _locale(locale)
    art = kb.public_article(ctx, slug)
    if art["locale"] != locale:  # keep URLs canonical: the article's own locale
        return RedirectResponse(f"/help/{art['locale']}/{art['id']}", status_code=301)
    return _page(
        request,
        ctx,
        "help/article.html",
        locale,
        article=art,
        html=render_markdown(art["body"]),
        thanks=request.query_params.get("thanks") == "1",
    )


@router.post("/{locale}/{slug}/feedback")
def help_feedback(
    request: Request,
    ctx: Ctx,
    locale: str,
    slug: str,
    helpful: Annotated[str, Form(max_length=5)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    locale = _locale(locale)
    csrf.check(request, None, csrf_token)
    get_limiter(ctx).hit(f"kbfb:{client_ip(request)}", limit=30, window_seconds=60)
    kb.record_feedback(ctx, slug, helpful == "yes", comment, locale)
    return RedirectResponse(f"/help/{locale}/{slug}?thanks=1#feedback", status_code=303)
