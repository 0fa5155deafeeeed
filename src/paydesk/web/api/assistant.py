"""The assistant API the chat widget and integrations call: answer or hand off."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from paydesk.services import assistant
from paydesk.web.deps import Ctx
from paydesk.web.ratelimit import client_ip, get_limiter

router = APIRouter(prefix="/assistant", tags=["assistant"])

PER_MINUTE = 600  # per client address
JSON = "application/json"


class Question(BaseModel):
    # generous bound: a pasted 100 KB log is answered (cut to its start), not refused
    message: str = Field(default="", max_length=300_000)
    locale: str | None = Field(default=None, max_length=20)


class ArticleRef(BaseModel):
    id: str
    title: str
    score: float


class Answer(BaseModel):
    handoff: bool
    reply: str
    articles: list[ArticleRef]
    intent: str | None
    reason: str
    redacted: bool


@router.post("/answer", response_model=Answer)
def answer(body: Question, request: Request, ctx: Ctx) -> Response:
    """Answer from the knowledge base, or hand off to a person (public, rate limited)."""
    get_limiter(ctx).hit(f"assistant:{client_ip(request)}", limit=PER_MINUTE, window_seconds=60)
    # serialised here, like the KB search: a returned dict costs a second thread-pool hand-off
    # for validating it against `Answer`, which stays the documented schema (checked in tests)
    data = assistant.answer(ctx, body.message, body.locale)
    return Response(orjson.dumps({k: data[k] for k in Answer.model_fields}), media_type=JSON)
