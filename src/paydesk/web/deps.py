"""Request dependencies: the app context and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from paydesk.domain.errors import Unauthenticated
from paydesk.services.actors import Actor
from paydesk.services.auth import resolve_token
from paydesk.services.context import AppContext


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(get_ctx)]

MAX_ID = 2_147_483_647  # row ids are 32-bit integers in PostgreSQL
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]  # a path id out of range is a 422, never a 500


def api_actor(request: Request, ctx: Ctx) -> Actor:
    """Bearer token, or an agent console session (the console's own fetches use the API)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return resolve_token(ctx, token.strip())
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
