"""Transactions beside the ticket: which platform account a customer has, the sidebar overview,
transaction search, ticket ↔ transaction links (by hand and recognised automatically in inbound
text), and system notes on the ticket timeline.

The platform is reached only through the `PaymentPlatform` port in `ctx.extras["payments"]`
(sandbox ledger by default, the HTTP API when PAYDESK_PAYMENTS_URL is set). When the platform is
down, `account_overview` says so and the rest of the ticket page keeps working.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.events import MessageAdded
from paydesk.domain.identities import IdentityKind
from paydesk.domain.permissions import Perm
from paydesk.domain.tickets import AuthorType
from paydesk.payments.money import format_amount
from paydesk.payments.port import (
    Account,
    PaymentPlatform,
    PlatformUnavailable,
    Transaction,
)
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.accounts import Dispute, RefundRequest, TicketTransaction, Verification
from paydesk.store.base import utcnow
from paydesk.store.customers import CustomerIdentity
from paydesk.store.tickets import Conversation, Message, Ticket

# what customers write: TOPAY transaction ids and on-chain transaction hashes
TXN_ID_RE = re.compile(r"(?<![A-Za-z0-9])TP\d{8}-\d{5,8}(?![0-9])")
TX_HASH_RE = re.compile(r"(?<![A-Za-z0-9])0x[0-9a-fA-F]{64}(?![0-9a-fA-F])")
TXID_RE = re.compile(r"(?i)\btx(?:id| ?hash)\s*[:：]?\s*([0-9a-f]{64})(?![0-9a-f])")
MAX_AUTO_LINKS = 10


def platform(ctx: AppContext) -> PaymentPlatform:
    return ctx.extras["payments"]  # type: ignore[no-any-return]


def find_refs(text: str) -> list[str]:
    """Transaction ids and tx hashes in `text`, in order of appearance, without duplicates."""
    found: list[tuple[int, str]] = [(m.start(), m.group(0)) for m in TXN_ID_RE.finditer(text)]
    found += [(m.start(), m.group(0).lower()) for m in TX_HASH_RE.finditer(text)]
    found += [(m.start(1), m.group(1).lower()) for m in TXID_RE.finditer(text)]
    out: list[str] = []
    for _, ref in sorted(found):
        if ref not in out:
            out.append(ref)
    return out


def _identities(s: Session, customer_id: int) -> list[Any]:
    return list(
        s.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value).where(
                CustomerIdentity.customer_id == customer_id
            )
        ).all()
    )


def platform_reads(ctx: AppContext, s: Session) -> AbstractContextManager[Any]:
    """Let the platform serve reads from session `s` when it can (the sandbox ledger lives in
    our database); a no-op for the HTTP platform."""
    reading = getattr(platform(ctx), "reading", None)
    return reading(s) if reading is not None else nullcontext()


def customer_account(
    ctx: AppContext, customer_id: int, *, session: Session | None = None
) -> Account | None:
    """The platform account of a customer, matched by platform user id, then email, then phone.
    Raises PlatformUnavailable when the platform cannot be asked."""
    if session is not None:
        idents = _identities(session, customer_id)
    else:
        with ctx.read() as s:
            idents = _identities(s, customer_id)
    order = {IdentityKind.PLATFORM_USER.value: 0, IdentityKind.EMAIL.value: 1, "phone": 2}
    p = platform(ctx)
    for kind, value in sorted(idents, key=lambda r: order.get(r.kind, 9)):
        acct = None
        if kind == IdentityKind.PLATFORM_USER.value:
            acct = p.find_account(user_id=value)
        elif kind == IdentityKind.EMAIL.value:
            acct = p.find_account(email=value)
        elif kind == IdentityKind.PHONE.value:
            acct = p.find_account(phone=value)
        if acct is not None:
            return acct
    return None


def registered_contacts(ctx: AppContext, customer_id: int) -> dict[str, list[str]]:
    """Channels a code may go to: the customer's identities in paydesk plus the contacts the
    platform has on file ({"email": [...], "sms": [...]})."""
    with ctx.read() as s:
        rows = s.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value).where(
                CustomerIdentity.customer_id == customer_id
            )
        ).all()
    out: dict[str, list[str]] = {"email": [], "sms": []}
    for kind, value in rows:
        if kind == IdentityKind.EMAIL.value:
            out["email"].append(value)
        elif kind == IdentityKind.PHONE.value:
            out["sms"].append(value)
    return out


def txn_public(t: Transaction) -> dict[str, Any]:
    d = t.as_dict()
    try:
        d["amount"] = format_amount(t.amount_minor, t.currency)
        d["refunded"] = format_amount(t.refunded_minor, t.currency)
    except InvalidInput:  # a currency we do not know the exponent of: show minor units
        d["amount"], d["refunded"] = f"{t.amount_minor} (minor units)", str(t.refunded_minor)
    return d


def mask(value: str) -> str:
    """a•••@example.com, +86•••••5678: enough for the customer to recognise, not to harvest."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{value[:3]}•••••{value[-4:]}" if len(value) > 7 else "•••"


