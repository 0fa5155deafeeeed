"""Request dependencies: the app context and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from paydesk.domain.errors import Unauthenticated
from paydesk.services.actors import Actor
from paydesk.services.auth import cached_token_actor, resolve_token
from paydesk.services.context import AppContext


async def get_ctx(request: Request) -> AppContext:
    """`async` although it awaits nothing: FastAPI runs a plain-function dependency in the
    thread pool, i.e. one thread hand-off per request just to read an attribute (on a busy
    machine each hand-off can wait milliseconds for a core)."""
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(get_ctx)]

MAX_ID = 2_147_483_647  # row ids are 32-bit integers in PostgreSQL
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]  # a path id out of range is a 422, never a 500


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def api_actor(request: Request, ctx: Ctx) -> Actor:
    """Bearer token, or an agent console session (the console's own fetches use the API).
    `async` like `get_ctx`: a token used in the last seconds is answered from the process's
    cache on the event loop; a lookup that reads the database runs in the thread pool."""
    raw = bearer_token(request)
    if raw:
        return cached_token_actor(ctx, raw) or await run_in_threadpool(resolve_token, ctx, raw)
    return await run_in_threadpool(_session_actor, request, ctx)


def _session_actor(request: Request, ctx: AppContext) -> Actor:
    from paydesk.web.sessions import staff_session

    info = staff_session(request, ctx)
    if info is not None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            from paydesk.services.auth import csrf_ok

            if not csrf_ok(info.csrf_token, request.headers.get("x-csrf-token")):
                raise Unauthenticated("missing or wrong X-CSRF-Token header")
        return info.actor
    raise Unauthenticated("missing bearer token")


ApiActor = Annotated[Actor, Depends(api_actor)]
