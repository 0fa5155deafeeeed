"""Account actions on the payment platform, each after identity verification, and the
capability's `install(ctx)`.

- password reset: paydesk asks the platform to send its own reset link; no password is ever
  seen, set or stored here;
- contact change: needs a check of a registered channel and of the new contact; afterwards a
  cooling-off notice goes to the old contact ("if this wasn't you…");
- freeze on suspected compromise: one click, no verification (it protects the customer),
  audited; unfreezing needs a verification again.

Each action: consume the verification(s) and audit in one transaction → call the platform with
an idempotency key → record the outcome. If the platform fails, the verification is released and
the failure audited, so nothing is left half-done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from paydesk.channels.sms import FileSmsSender, HttpSmsSender, SmsSender
from paydesk.domain.errors import DomainError, InvalidInput
from paydesk.domain.identities import IdentityKind, normalize
from paydesk.domain.permissions import Perm
from paydesk.payments.breaker import CircuitBreaker
from paydesk.payments.http import HttpPlatform
from paydesk.payments.port import Account, PaymentPlatform
from paydesk.payments.sandbox import SandboxPlatform
from paydesk.services import audit
from paydesk.services import verification as verif
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_system_note, auto_link, mask, platform, require_account
from paydesk.store.customers import Customer

log = logging.getLogger(__name__)

NOTICE = {
    "en": (
        "Your TOPAY {kind} was changed",
        "The {kind} on your TOPAY account was changed to {new} at the request of the account "
        "holder, after identity verification.\nIf this wasn't you, reply to this message or call "
        "400-800-8888 right away: for the next 24 hours outgoing transfers are limited and the "
        "change can be reversed.",
    ),
    "zh-CN": (
        "您的 TOPAY {kind}已变更",
        "经身份验证，您的 TOPAY 账户{kind}已按账户持有人的要求变更为 {new}。\n"
        "如非本人操作，请立即回复本邮件或致电 400-800-8888："
        "24 小时内转出将受限，且可撤销此次变更。",
    ),
}
KIND_NAMES = {
    "en": {"email": "email", "phone": "phone number"},
    "zh-CN": {"email": "邮箱", "phone": "手机号"},
}


def make_platform(ctx: AppContext) -> PaymentPlatform:
    st = ctx.settings
    if st.payments_url:
        return HttpPlatform(
            st.payments_url,
            token=st.payments_token,
            timeout=st.payments_timeout_seconds,
            breaker=CircuitBreaker(),
        )
    return SandboxPlatform(ctx.sessions, ctx.read, settle_seconds=st.sandbox_refund_settle_seconds)


def make_sms(ctx: AppContext) -> SmsSender:
    st = ctx.settings
    if st.sms_url:
        return HttpSmsSender(st.sms_url, token=st.sms_token)
    return FileSmsSender(st.data_dir / "sms-outbox")


def install(ctx: AppContext) -> None:
    """Plug the payments capability into the context (see docs/subsystems/payments.md)."""
    from paydesk.services import refunds

    ctx.extras["payments"] = make_platform(ctx)
    ctx.extras["sms"] = make_sms(ctx)
    ctx.after_intake.append(auto_link)
    ctx.extras["refund_status"] = lambda c, customer_id: (
        refunds.customer_refunds(c, customer_id, _locale(c, customer_id))
        if verif.is_verified(c, customer_id)
        else []
    )
    ctx.extras["customer_verified"] = lambda c, customer_id: verif.is_verified(c, customer_id)
    ctx.extras.setdefault("demo_seeders", []).append(seed_demo_ledger)


def seed_demo_ledger(ctx: AppContext) -> None:
    """Demo: a sandbox account with a realistic history for every demo customer (idempotent)."""
    from sqlalchemy import select

    from paydesk.payments.demo_ledger import seed
    from paydesk.store.customers import CustomerIdentity

    if not isinstance(platform(ctx), SandboxPlatform):
        return
    with ctx.read() as s:
        rows = s.execute(
            select(
                Customer.id,
                Customer.name,
                Customer.locale,
                CustomerIdentity.kind,
                CustomerIdentity.value,
            )
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .order_by(Customer.id)
        ).all()
    people: dict[int, dict[str, str]] = {}
    for r in rows:
        p = people.setdefault(r.id, {"name": r.name, "locale": r.locale})
        p.setdefault(r.kind, r.value)
    seed(
        ctx.sessions,
        [
            (p["name"], p["email"], p.get("phone"), p["locale"])
            for p in people.values()
            if "email" in p
        ],
    )


def _locale(ctx: AppContext, customer_id: int) -> str:
    with ctx.read() as s:
        c = s.get(Customer, customer_id)
        return c.locale if c and c.locale in NOTICE else "en"


def _perform(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    purpose: str,
    call: Callable[[Account, str], Any],
    describe: str,
    details: dict[str, Any],
    *,
    new_destination: str | None = None,
) -> tuple[Account, Any]:
    actor.require(Perm.TICKET_WRITE)
    with ctx.read() as s:
        customer_id = access_ticket(s, actor, ticket_id).customer_id
    account = require_account(ctx, customer_id)
    with ctx.uow() as uow:
        s = uow.session
        access_ticket(s, actor, ticket_id, for_update=True)
        ids = verif.consume(ctx, s, customer_id, purpose, new_destination=new_destination)
        audit.record(
            s,
            actor,
            f"account.{purpose}_requested",
            object_type="ticket",
            object_id=ticket_id,
            customer_id=customer_id,
            details={**details, "account_id": account.id, "verifications": ids},
        )
    key = f"pd-{purpose}-{ticket_id}-" + ("-".join(map(str, ids)) or _fresh_key())
    try:
        result = call(account, key)
    except DomainError as exc:
        verif.release(ctx, ids)
        with ctx.uow() as uow:
            audit.record(
                uow.session,
                actor,
                f"account.{purpose}_failed",
                object_type="ticket",
                object_id=ticket_id,
                customer_id=customer_id,
                details={"error": exc.message, "account_id": account.id},
            )
        raise
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id)
        audit.record(
            s,
            actor,
            f"account.{purpose}_done",
            object_type="ticket",
            object_id=ticket_id,
            customer_id=customer_id,
            details={**details, "account_id": account.id},
        )
        add_system_note(ctx, uow, ticket, describe)
    return account, result


def _fresh_key() -> str:
    import uuid

    return uuid.uuid4().hex


def reset_password(ctx: AppContext, actor: Actor, ticket_id: int) -> None:
    """Have the platform send its password-reset link to the customer's registered contact."""
    _perform(
        ctx,
        actor,
        ticket_id,
        "password_reset",
        lambda acct, key: platform(ctx).trigger_password_reset(acct.id, key),
        f"Password reset link sent by the payment platform (requested by {actor.name}).",
        {},
    )