@dataclass
class Overview:
    available: bool
    error: str | None
    account: Account | None
    transactions: list[dict[str, Any]]
    linked: list[dict[str, Any]]
    refunds: list[RefundRequest]
    disputes: list[Dispute]
    verifications: list[Verification]


def account_overview(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    *,
    limit: int = 8,
) -> Overview:
    """Everything the sidebar shows. Platform failures become `available=False` + a message.
    The view is audited (`account.viewed`)."""
    shared = hasattr(platform(ctx), "reading")  # the sandbox reads through our session
    if shared and ctx.dialect == "postgresql":
        # reads and the audit event in one transaction: the fewest round trips per page
        with ctx.uow() as uow:
            ov, customer_id, refs = _load(uow.session, actor, ticket_id)
            _fill_from_platform(ctx, ov, customer_id, refs, limit, uow.session)
            _audit_view(ctx, uow.session, actor, ticket_id, customer_id, ov)
        return ov
    with ctx.read() as s:
        ov, customer_id, refs = _load(s, actor, ticket_id)
        if shared:
            _fill_from_platform(ctx, ov, customer_id, refs, limit, s)
    if not shared:  # HTTP: no database connection is held while the platform answers
        _fill_from_platform(ctx, ov, customer_id, refs, limit, None)
    with ctx.uow() as uow:
        _audit_view(ctx, uow.session, actor, ticket_id, customer_id, ov)
    return ov


def _load(s: Session, actor: Actor, ticket_id: int) -> tuple[Overview, int, list[str]]:
    ticket = access_ticket(s, actor, ticket_id)
    customer_id = ticket.customer_id
    refs = list(
        s.scalars(
            select(TicketTransaction.ref)
            .where(TicketTransaction.ticket_id == ticket_id)
            .order_by(TicketTransaction.id)
        )
    )
    refunds = list(
        s.scalars(
            select(RefundRequest)
            .where(RefundRequest.ticket_id == ticket_id)
            .order_by(RefundRequest.id.desc())
        )
    )
    disputes = list(
        s.scalars(select(Dispute).where(Dispute.ticket_id == ticket_id).order_by(Dispute.id.desc()))
    )
    verifs = list(
        s.scalars(
            select(Verification)
            .where(Verification.customer_id == customer_id)
            .order_by(Verification.id.desc())
            .limit(5)
        )
    )
    return Overview(True, None, None, [], [], refunds, disputes, verifs), customer_id, refs


def _audit_view(
    ctx: AppContext, s: Session, actor: Actor, ticket_id: int, customer_id: int, ov: Overview
) -> None:
    audit.record(
        s,
        actor,
        "account.viewed",
        object_type="ticket",
        object_id=ticket_id,
        customer_id=customer_id,
        details={"platform": platform(ctx).name, "available": ov.available},
    )


def _fill_from_platform(
    ctx: AppContext,
    ov: Overview,
    customer_id: int,
    refs: list[str],
    limit: int,
    s: Session | None,
) -> None:
    p = platform(ctx)
    try:
        with platform_reads(ctx, s) if s is not None else nullcontext():
            ov.account = customer_account(ctx, customer_id, session=s)
            if ov.account is not None:
                ov.transactions = [
                    txn_public(t) for t in p.list_transactions(ov.account.id, limit=limit)
                ]
            for ref in refs:
                t = p.get_transaction(ref)
                foreign = bool(t and ov.account and t.account_id != ov.account.id)
                ov.linked.append(
                    {"ref": ref, "txn": txn_public(t) if t else None, "foreign": foreign}
                )
    except PlatformUnavailable as exc:
        ov.available, ov.error = False, exc.message
        ov.linked = [{"ref": r, "txn": None, "foreign": False} for r in refs]


def search_transaction(ctx: AppContext, actor: Actor, ref: str) -> Transaction:
    """By transaction id, order number or tx hash (staff only; audited)."""
    if not actor.is_staff:
        raise NotFound("not found")
    ref = (ref or "").strip()
    if not ref or len(ref) > 100:
        raise InvalidInput("give a transaction id, order number or tx hash", field="q")
    t = platform(ctx).get_transaction(ref)
    with ctx.uow() as uow:
        audit.record(
            uow.session,
            actor,
            "transaction.searched",
            object_type="transaction",
            details={"q": ref[:100], "found": t is not None},
        )
    if t is None:
        raise NotFound(f"no transaction matches {ref[:100]!r}")
    return t


