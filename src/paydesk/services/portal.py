"""Customer portal: sign in by an emailed one-time link; see and reply to one's own tickets."""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import select, update

from paydesk.domain.errors import InvalidInput, NotFound, RateLimited
from paydesk.domain.identities import IdentityKind, normalize_email
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.auth import sha256
from paydesk.services.context import AppContext
from paydesk.services.customers import find_customer
from paydesk.services.intake import IntakeResult, receive
from paydesk.store.auth import MagicLink
from paydesk.store.base import utcnow

log = logging.getLogger(__name__)

LINK_TEXT = {
    "en": (
        "Your TOPAY support sign-in link",
        "Hello,\n\nUse this link to sign in to TOPAY Support and see your requests. It works once "
        "and expires in {minutes} minutes:\n\n{url}\n\nIf you did not ask for it, ignore this "
        "email. TOPAY will never ask for your password, card security code or recovery phrase.\n",
    ),
    "zh-CN": (
        "您的 TOPAY 客服登录链接",
        "您好：\n\n请使用以下链接登录 TOPAY 客服中心查看您的工单。链接仅可使用一次，{minutes} 分钟内有效：\n\n"
        "{url}\n\n如果这不是您本人的操作，请忽略此邮件。TOPAY 绝不会向您索要密码、卡片安全码或助记词。\n",
    ),
}
MAX_LINKS_PER_HOUR = 5


def request_magic_link(
    ctx: AppContext, email: str, locale: str = "en", *, workspace_id: int = 1
) -> bool:
    """Email a sign-in link if the address belongs to a customer. Returns whether one was sent,
    but callers show the same answer either way (no account enumeration)."""
    try:
        addr = normalize_email(email)
    except InvalidInput:
        raise
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        customer = find_customer(s, workspace_id, IdentityKind.EMAIL, addr)
        if customer is None:
            return False
        recent = s.scalars(
            select(MagicLink.id).where(
                MagicLink.customer_id == customer.id,
                MagicLink.created_at > now - timedelta(hours=1),
            )
        ).all()
        if len(recent) >= MAX_LINKS_PER_HOUR:
            raise RateLimited("too many sign-in links requested; try again later")
        s.add(
            MagicLink(
                token_hash=sha256(raw),
                workspace_id=workspace_id,
                customer_id=customer.id,
                email=addr,
                expires_at=now + timedelta(seconds=ctx.settings.magic_link_ttl_seconds),
            )
        )
        lang = (
            locale
            if locale in LINK_TEXT
            else customer.locale
            if customer.locale in LINK_TEXT
            else "en"
        )
        url = f"{ctx.settings.base_url.rstrip('/')}/portal/login/{raw}"
        subject, body = LINK_TEXT[lang]
        mail = EmailMessage()
        mail["From"] = ctx.settings.mail_from
        mail["To"] = formataddr((customer.name, addr))
        mail["Subject"] = subject
        mail["Message-ID"] = make_msgid(domain="topay.example")
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(body.format(url=url, minutes=ctx.settings.magic_link_ttl_seconds // 60))
        audit.record(
            s,
            Actor(kind="customer", id=customer.id, workspace_id=workspace_id, role="customer"),
            "portal.link_requested",
            object_type="customer",
            object_id=customer.id,
            customer_id=customer.id,
        )
        uow.on_commit(lambda: _send_async(ctx, mail))
    return True


def _send_async(ctx: AppContext, mail: EmailMessage) -> None:
    def run() -> None:
        try:
            ctx.mailer.send(mail)
        except Exception:
            log.exception("sending a sign-in link failed")

    threading.Thread(target=run, daemon=True).start()


def consume_magic_link(ctx: AppContext, raw: str) -> int:
    """The customer id for a valid, unexpired, unused link; marks it used (works exactly once,
    also under concurrent clicks: the UPDATE … WHERE used_at IS NULL decides)."""
    now = utcnow()
    with ctx.uow() as uow:
        s = uow.session
        link = s.scalars(select(MagicLink).where(MagicLink.token_hash == sha256(raw or ""))).first()
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise NotFound("this sign-in link is invalid, expired or already used")
        res = s.execute(
            update(MagicLink)
            .where(MagicLink.id == link.id, MagicLink.used_at.is_(None))
            .values(used_at=now)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("this sign-in link is invalid, expired or already used")
        audit.record(
            s,
            Actor(
                kind="customer",
                id=link.customer_id,
                workspace_id=link.workspace_id,
                role="customer",
            ),
            "portal.signed_in",
            object_type="customer",
            object_id=link.customer_id,
            customer_id=link.customer_id,
        )
        return link.customer_id


def customer_reply(ctx: AppContext, actor: Actor, ticket_id: int, body: str) -> IntakeResult:
    """A signed-in customer writes on their own ticket (through the intake pipeline)."""
    with ctx.read() as s:
        ticket = access_ticket(s, actor, ticket_id)
        from paydesk.services.customers import customer_identities

        idents = customer_identities(s, actor.id or 0)
    email = next((i.value for i in idents if i.kind == "email"), None)
    phone = next((i.value for i in idents if i.kind == "phone"), None)
    return receive(
        ctx,
        InboundMessage(
            channel=Channel.WEB,
            body=body,
            email=email,
            phone=phone,
            ticket_id=ticket.id,
            locale=ticket.locale,
        ),
        actor=Actor(kind="customer", id=actor.id, workspace_id=actor.workspace_id, role="customer"),
    )
