"""Agent console: knowledge-base editor (/agent/kb) and the agent-assist ticket panel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import DomainError
from paydesk.domain.permissions import Perm
from paydesk.services import assistant, kb
from paydesk.services.actors import Actor
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.pages.agent import _session
from paydesk.web.pages.help import render_markdown
from paydesk.web.templating import env, render

router = APIRouter(prefix="/agent/kb", include_in_schema=False)


@router.get("")
def kb_list(request: Request, ctx: Ctx, q: str = "", locale: str = "") -> Response:
    info = _session(request, ctx)
    articles = kb.admin_articles(ctx, info.actor, q=q[:500], locale=locale[:10])
    can_write = info.actor.can(Perm.KB_WRITE)
    feedback = kb.feedback_summary(ctx, info.actor, limit=15) if can_write else []
    return render(
        request,
        "kb/list.html",
        locale="en",
        me=info.actor,
        articles=articles,
        feedback=feedback,
        can_write=can_write,
        q=q,
        f_locale=locale,
        query={"q": ""},
    )


def _editor(
    request: Request, actor: Actor, article: dict[str, Any], status_code: int = 200, **kw: Any
) -> Response:
    return render(
        request,
        "kb/edit.html",
        status_code=status_code,
        locale="en",
        me=actor,
        a=article,
        can_write=actor.can(Perm.KB_WRITE),
        preview=render_markdown(article.get("body") or ""),
        query={"q": ""},
        **kw,
    )


_BLANK = {
    "id": "",
    "title": "",
    "locale": "en",
    "body": "",
    "category": "general",
    "tags": [],
    "translation_of": "",
    "status": "draft",
    "visibility": "public",
    "versions": [],
    "feedback": [],
    "new": True,
}


@router.get("/new")
def kb_new(request: Request, ctx: Ctx) -> Response:
    info = _session(request, ctx)
    return _editor(request, info.actor, dict(_BLANK))


@router.get("/{slug}")
def kb_edit(request: Request, ctx: Ctx, slug: str) -> Response:
    info = _session(request, ctx)
    art = kb.admin_article(ctx, info.actor, slug)
    return _editor(request, info.actor, art, saved=request.query_params.get("saved") == "1")


@router.post("/save")
def kb_save(
    request: Request,
    ctx: Ctx,
    slug: Annotated[str, Form(max_length=120)],
    title: Annotated[str, Form(max_length=300)],
    locale: Annotated[str, Form(max_length=10)],
    body: Annotated[str, Form(max_length=200_000)] = "",
    category: Annotated[str, Form(max_length=60)] = "general",
    tags: Annotated[str, Form(max_length=2000)] = "",
    translation_of: Annotated[str, Form(max_length=120)] = "",
    status: Annotated[str, Form(max_length=16)] = "draft",
    visibility: Annotated[str, Form(max_length=16)] = "public",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _session(request, ctx)
    csrf.check(request, info, csrf_token)
    fields = {
        "slug": slug,
        "title": title,
        "locale": locale,
        "body": body,
        "category": category,
        "tags": [t.strip() for t in tags.replace("，", ",").split(",") if t.strip()],
        "translation_of": translation_of.strip() or None,
        "status": status,
        "visibility": visibility,
    }
    try:
        saved = kb.save_article(ctx, info.actor, fields)
    except DomainError as exc:
        article = dict(_BLANK) | fields | {"id": slug, "new": True}
        return _editor(request, info.actor, article, status_code=exc.status, error=exc.message)
    return RedirectResponse(f"/agent/kb/{saved['id']}?saved=1", status_code=303)


def assist_panel(ctx: Any, actor: Actor, ticket: dict[str, Any]) -> Markup | None:
    """Ticket sidebar: articles and a reply draft for the latest customer message."""
    latest = next(
        (
            m
            for m in reversed(ticket.get("messages") or [])
            if m.get("author_type") == "customer" and not m.get("internal")
        ),
        None,
    )
    if latest is None or ticket.get("status") == "closed":
        return None
    text = f"{ticket.get('subject') or ''}\n{latest.get('body') or ''}"
    try:
        s = assistant.suggest_for_text(ctx, text, ticket.get("locale"))
    except Exception:  # a broken index must not take the ticket page down
        import logging

        logging.getLogger(__name__).exception("agent assist failed")
        return None
    html = env.get_template("kb/_assist_panel.html").render(s=s, can_write=actor.is_staff)
    return Markup(html)  # noqa: S704 - rendered by the autoescaping environment
