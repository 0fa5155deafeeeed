"""Customers: find-or-create by any identity, add identities, merge duplicates."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, InvalidInput
from paydesk.domain.identities import IdentityKind, normalize
from paydesk.domain.permissions import Perm
from paydesk.services import audit
from paydesk.services.access import access_customer
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.store.customers import Customer, CustomerIdentity
from paydesk.store.tickets import Message, Ticket


def identities_of(
    email: str | None = None,
    phone: str | None = None,
    platform_user_id: str | None = None,
    visitor_id: str | None = None,
) -> list[tuple[IdentityKind, str]]:
    """Normalised (kind, value) pairs; raises InvalidInput for a malformed email or phone."""
    out: list[tuple[IdentityKind, str]] = []
    for kind, value in (
        (IdentityKind.EMAIL, email),
        (IdentityKind.PHONE, phone),
        (IdentityKind.PLATFORM_USER, platform_user_id),
        (IdentityKind.CHAT_VISITOR, visitor_id),
    ):
        if value:
            out.append((kind, normalize(kind, value)))
    return out


def find_customer(
    session: Session, workspace_id: int, kind: IdentityKind, value: str
) -> Customer | None:
    ident = session.scalars(
        select(CustomerIdentity).where(
            CustomerIdentity.workspace_id == workspace_id,
            CustomerIdentity.kind == kind.value,
            CustomerIdentity.value == value,
        )
    ).first()
    return session.get(Customer, ident.customer_id) if ident else None


def find_or_create_customer(
    session: Session,
    workspace_id: int,
    idents: list[tuple[IdentityKind, str]],
    *,
    name: str | None = None,
    locale: str = "en",
) -> Customer:
    """The customer owning the first known identity; the other identities are attached to them
    when free. A new customer when none is known. Caller owns the transaction."""
    if not idents:
        raise InvalidInput(
            "a customer needs an email, phone, platform user id or visitor id", field="customer"
        )
    values = {(k.value, v) for k, v in idents}
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.customer_id).where(
            CustomerIdentity.workspace_id == workspace_id,
            CustomerIdentity.value.in_([v for _, v in idents]),
        )
    ).all()
    known = {(r.kind, r.value): r.customer_id for r in rows if (r.kind, r.value) in values}
    customer: Customer | None = None
    for kind, value in idents:
        cid = known.get((kind.value, value))
        if cid is not None:
            customer = session.get(Customer, cid)
            break
    if customer is None:
        customer = Customer(
            workspace_id=workspace_id, name=(name or "").strip()[:200], locale=locale
        )
        session.add(customer)
        session.flush()
    elif name and not customer.name:
        customer.name = name.strip()[:200]
    for kind, value in idents:
        if (kind.value, value) not in known:
            session.add(
                CustomerIdentity(
                    workspace_id=workspace_id, customer_id=customer.id, kind=kind.value, value=value
                )
            )
    return customer


def customer_identities(session: Session, customer_id: int) -> list[CustomerIdentity]:
    return list(
        session.scalars(
            select(CustomerIdentity)
            .where(CustomerIdentity.customer_id == customer_id)
            .order_by(CustomerIdentity.id)
        )
    )


def merge_customers(ctx: AppContext, actor: Actor, source_id: int, target_id: int) -> Customer:
    """Move every identity, ticket and message of `source` to `target`; `source` remains as a
    tombstone pointing at `target` (audited). Irreversible."""
    actor.require(Perm.CUSTOMER_MERGE)
    if source_id == target_id:
        raise InvalidInput("cannot merge a customer into themself", field="source_id")
    with ctx.uow() as uow:
        s = uow.session
        source = access_customer(s, actor, source_id)
        target = access_customer(s, actor, target_id)
        if source.merged_into_id or target.merged_into_id:
            raise Conflict("one of these customers was already merged")
        s.execute(
            update(CustomerIdentity)
            .where(CustomerIdentity.customer_id == source.id)
            .values(customer_id=target.id)
        )
        s.execute(
            update(Ticket).where(Ticket.customer_id == source.id).values(customer_id=target.id)
        )
        s.execute(
            update(Message)
            .where(Message.author_customer_id == source.id)
            .values(author_customer_id=target.id)
        )
        source.merged_into_id = target.id
        if not target.name:
            target.name = source.name
        audit.record(
            s,
            actor,
            "customer.merged",
            object_type="customer",
            object_id=target.id,
            customer_id=target.id,
            details={"source_id": source.id},
        )
    return target
