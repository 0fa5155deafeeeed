"""Public satisfaction pages: `/survey/{token}` (CSAT) and `/nps/{token}` (0–10), no sign-in.

GET never writes (mail scanners open links): a choice in the link (`?rating=good`, `?score=4`)
is only preselected, and one click on it records the answer. POSTs carry the anonymous
double-submit CSRF token and are rate limited per client address. The signed-in customer's
ticket page offers the same form (`portal_panel`), answered through `/portal/tickets/{id}/rating`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import DomainError, InvalidInput, NotFound
from paydesk.services import csat
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import LOCALES, negotiate
from paydesk.web.ratelimit import get_limiter
from paydesk.web.sessions import require_customer
from paydesk.web.templating import env, render

router = APIRouter(include_in_schema=False)

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "How did we do?",
        "nps_title": "How likely are you to recommend TOPAY?",
        "nps_intro": "0 = not at all likely, 10 = extremely likely.",
        "request": "Your request #{number}: {subject}",
        "good": "Good, I'm satisfied",
        "bad": "Bad, I'm unsatisfied",
        "star": "{n} of 5",
        "comment": "Anything you would like to tell us? (optional)",
        "comment_hint": "Please do not write passwords, card numbers or codes here.",
        "send": "Save my answer",
        "thanks": "Thank you for your feedback!",
        "current": "Your answer: {answer}",
        "change": "You can change your answer until {date}.",
        "expired": "This survey has closed. Thank you for your time.",
        "invalid": "This survey link is not valid. Please use the link from your message.",
        "chosen": "selected",
        "portal_title": "Rate this request",
        "nps_answer": "{n} of 10",
    },
    "zh-CN": {
        "title": "您对我们的服务满意吗？",
        "nps_title": "您有多大可能向朋友推荐 TOPAY？",
        "nps_intro": "0 = 完全不可能，10 = 非常可能。",
        "request": "您的工单 #{number}：{subject}",
        "good": "满意",
        "bad": "不满意",
        "star": "{n} 分（满分 5 分）",
        "comment": "还有什么想告诉我们的吗？（选填）",
        "comment_hint": "请勿在此填写密码、银行卡号或验证码。",
        "send": "提交评价",
        "thanks": "感谢您的反馈！",
        "current": "您的评价：{answer}",
        "change": "在 {date} 之前，您可以修改评价。",
        "expired": "本次调查已结束，感谢您的参与。",
        "invalid": "此评价链接无效，请使用消息中的链接。",
        "chosen": "已选",
        "portal_title": "评价本次服务",
        "nps_answer": "{n} 分（满分 10 分）",
    },
}


def _locale(request: Request, fallback: str) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("pd_lang")
    return lang if lang in LOCALES else (fallback if fallback in LOCALES else "en")


def _answer_label(view: csat.SurveyView, tx: dict[str, str]) -> str:
    if view.kind == "nps":
        return tx["nps_answer"].format(n=view.score) if view.score is not None else ""
    if view.score is not None:
        return tx["star"].format(n=view.score)
    return tx[view.rating] if view.rating in ("good", "bad") else ""


def _page(
    request: Request,
    view: csat.SurveyView,
    action: str,
    *,
    status_code: int = 200,
    error: str = "",
    saved: bool = False,
    comment: str | None = None,
) -> Response:
    locale = _locale(request, view.locale)
    tx = TEXTS[locale]
    expired = view.expires_at <= _now()
    qp = request.query_params
    return csrf.finish(
        request,
        render(
            request,
            "survey/page.html",
            status_code=status_code,
            locale=locale,
            s=tx,
            v=view,
            action=action,
            expired=expired,
            saved=saved,
            error=error,
            answer=_answer_label(view, tx),
            comment=view.comment if comment is None else comment,
            pre_rating=qp.get("rating") if qp.get("rating") in ("good", "bad") else view.rating,
            pre_score=_int(qp.get("score"), view.score),
            signed_in=False,
        ),
    )


def _now() -> Any:
    from paydesk.store.base import utcnow

    return utcnow()


def _int(value: str | None, default: int | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 2 else default


def _limit(request: Request, ctx: AppContext) -> None:
    ip = request.client.host if request.client else "unknown"
    get_limiter(ctx).hit(f"survey:{ip}", limit=30, window_seconds=60)


def _gone(request: Request, exc: DomainError) -> Response:
    """A forged, unknown or long-expired link: a bilingual page (JSON for API-style clients)."""
    from paydesk.web.errors import error_body, wants_html

    if not wants_html(request):
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)
    locale = negotiate(request)
    tx = TEXTS[locale]
    message = tx["expired"] if isinstance(exc, csat.SurveyExpired) else tx["invalid"]
    return render(
        request,
        "survey/page.html",
        status_code=exc.status,
        locale=locale,
        s=tx,
        v=None,
        gone=message,
        signed_in=False,
    )


@router.get("/survey/{token}")
def survey_page(request: Request, ctx: Ctx, token: str) -> Response:
    csrf.prepare(request, None)
    try:
        view = csat.find_survey(ctx, token)
    except (NotFound, csat.SurveyExpired) as exc:
        return _gone(request, exc)
    return _page(request, view, f"/survey/{token}", saved=request.query_params.get("saved") == "1")


@router.post("/survey/{token}")
def survey_answer(
    request: Request,
    ctx: Ctx,
    token: str,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    rating: Annotated[str, Form(max_length=10)] = "",
    score: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    csrf.check(request, None, csrf_token)
    _limit(request, ctx)
    try:
        csat.rate(ctx, token, rating=rating or None, score=score or None, comment=comment)
    except (NotFound, csat.SurveyExpired) as exc:
        return _gone(request, exc)
    except InvalidInput as exc:
        csrf.prepare(request, None)
        view = csat.find_survey(ctx, token)
        return _page(
            request, view, f"/survey/{token}", status_code=422, error=exc.message, comment=comment
        )
    return RedirectResponse(f"/survey/{token}?saved=1", status_code=303)


@router.get("/nps/{token}")
def nps_page(request: Request, ctx: Ctx, token: str) -> Response:
    csrf.prepare(request, None)
    try:
        view = csat.find_nps(ctx, token)
    except (NotFound, csat.SurveyExpired) as exc:
        return _gone(request, exc)
    return _page(request, view, f"/nps/{token}", saved=request.query_params.get("saved") == "1")


@router.post("/nps/{token}")
def nps_answer(
    request: Request,
    ctx: Ctx,
    token: str,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    score: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    csrf.check(request, None, csrf_token)
    _limit(request, ctx)
    try:
        csat.answer_nps(ctx, token, score=score, comment=comment)
    except (NotFound, csat.SurveyExpired) as exc:
        return _gone(request, exc)
    except InvalidInput as exc:
        csrf.prepare(request, None)
        view = csat.find_nps(ctx, token)
        return _page(
            request, view, f"/nps/{token}", status_code=422, error=exc.message, comment=comment
        )
    return RedirectResponse(f"/nps/{token}?saved=1", status_code=303)


@router.post("/portal/tickets/{ticket_id}/rating")
def portal_rating(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    rating: Annotated[str, Form(max_length=10)] = "",
    score: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    info = require_customer(request, ctx)
    csrf.check(request, info, csrf_token)
    csat.rate_from_portal(
        ctx, info.actor, ticket_id, rating=rating or None, score=score or None, comment=comment
    )
    return RedirectResponse(f"/portal/tickets/{ticket_id}#rating", status_code=303)


def portal_panel(request: Request, ctx: AppContext, actor: Actor, ticket_id: int) -> Markup | None:
    """The rating form on the customer's own ticket page (None when there is nothing to rate)."""
    try:
        view = csat.portal_survey(ctx, actor, ticket_id)
    except DomainError:
        return None
    if view is None:
        return None
    locale = _locale(request, view.locale)
    tx = TEXTS[locale]
    html = env.get_template("survey/_form.html").render(
        s=tx,
        v=view,
        action=f"/portal/tickets/{ticket_id}/rating",
        csrf_token=getattr(request.state, "csrf_token", ""),
        answer=_answer_label(view, tx),
        comment=view.comment,
        pre_rating=view.rating,
        pre_score=view.score,
        portal=True,
    )
    return Markup(html)
