"""Live-chat pages and the visitor's HTTP endpoints.

- `/widget.js` — the embeddable widget (runs on third-party pages; the visitor endpoints below
  answer CORS requests from any origin: they use the visitor token header, never cookies);
- `/chat-demo` — a page that embeds it; `/agent/chat` — the agents' chat console;
- `POST /chat/start` (pre-chat form → token), `POST /chat/upload` (a file as a chat message),
  `POST /chat/offline` ("contact us by email instead": a ticket, answered by email);
- `GET /agent/chat/context/{session}` — the chat's ticket timeline and the customer's history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from paydesk.domain.errors import InvalidInput, TooLarge
from paydesk.domain.inbound import InboundAttachment, InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import chat as chat_svc
from paydesk.services import intake
from paydesk.services import presence as presence_svc
from paydesk.store.base import utcnow
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.ratelimit import get_limiter
from paydesk.web.sessions import require_staff, staff_session
from paydesk.web.templating import render

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, x-chat-token",
    "Access-Control-Max-Age": "600",
}


class ChatStart(BaseModel):
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    topic: str = Field(default="general", max_length=40)
    locale: str = Field(default="en", max_length=10)


class OfflineMessage(BaseModel):
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    body: str = Field(min_length=1, max_length=20000)
    locale: str = Field(default="en", max_length=10)
    token: str | None = Field(default=None, max_length=500)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=CORS)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.get("/widget.js")
def widget_js() -> Response:
    return FileResponse(
        STATIC / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/chat-demo")
def chat_demo(request: Request, lang: str | None = None) -> Response:
    locale = lang if lang in ("en", "zh-CN") else None
    return render(request, "chat/demo.html", locale=locale)


@router.options("/chat/{path:path}")
def chat_preflight(path: str) -> Response:
    return Response(status_code=204, headers=CORS)


@router.post("/chat/start")
def chat_start(request: Request, ctx: Ctx, body: ChatStart) -> JSONResponse:
    get_limiter(ctx).hit(f"chat-start:{_client_ip(request)}", limit=20, window_seconds=60)
    sess, token = chat_svc.start_chat(
        ctx,
        name=body.name,
        email=body.email,
        phone=body.phone,
        topic=body.topic,
        locale=body.locale,
    )
    return _json({"session": sess.public_id, "token": token, "status": sess.status}, 201)


@router.post("/chat/upload")
async def chat_upload(
    ctx: Ctx,
    file: Annotated[UploadFile, File()],
    client_id: Annotated[str, Form(max_length=64)],
    x_chat_token: Annotated[str, Header(max_length=500)],
    body: Annotated[str, Form(max_length=4000)] = "",
) -> JSONResponse:
    import asyncio

    from paydesk.channels.chat import CLIENT_ID_RE

    sess = await asyncio.to_thread(chat_svc.load_visitor_session, ctx, x_chat_token)
    if not CLIENT_ID_RE.match(client_id):
        raise InvalidInput("invalid client_id", field="client_id")
    data = await file.read(ctx.settings.max_attachment_bytes + 1)
    if len(data) > ctx.settings.max_attachment_bytes:
        raise TooLarge("the file is too large", field="file")
    att = InboundAttachment(file.filename or "file", file.content_type or "", data)
    text = body.strip() or f"[{att.filename}]"
    res = await asyncio.to_thread(chat_svc.send_visitor_message, ctx, sess, client_id, text, [att])
    return _json(
        {
            "client_id": client_id,
            "seq": res.seq,
            "message_id": res.message_id,
            "duplicate": res.duplicate,
        }
    )


@router.post("/chat/offline")
def chat_offline(request: Request, ctx: Ctx, body: OfflineMessage) -> JSONResponse:
    """ "Contact us by email instead": a ticket answered by email, with the bilingual promise."""
    get_limiter(ctx).hit(f"chat-offline:{_client_ip(request)}", limit=10, window_seconds=300)
    if "@" not in body.email:
        raise InvalidInput("invalid email address", field="email")
    res = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB,
            subject="Chat (offline message)",
            body=body.body,
            email=body.email.strip().lower(),
            name=body.name,
            locale=body.locale,
            metadata={"source": "chat-widget-offline"},
        ),
    )
    en, zh = presence_svc.promise_text(ctx, utcnow())
    return _json({"ticket_number": res.ticket_number, "promise": {"en": en, "zh-CN": zh}}, 201)


@router.get("/agent/chat")
def agent_chat_page(request: Request, ctx: Ctx) -> Response:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    return render(request, "chat/agent.html", locale="en", me=info.actor)


@router.get("/agent/chat/context/{public_id}")
def agent_chat_context(request: Request, ctx: Ctx, public_id: str) -> JSONResponse:
    info = staff_session(request, ctx)
    if info is None:
        return JSONResponse({"error": {"code": "unauthenticated", "message": "sign in"}}, 401)
    return JSONResponse(jsonable_encoder(presence_svc.chat_context(ctx, info.actor, public_id)))
