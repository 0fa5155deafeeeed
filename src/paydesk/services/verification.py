"""Identity verification by one-time code before account actions.

A code goes to a channel the customer controls (email through `ctx.mailer`, SMS through
`ctx.extras["sms"]`). Codes are 6 digits, stored only as HMAC-SHA256(secret, "id:code"), expire
after `verification_code_ttl_seconds`, allow `verification_max_attempts` tries, and a customer
gets at most `verification_max_per_hour` codes. A passed check authorises the actions listed in
`verification_requirements` for `verification_valid_seconds`, once (it is consumed by the action).
Every step is audited and noted on the ticket — never the code itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from paydesk.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from paydesk.domain.identities import IdentityKind, normalize
from paydesk.domain.permissions import Perm
from paydesk.services import audit
from paydesk.services.access import access_customer, access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.payments import add_system_note, mask, registered_contacts
from paydesk.store.accounts import Verification
from paydesk.store.base import utcnow
from paydesk.store.customers import Customer
from paydesk.store.tickets import Ticket

log = logging.getLogger(__name__)
PURPOSES = ("password_reset", "contact_change", "unfreeze", "freeze", "refund", "self_service")
CHANNELS = ("email", "sms")


class VerificationRequired(DomainError):
    code = "verification_required"
    status = 403


class CodeRejected(DomainError):
    code = "code_rejected"
    status = 422


class DeliveryFailed(DomainError):
    code = "delivery_failed"
    status = 503


TEXTS = {
    "en": {
        "subject": "Your TOPAY verification code",
        "body": "Your TOPAY verification code is {code} ({purpose}). It expires in {minutes} "
        "minutes.\nEnter it yourself at {link}\n"
        "Do not read this code out to anyone — TOPAY staff will never ask for it, nor for your "
        "password or wallet recovery phrase.",
        "sms": "[TOPAY] Code {code} for {purpose}: enter it at {link} ({minutes} min). "
        "Never tell it to anyone.",
    },
    "zh-CN": {
        "subject": "您的 TOPAY 验证码",
        "body": "您的 TOPAY 验证码是 {code}（用于{purpose}），{minutes} 分钟内有效。\n"
        "请您本人在此输入：{link}\n"
        "请勿将验证码告诉任何人——TOPAY 工作人员绝不会索要验证码、密码或钱包助记词。",
        "sms": "【TOPAY】验证码 {code}，用于{purpose}，"
        "请本人在 {link} 输入（{minutes} 分钟内有效）。切勿告诉他人。",
    },
}
PURPOSE_NAMES = {
    "en": {
        "password_reset": "password reset",
        "contact_change": "contact change",
        "unfreeze": "unfreezing your account",
        "freeze": "freezing your account",
        "refund": "a refund",
        "self_service": "viewing your transactions",
    },
    "zh-CN": {
        "password_reset": "重置密码",
        "contact_change": "修改联系方式",
        "unfreeze": "解冻账户",
        "freeze": "冻结账户",
        "refund": "退款",
        "self_service": "查看交易记录",
    },
}


@dataclass(frozen=True, slots=True)
class Started:
    id: int
    channel: str
    destination: str  # masked
    expires_at: datetime
    purpose: str
    role: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "destination": self.destination,
            "expires_at": self.expires_at.isoformat(),
            "purpose": self.purpose,
            "role": self.role,
        }


def code_hash(ctx: AppContext, verification_id: int, code: str) -> str:
    key = ctx.settings.resolved_secret().encode()
    return hmac.new(key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _authorise(s: Session, actor: Actor, customer_id: int, ticket_id: int | None) -> Ticket | None:
    """Staff act on a ticket of the customer; a customer only for themself (portal)."""
    if actor.is_customer:
        access_customer(s, actor, customer_id)
        return None
    actor.require(Perm.TICKET_WRITE)
    if ticket_id is None:
        raise InvalidInput("staff start verifications from a ticket", field="ticket_id")
    ticket = access_ticket(s, actor, ticket_id, for_update=True)
    if ticket.customer_id != customer_id:
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def start(
    ctx: AppContext,
    actor: Actor,
    *,
    customer_id: int,
    purpose: str,
    channel: str,
    ticket_id: int | None = None,
    destination: str | None = None,
    role: str = "registered",
) -> Started:
    """Create a code and send it. `role="registered"` sends to a contact on file (the first one of
    the channel unless `destination` names another on file); `role="new"` sends to `destination`,
    the contact about to be added. Raises RateLimited past the hourly limit, DeliveryFailed when
    the code could not be sent (the code is then void)."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}", field="purpose")
    if channel not in CHANNELS:
        raise InvalidInput("channel must be email or sms", field="channel")
    if role not in ("registered", "new"):
        raise InvalidInput("role must be registered or new", field="role")
    kind = IdentityKind.EMAIL if channel == "email" else IdentityKind.PHONE
    on_file = registered_contacts(ctx, customer_id)[channel]
    if role == "registered":
        if destination:
            dest = normalize(kind, destination)
            if dest not in on_file:
                raise InvalidInput(f"that {channel} is not registered", field="destination")
        elif on_file:
            dest = on_file[0]
        else:
            raise InvalidInput(f"the customer has no registered {channel}", field="channel")
    else:
        if not destination:
            raise InvalidInput("give the new contact to verify", field="destination")
        dest = normalize(kind, destination)
    now = utcnow()
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = ctx.settings.verification_code_ttl_seconds
    throttled = False
    with ctx.uow() as uow:
        s = uow.session
        ticket = _authorise(s, actor, customer_id, ticket_id)
        customer = s.get(Customer, customer_id)
        assert customer is not None
        locale = customer.locale if customer.locale in TEXTS else "en"
        recent = s.scalar(
            select(func.count())
            .select_from(Verification)
            .where(
                Verification.customer_id == customer_id,
                Verification.created_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= ctx.settings.verification_max_per_hour:
            throttled = True
            audit.record(
                s,
                actor,
                "verification.throttled",
                object_type="customer",
                object_id=customer_id,
                customer_id=customer_id,
                details={"purpose": purpose, "channel": channel},
            )
        else:
            v = Verification(
                workspace_id=actor.workspace_id,
                customer_id=customer_id,
                ticket_id=ticket.id if ticket else None,
                purpose=purpose,
                role=role,
                channel=channel,
                destination=dest,
                code_hash="",
                max_attempts=ctx.settings.verification_max_attempts,
                status="pending",
                expires_at=now + timedelta(seconds=ttl),
                requested_by=actor.name or actor.kind,
                created_at=now,
            )
            s.add(v)
            s.flush()
            v.code_hash = code_hash(ctx, v.id, code)
            audit.record(
                s,
                actor,
                "verification.started",
                object_type="verification",
                object_id=v.id,
                customer_id=customer_id,
                details={"purpose": purpose, "channel": channel, "to": mask(dest), "role": role},
            )
            if ticket is not None:
                add_system_note(
                    ctx,
                    uow,
                    ticket,
                    f"Verification code sent by {channel} to {mask(dest)} "
                    f"({role} contact) for {purpose.replace('_', ' ')}.",
                )
            started = Started(v.id, channel, mask(dest), v.expires_at, purpose, role)
    if throttled:
        raise RateLimited("too many verification codes for this customer; try again later")
    # sent after the commit: a code is only ever delivered if it exists
    try:
        _deliver(ctx, channel, dest, code, purpose, locale, ttl, started.id)
    except Exception as exc:  # noqa: BLE001 - any transport failure voids the code
        log.warning("verification %s could not be delivered: %s", started.id, exc)
        with ctx.uow() as uow:
            uow.session.execute(
                update(Verification)
                .where(Verification.id == started.id)
                .values(status="undeliverable")
            )
            audit.record(
                uow.session,
                actor,
                "verification.undeliverable",
                object_type="verification",
                object_id=started.id,
                customer_id=customer_id,
                details={"error": type(exc).__name__},
            )
        raise DeliveryFailed(
            f"the code could not be sent by {channel}; try another channel"
        ) from None
    return started


def _deliver(
    ctx: AppContext,
    channel: str,
    dest: str,
    code: str,
    purpose: str,
    locale: str,
    ttl: int,
    ref: int,
) -> None:
    texts = TEXTS[locale]
    link = f"{ctx.settings.base_url.rstrip('/')}/verify/{link_token(ctx, ref)}"
    args = {
        "code": code,
        "minutes": ttl // 60,
        "purpose": PURPOSE_NAMES[locale][purpose],
        "link": link,
    }
    if channel == "email":
        msg = EmailMessage()
        msg["From"] = ctx.settings.mail_from
        msg["To"] = dest
        msg["Subject"] = texts["subject"]
        msg.set_content(texts["body"].format(**args))
        ctx.mailer.send(msg)
    else:
        ctx.extras["sms"].send(dest, texts["sms"].format(**args), reference=f"verif-{ref}")


def link_token(ctx: AppContext, verification_id: int) -> str:
    """`{id}.{mac}`: names the verification in the link sent with the code (the link alone
    proves nothing; the code typed on the page does)."""
    key = ctx.settings.resolved_secret().encode()
    mac = hmac.new(key, f"verify-link:{verification_id}".encode(), hashlib.sha256).hexdigest()
    return f"{verification_id}.{mac[:32]}"


def from_link(ctx: AppContext, token: str) -> tuple[Verification, Actor]:
    """The verification a link names and the customer acting through it; NotFound if forged."""
    vid, _, mac = (token or "").partition(".")
    if (
        not vid.isdigit()
        or len(vid) > 10
        or not hmac.compare_digest(link_token(ctx, int(vid)), f"{vid}.{mac}")
    ):
        raise NotFound("this verification link is not valid")
    with ctx.read() as s:
        v = s.get(Verification, int(vid))
        if v is None:
            raise NotFound("this verification link is not valid")
    return v, Actor(kind="customer", id=v.customer_id, workspace_id=v.workspace_id, role="customer")


def check(ctx: AppContext, actor: Actor, verification_id: int, code: str) -> Verification:
    """Check a code. Wrong codes count against the attempts (committed even though the call
    fails); the last wrong attempt locks the verification. Expired, used and locked codes are
    refused with 409; a wrong code with 422 (`code_rejected`).

    The customer types the code themself (verification link, portal) or into an integration
    such as an IVR keypad (API token); console agents cannot enter codes, because TOPAY staff
    never ask customers to read a one-time code out."""
    if actor.kind == "agent":
        raise PermissionDenied(
            "agents never take one-time codes; the customer enters it via the link we sent"
        )
    code = (code or "").strip()
    now = utcnow()
    outcome: DomainError | None = None
    with ctx.uow() as uow:
        s = uow.session
        stmt = select(Verification).where(Verification.id == verification_id)
        if ctx.dialect == "postgresql":
            stmt = stmt.with_for_update()
        v = s.scalars(stmt).first()
        if v is None or v.workspace_id != actor.workspace_id:
            raise NotFound(f"verification {verification_id} not found")
        ticket = _authorise(s, actor, v.customer_id, v.ticket_id if actor.is_staff else None)
        if ticket is None and v.ticket_id is not None:
            ticket = s.get(Ticket, v.ticket_id)
        if v.status != "pending":
            outcome = Conflict(f"this code was already {v.status}; send a new one", field="code")
        elif now >= v.expires_at:
            v.status = "expired"
            outcome = Conflict("this code has expired; send a new one", field="code")
        elif not (code.isdigit() and len(code) == 6) or not hmac.compare_digest(
            v.code_hash, code_hash(ctx, v.id, code)
        ):
            v.attempts += 1
            left = v.max_attempts - v.attempts
            if left <= 0:
                v.status = "locked"
                outcome = CodeRejected("wrong code; no attempts left, send a new one", field="code")
            else:
                outcome = CodeRejected(f"wrong code; {left} attempt(s) left", field="code")
        else:
            v.attempts += 1
            v.status = "verified"
            v.verified_at = now
        action = "verification.passed" if outcome is None else "verification.failed"
        audit.record(
            s,
            actor,
            action,
            object_type="verification",
            object_id=v.id,
            customer_id=v.customer_id,
            details={"purpose": v.purpose, "status": v.status, "attempts": v.attempts},
        )
        if ticket is not None and (outcome is None or v.status == "locked"):
            add_system_note(
                ctx,
                uow,
                ticket,
                f"Identity verified: the customer confirmed the code sent by {v.channel} "
                f"to {mask(v.destination)} ({v.purpose.replace('_', ' ')})."
                if outcome is None
                else f"Verification locked after {v.attempts} wrong codes "
                f"({v.purpose.replace('_', ' ')}).",
            )
    if outcome is not None:
        raise outcome
    return v


def valid(
    s: Session, ctx: AppContext, customer_id: int, purpose: str, now: datetime
) -> list[Verification]:
    """Passed, unconsumed verifications of this purpose still inside the validity window."""
    since = now - timedelta(seconds=ctx.settings.verification_valid_seconds)
    return list(
        s.scalars(
            select(Verification)
            .where(
                Verification.customer_id == customer_id,
                Verification.purpose == purpose,
                Verification.status == "verified",
                Verification.consumed_at.is_(None),
                Verification.verified_at > since,
            )
            .order_by(Verification.id.desc())
        )
    )


def consume(
    ctx: AppContext,
    s: Session,
    customer_id: int,
    purpose: str,
    *,
    new_destination: str | None = None,
) -> list[int]:
    """Check and consume what `verification_requirements[purpose]` asks for, inside the caller's
    transaction. Conditional UPDATEs make a verification usable by exactly one action even under
    concurrency. Returns the consumed ids (for `release` if the action then fails)."""
    needs = ctx.settings.verification_requirements.get(purpose, ["registered"])
    now = utcnow()
    have = valid(s, ctx, customer_id, purpose, now)
    used: list[int] = []
    for role in needs:
        match = [
            v
            for v in have
            if v.role == role
            and (role != "new" or v.destination == new_destination)
            and v.id not in used
        ]
        if not match:
            what = "the new contact" if role == "new" else "a registered email or phone"
            raise VerificationRequired(
                f"verify the customer first: a one-time code to {what} "
                f"({purpose.replace('_', ' ')})"
            )
        res = s.execute(
            update(Verification)
            .where(Verification.id == match[0].id, Verification.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this verification was just used by another action; verify again")
        used.append(match[0].id)
    return used


def release(ctx: AppContext, ids: list[int]) -> None:
    """Give consumed verifications back after the action failed on the platform."""
    if not ids:
        return
    with ctx.uow() as uow:
        uow.session.execute(
            update(Verification).where(Verification.id.in_(ids)).values(consumed_at=None)
        )


def is_verified(ctx: AppContext, customer_id: int, purpose: str = "self_service") -> bool:
    """True while the customer holds a passed check for `purpose` (not consumed: self-service
    reads do not use it up)."""
    if not ctx.settings.verification_requirements.get(purpose, ["registered"]):
        return True
    with ctx.read() as s:
        return bool(valid(s, ctx, customer_id, purpose, utcnow()))
