"""Knowledge-base API: public search and articles, reader feedback, staff writes."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from paydesk.services import assistant, kb
from paydesk.web.deps import ApiActor, Ctx
from paydesk.web.ratelimit import client_ip, get_limiter

router = APIRouter(prefix="/kb", tags=["knowledge base"])

PUBLIC_PER_MINUTE = 600  # per client address; generous: the help center searches as you type


class SearchHit(BaseModel):
    id: str
    title: str
    score: float
    snippet: str
    locale: str
    category: str
    url: str


class SearchResults(BaseModel):
    results: list[SearchHit]


class Feedback(BaseModel):
    helpful: bool
    comment: str = Field(default="", max_length=1000)
    locale: str = Field(default="en", max_length=10)


class ArticleWrite(BaseModel):
    id: str = Field(max_length=120, description="slug, unique in the workspace")
    title: str = Field(max_length=300)
    locale: str = Field(max_length=10)
    body: str = Field(default="", max_length=200_000)
    category: str = Field(default="general", max_length=60)
    tags: list[str] = Field(default_factory=list, max_length=30)
    translation_of: str | None = Field(default=None, max_length=120)
    status: str = Field(default="published", max_length=16)
    visibility: str = Field(default="public", max_length=16)


@router.get("/search", response_model=SearchResults)
def search(
    request: Request,
    ctx: Ctx,
    q: str = Query(default="", max_length=2000),
    locale: str | None = Query(default=None, max_length=10),
    limit: int = Query(default=10, ge=1, le=50),
) -> Response:
    """Hybrid search over published public articles (public, rate limited)."""
    get_limiter(ctx).hit(f"kb:{client_ip(request)}", limit=PUBLIC_PER_MINUTE, window_seconds=60)
    # serialised here: a returned dict would be validated against `SearchResults` in a second
    # thread-pool hand-off (FastAPI does that for plain-function routes); the model stays the
    # documented schema, and tests check responses against it
    body = orjson.dumps({"results": assistant.search(ctx, q, locale, limit=limit)})
    return Response(body, media_type="application/json")


@router.get("/articles/{slug}")
def article(slug: str, ctx: Ctx) -> dict[str, Any]:
    """A published public article (Markdown body) with links to its translations."""
    return kb.public_article(ctx, slug)


@router.post("/articles/{slug}/feedback", status_code=204)
def feedback(slug: str, body: Feedback, request: Request, ctx: Ctx) -> None:
    """ "Was this helpful?" from a reader (public, rate limited)."""
    get_limiter(ctx).hit(f"kbfb:{client_ip(request)}", limit=30, window_seconds=60)
    kb.record_feedback(ctx, slug, body.helpful, body.comment, body.locale)


@router.put("/articles/{slug}")
def write_article(slug: str, body: ArticleWrite, ctx: Ctx, actor: ApiActor) -> dict[str, Any]:
    """Create or update an article (kb.write); every change keeps a version."""
    data = body.model_dump()
    data["slug"] = slug
    data.pop("id", None)
    return kb.save_article(ctx, actor, data)


@router.get("/admin/articles")
def list_articles(
    ctx: Ctx,
    actor: ApiActor,
    q: str = Query(default="", max_length=500),
    locale: str = Query(default="", max_length=10),
) -> dict[str, Any]:
    """Every article of the workspace, drafts and internal ones included (staff)."""
    return {"articles": kb.admin_articles(ctx, actor, q=q, locale=locale)}
