"""Customer portal (/): contact page and request form, sign-in by emailed link, own tickets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from paydesk.domain.errors import DomainError, InvalidInput, NotFound
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Category, Channel
from paydesk.services import auth, intake, portal
from paydesk.services.queries import TicketFilter, list_tickets, ticket_detail
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate, t
from paydesk.web.sessions import (
    CUSTOMER_COOKIE,
    clear_cookie,
    customer_session,
    require_customer,
    set_cookie,
)
from paydesk.web.templating import render

router = APIRouter(include_in_schema=False)

# category-specific fields of the request form: (name, label key, input type)
CATEGORY_FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "transactions": [
        ("transaction_id", "form.transaction_id", "text"),
        ("amount", "form.amount", "text"),
        ("transaction_date", "form.transaction_date", "date"),
    ],
    "technical": [("device", "form.device", "text")],
}


@router.get("/")
def home(request: Request, ctx: Ctx) -> Response:
    info = customer_session(request, ctx)
    csrf.prepare(request, None)
    return csrf.finish(
        request,
        render(
            request,
            "portal/home.html",
            signed_in=info is not None,
            categories=[c.value for c in Category],
            category_fields=CATEGORY_FIELDS,
            values={},
        ),
    )


@router.post("/requests")
async def submit_request(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    csrf.check(request, None, str(form.get("csrf_token", "")))
    locale = negotiate(request)
    values = {k: str(v)[:5000] for k, v in form.items() if isinstance(v, str)}
    category = values.get("category") or None
    if category not in {c.value for c in Category}:
        category = None
    fields = {
        name: values[name][:200]
        for name, _, _ in CATEGORY_FIELDS.get(category or "", [])
        if values.get(name)
    }
    msg = InboundMessage(
        channel=Channel.WEB,
        subject=values.get("subject", "")[:200],
        body=values.get("body", ""),
        email=values.get("email") or None,
        phone=values.get("phone") or None,
        name=values.get("name") or None,
        locale=locale,
        category=category,
        fields=fields,
        idempotency_key=values.get("form_id") or None,
    )
    try:
        if not msg.email:
            raise InvalidInput(t(locale, "form.email"), field="email")
        import asyncio

        result = await asyncio.to_thread(intake.receive, ctx, msg)
    except DomainError as exc:
        csrf.prepare(request, None)
        return render(
            request,
            "portal/home.html",
            status_code=exc.status,
            signed_in=False,
            categories=[c.value for c in Category],
            category_fields=CATEGORY_FIELDS,
            values=values,
            error=t(locale, "form.error", message=exc.message),
        )
    return render(request, "portal/sent.html", number=result.ticket_number)


@router.get("/portal/signin")
def signin_page(request: Request, ctx: Ctx) -> Response:
    csrf.prepare(request, None)
    return csrf.finish(request, render(request, "portal/signin.html"))


@router.post("/portal/signin")
def signin(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form(max_length=254)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    csrf.check(request, None, csrf_token)
    locale = negotiate(request)
    try:
        portal.request_magic_link(ctx, email, locale)
    except InvalidInput as exc:
        csrf.prepare(request, None)
        return render(
            request, "portal/signin.html", status_code=422, error=exc.message, email=email
        )
    return render(request, "portal/signin.html", sent=True)


@router.get("/portal/login/{token}")
def consume_link(request: Request, ctx: Ctx, token: str) -> Response:
    try:
        customer_id = portal.consume_magic_link(ctx, token[:100])
    except NotFound:
        return render(request, "portal/signin.html", status_code=404, invalid=True)
    raw = auth.create_session(
        ctx, customer_id=customer_id, replace=request.cookies.get(CUSTOMER_COOKIE)
    )
    resp = RedirectResponse("/portal/tickets", status_code=303)
    set_cookie(resp, ctx, CUSTOMER_COOKIE, raw)
    return resp


@router.post("/portal/signout")
def signout(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    info = customer_session(request, ctx)
    if info is not None:
        csrf.check(request, info, csrf_token)
        auth.destroy_session(ctx, request.cookies.get(CUSTOMER_COOKIE, ""))
    resp = RedirectResponse("/", status_code=303)
    clear_cookie(resp, CUSTOMER_COOKIE)
    return resp


@router.get("/portal/tickets")
def my_tickets(request: Request, ctx: Ctx) -> Response:
    info = require_customer(request, ctx)
    csrf.prepare(request, info)
    with ctx.read() as s:
        rows, _ = list_tickets(ctx, s, info.actor, TicketFilter(limit=100))
    return render(request, "portal/tickets.html", tickets=rows, signed_in=True)


@router.get("/portal/tickets/{ticket_id}")
def my_ticket(request: Request, ctx: Ctx, ticket_id: int) -> Response:
    info = require_customer(request, ctx)
    if not 0 < ticket_id < 2**31:
        raise NotFound("ticket not found")
    csrf.prepare(request, info)
    ticket = ticket_detail(ctx, info.actor, ticket_id)
    from paydesk.web.pages.survey import portal_panel  # CSAT rating form, when there is one

    survey_panel = portal_panel(request, ctx, info.actor, ticket_id)
    return render(
        request, "portal/ticket.html", tk=ticket, signed_in=True, survey_panel=survey_panel
    )


@router.post("/portal/tickets/{ticket_id}/reply")
def my_ticket_reply(
    request: Request,
    ctx: Ctx,
    ticket_id: int,
    body: Annotated[str, Form(max_length=1_000_000)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_customer(request, ctx)
    csrf.check(request, info, csrf_token)
    portal.customer_reply(ctx, info.actor, ticket_id, body)
    return RedirectResponse(f"/portal/tickets/{ticket_id}", status_code=303)