def change_contact(ctx: AppContext, actor: Actor, ticket_id: int, kind: str, value: str) -> Account:
    """Replace the account's email or phone with a verified new one; notify the old contact."""
    if kind not in ("email", "phone"):
        raise InvalidInput("kind must be email or phone", field="kind")
    new = normalize(IdentityKind.EMAIL if kind == "email" else IdentityKind.PHONE, value)
    old_holder: dict[str, str | None] = {}

    def call(acct: Account, key: str) -> Account:
        old_holder["old"] = acct.email if kind == "email" else acct.phone
        if old_holder["old"] == new:
            raise InvalidInput(f"that is already the account's {kind}", field="value")
        return platform(ctx).change_contact(acct.id, kind, new, key)

    _, updated = _perform(
        ctx,
        actor,
        ticket_id,
        "contact_change",
        call,
        f"Account {kind} changed to {mask(new)}; cooling-off notice sent to the old {kind}.",
        {"kind": kind, "new": mask(new)},
        new_destination=new,
    )
    old = old_holder.get("old")
    if old:
        with ctx.read() as s:
            customer_id = access_ticket(s, actor, ticket_id).customer_id
        _notify_old_contact(ctx, kind, old, new, _locale(ctx, customer_id))
    return updated  # type: ignore[no-any-return]


def _notify_old_contact(ctx: AppContext, kind: str, old: str, new: str, locale: str) -> None:
    subject, body = NOTICE[locale]
    name = KIND_NAMES[locale][kind]
    text = body.format(kind=name, new=mask(new))
    try:
        if kind == "email":
            msg = EmailMessage()
            msg["From"] = ctx.settings.mail_from
            msg["To"] = old
            msg["Subject"] = subject.format(kind=name)
            msg.set_content(text)
            ctx.mailer.send(msg)
        else:
            ctx.extras["sms"].send(old, text, reference=f"notice-{old}-{new}")
    except Exception:  # the change is done; a lost notice is logged, not a failed change
        log.exception("cooling-off notice to the old %s could not be sent", kind)


def set_frozen(
    ctx: AppContext, actor: Actor, ticket_id: int, *, frozen: bool, reason: str
) -> Account:
    """Freeze (suspected compromise: one click, no verification by default) or unfreeze
    (verification of a registered channel by default)."""
    reason = (reason or "").strip()[:500]
    if frozen and not reason:
        reason = "suspected compromise"
    purpose = "freeze" if frozen else "unfreeze"
    _, acct = _perform(
        ctx,
        actor,
        ticket_id,
        purpose,
        lambda a, key: platform(ctx).set_frozen(a.id, frozen, reason, key),
        f"Account {'frozen' if frozen else 'unfrozen'} by {actor.name}"
        + (f": {reason}" if reason else "."),
        {"reason": reason},
    )
    return acct  # type: ignore[no-any-return]
