"""Sender authentication policy of the email channel.

A `From` header is whatever the sender typed. paydesk trusts the `Authentication-Results` of its
own MTA (`PAYDESK_EMAIL_TRUSTED_AUTHSERV_ID`) and, with `PAYDESK_EMAIL_VERIFY_DKIM=true`, checks
DKIM signatures itself (DNS through `ctx.extras["email_dkim_resolver"]`, dnspython by default).

An *unverified* sender (verdict fail; or no pass evidence when
`PAYDESK_EMAIL_REQUIRE_SENDER_AUTH=true`) still gets a ticket message — mail is never dropped —
but: it joins an existing ticket only through our signed reply token (never by subject tag or
bare In-Reply-To/References), it is flagged for agents (`meta.sender_unverified`, a badge in the
console), it gets no auto-acknowledgement, its Cc addresses are not made ticket participants,
and an `email.sender_unverified` audit event records the evidence.
"""

from __future__ import annotations

import logging
from typing import Any

from paydesk.channels.email.auth import NONE, SenderAuth, TxtResolver, check_sender, evaluate
from paydesk.domain.inbound import InboundMessage
from paydesk.services import audit
from paydesk.services.actors import system_actor
from paydesk.services.context import AppContext

log = logging.getLogger(__name__)


def trusted_ids(ctx: AppContext) -> set[str]:
    raw = ctx.settings.email_trusted_authserv_id
    return {x.strip().lower() for x in raw.split(",") if x.strip()}


def resolver(ctx: AppContext) -> TxtResolver | None:
    if not ctx.settings.email_verify_dkim:
        return None
    found = ctx.extras.get("email_dkim_resolver")
    if found is None:
        from paydesk.channels.email.auth import dns_txt_resolver

        found = ctx.extras.setdefault("email_dkim_resolver", dns_txt_resolver())
    return found  # type: ignore[no-any-return]


def check(ctx: AppContext, raw: bytes, from_addr: str | None, *, dkim: bool = True) -> SenderAuth:
    """The verdict for one message (`none` at once when nothing is configured)."""
    ids = trusted_ids(ctx)
    res = resolver(ctx) if dkim else None
    if not ids and res is None:
        return evaluate(from_addr, [])
    try:
        return check_sender(raw, from_addr, trusted_ids=ids, resolver=res)
    except Exception as exc:  # noqa: BLE001 - fail closed: stored, but joins only by token
        log.warning("sender authentication check failed: %s", exc)
        domain = (from_addr or "").rpartition("@")[2]
        return SenderAuth("fail", domain, (), (f"check failed ({type(exc).__name__})",))


def is_unverified(ctx: AppContext, auth: SenderAuth) -> bool:
    if auth.verdict == "fail":
        return True
    return auth.verdict == NONE and ctx.settings.email_require_sender_auth


def apply(ctx: AppContext, inbound: InboundMessage, auth: SenderAuth) -> bool:
    """Record the verdict on the inbound message. Returns whether header and subject-tag
    threading may be trusted for this sender (False: only the signed token)."""
    configured = bool(trusted_ids(ctx)) or ctx.settings.email_verify_dkim
    if configured:
        inbound.metadata["email"]["auth"] = auth.as_meta()
    if not is_unverified(ctx, auth):
        return True
    inbound.metadata["sender_unverified"] = True
    inbound.hook_data["no_ack"] = True  # never mail the real owner of a forged address
    inbound.hook_data["sender_unverified"] = auth
    return False


def record_unverified(
    ctx: AppContext, uow: Any, ticket: Any, message: Any, inbound: Any, created: bool
) -> None:
    """after_intake: the audit event of an unverified sender (in the intake transaction)."""
    auth = inbound.hook_data.get("sender_unverified")
    if auth is None:
        return
    meta = inbound.metadata.get("email") or {}
    audit.append(
        uow.session,
        system_actor(ticket.workspace_id),
        "email.sender_unverified",
        object_type="ticket",
        object_id=ticket.id,
        customer_id=ticket.customer_id,
        details={
            "message_id": message.id,
            "from": inbound.email,
            "verdict": auth.verdict,
            "reasons": list(auth.reasons),
            "refused_clues": meta.get("thread_refused", []),
            "joined": None if created else "token",
        },
    )
