"""`LeanRoute`: the hottest JSON endpoints without FastAPI's per-request machinery when the
request is the common, valid case.

FastAPI solves a route's dependencies and validates its body through generic code that costs
more than the whole of some handlers (about 0.2 ms of CPU a request for `POST /api/v1/tickets`,
where intake's own work is about 1 ms). A `LeanRoute` serves a request itself when it can prove
that FastAPI would call the endpoint with the same arguments:

- the endpoint's parameters are one Pydantic body model, the app context (`get_ctx`) and the
  API actor (`api_actor`), and no other dependency applies (the route's or its router's);
- the request says `application/json`, its body parses as JSON and validates as the model
  (validated from the parsed object, as FastAPI does), and its bearer token is in the process's
  token cache (`cached_token_actor`, which `api_actor` asks first too);
- no dependency overrides are set on the app.

Anything else (a bad body, an unknown or uncached token, a console session, another content
type) goes to FastAPI's own handler, so every error answer stays FastAPI's. The route is still an
`APIRoute`: the OpenAPI document is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from paydesk.services.auth import cached_token_actor
from paydesk.web.deps import api_actor, bearer_token, get_ctx

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class LeanRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        plan = _plan(self._effective())
        if plan is None:
            return standard
        body_name, model, ctx_name, actor_name = plan
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            ctype = request.headers.get("content-type", "")
            if ctype.partition(";")[0].strip().lower() == "application/json":
                ctx = request.app.state.ctx
                token = bearer_token(request)
                actor = cached_token_actor(ctx, token) if token else None
                if actor is not None and not request.app.dependency_overrides:
                    try:
                        body = model.model_validate(orjson.loads(await request.body()))
                    except (orjson.JSONDecodeError, ValidationError):
                        pass  # FastAPI's handler parses again and answers with its error
                    else:
                        args = {body_name: body, ctx_name: ctx, actor_name: actor}
                        return await endpoint(**args)  # type: ignore[no-any-return]
            return await standard(request)

        return handler

    def _effective(self) -> Any:
        """This route as included in its app (with the including routers' dependencies): FastAPI
        builds the handler once per inclusion, with that context set."""
        var = getattr(fastapi_routing, "_effective_route_context_var", None)
        context = var.get() if var is not None else None
        if context is not None and getattr(context, "original_route", None) is self:
            return context
        return self


def _plan(route: Any) -> tuple[str, type[BaseModel], str, str] | None:
    """(body parameter, body model, context parameter, actor parameter) when the endpoint is an
    async (body, ctx, actor) function with no other dependency or parameter; else None."""
    import inspect

    dependant = route.dependant
    if not inspect.iscoroutinefunction(route.endpoint):
        return None
    if (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.request_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or len(dependant.body_params) != 1
        or len(dependant.dependencies) != 2
    ):
        return None
    names = {d.call: d.name for d in dependant.dependencies}
    if set(names) != {get_ctx, api_actor}:
        return None
    field = dependant.body_params[0]
    model = field.field_info.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return field.name, model, names[get_ctx], names[api_actor]