def link_transaction(ctx: AppContext, actor: Actor, ticket_id: int, ref: str) -> str:
    """Link a transaction (any reference) to the ticket; idempotent. Returns the transaction id."""
    actor.require(Perm.TICKET_WRITE)
    t = search_transaction(ctx, actor, ref)
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        exists = s.scalar(
            select(TicketTransaction.id).where(
                TicketTransaction.ticket_id == ticket.id, TicketTransaction.ref == t.id
            )
        )
        if exists is None:
            s.add(
                TicketTransaction(
                    ticket_id=ticket.id, ref=t.id, source="agent", linked_by=actor.name
                )
            )
            audit.record(
                s,
                actor,
                "transaction.linked",
                object_type="ticket",
                object_id=ticket.id,
                customer_id=ticket.customer_id,
                details={"transaction_id": t.id},
            )
    return t.id


def unlink_transaction(ctx: AppContext, actor: Actor, ticket_id: int, ref: str) -> None:
    actor.require(Perm.TICKET_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        ticket = access_ticket(s, actor, ticket_id, for_update=True)
        res = s.execute(
            delete(TicketTransaction).where(
                TicketTransaction.ticket_id == ticket.id, TicketTransaction.ref == ref
            )
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"{ref[:100]!r} is not linked to this ticket")
        audit.record(
            s,
            actor,
            "transaction.unlinked",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"ref": ref},
        )


_TICKET_TX = TicketTransaction.__table__


def auto_link(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    message: Any,
    inbound: Any,
    created: bool,
) -> None:
    """after_intake hook: link the references a customer wrote, in any channel. Reads only the
    redacted text and never calls the platform (intake must not depend on it being up)."""
    refs = find_refs(f"{ticket.subject if created else ''}\n{message.body}")[:MAX_AUTO_LINKS]
    for k, v in (inbound.fields or {}).items():
        if k == "transaction_id" and isinstance(v, str):
            refs += [r for r in find_refs(v) if r not in refs]
    if not refs:
        return
    s = uow.session
    have: set[str] = set()
    if not created:  # a new ticket has no links yet: skip the round trip on the intake hot path
        have = set(
            s.scalars(
                select(TicketTransaction.ref).where(
                    TicketTransaction.ticket_id == ticket.id, TicketTransaction.ref.in_(refs)
                )
            )
        )
    # a message earlier in the same intake batch may have linked the same reference already
    have.update(row["ref"] for row in uow.deferred(_TICKET_TX) if row["ticket_id"] == ticket.id)
    new = [r for r in refs if r not in have]
    if new:
        from paydesk.services.actors import system_actor

        # deferred: the intake batch writes every item's links in one INSERT before it commits
        for r in new:
            uow.defer_insert(
                _TICKET_TX,
                {"ticket_id": ticket.id, "ref": r, "source": "auto", "linked_by": "paydesk"},
            )
        audit.defer(
            uow,
            system_actor(ticket.workspace_id),
            "transaction.auto_linked",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"refs": new, "message_id": message.id},
            details_redacted=True,  # the refs were found in the redacted text
        )


def add_system_note(ctx: AppContext, uow: UnitOfWork, ticket: Ticket, body: str) -> Message:
    """An internal system message on the ticket timeline (verification passed, refund approved…).
    Never contains a code or a full contact detail."""
    return _system_message(ctx, uow, ticket, body, internal=True, author_name="paydesk")


def add_customer_notice(ctx: AppContext, uow: UnitOfWork, ticket: Ticket, body: str) -> Message:
    """A public system message to the customer (e.g. "your refund is complete"), in the same
    transaction: the portal shows it, and the channel hooks deliver it like an agent reply
    (email ticket → outbox after commit; open chat → the chat)."""
    msg = _system_message(ctx, uow, ticket, body, internal=False, author_name="TOPAY")
    for hook in ctx.after_agent_message:
        hook(ctx, uow, ticket, msg)
    return msg


def _system_message(
    ctx: AppContext, uow: UnitOfWork, ticket: Ticket, body: str, *, internal: bool, author_name: str
) -> Message:
    s = uow.session
    conv_id = s.scalar(
        select(Conversation.id)
        .where(Conversation.ticket_id == ticket.id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    msg = Message(
        ticket_id=ticket.id,
        conversation_id=conv_id,
        author_type=AuthorType.SYSTEM.value,
        channel=ticket.channel,
        body=body,
        internal=internal,
        findings=[],
        meta={"author_name": author_name},
        created_at=utcnow(),
    )
    s.add(msg)
    s.flush()
    tid, mid = ticket.id, msg.id
    uow.on_commit(
        lambda: ctx.bus.publish(
            f"ticket:{tid}", MessageAdded(tid, mid, AuthorType.SYSTEM.value, internal).payload()
        )
    )
    return msg


def ticket_for_update(s: Session, actor: Actor, ticket_id: int) -> Ticket:
    return access_ticket(s, actor, ticket_id, for_update=True)


def require_account(ctx: AppContext, customer_id: int) -> Account:
    acct = customer_account(ctx, customer_id)
    if acct is None:
        from paydesk.payments.port import AccountNotFound

        raise AccountNotFound("this customer has no account on the payment platform")
    return acct
