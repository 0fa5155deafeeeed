"""Email participants (Cc) of a ticket.

- Intake (`record_from_inbound`, an after_intake hook): the Cc addresses and extra To addresses
  of an inbound mail become participants of its ticket — known customers resolved through their
  email identity, strangers kept as addresses. Never: our own addresses (plus-addressed
  variants too), the ticket's customer, the sender. Mail from an unverified sender adds nobody
  (a forger must not copy himself into a customer's ticket). A participant an agent removed is
  added again only when a later mail copies them again (as Zendesk, Zammad do).
- Agent replies go To the customer with the active participants in Cc (`cc_for`).
- Agents see, add and remove participants in the console; every change is audited.

Addresses are stored normalised (`normalize_email`: no spaces, commas, quotes, angle brackets
or line breaks), so a participant can never inject a header into outgoing mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.events import TicketUpdated
from paydesk.domain.identities import normalize_email
from paydesk.domain.permissions import Perm
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.customers import Customer, CustomerIdentity
from paydesk.store.email_participants import EmailParticipant

MAX_PER_TICKET = 20  # a mail copied to a whole department does not fan replies out to 200


def own_addresses(ctx: AppContext) -> set[str]:
    """Our addresses (support, From, IMAP user); computed once per configuration (twice per
    inbound mail otherwise, and `parseaddr` is not free)."""
    s = ctx.settings
    key = (s.support_addresses, s.mail_from, s.imap_username)
    cached = ctx.extras.get("email_own_addresses")
    if cached is not None and cached[0] == key:
        return set(cached[1])
    out = {a.strip().lower() for a in s.support_addresses.split(",") if "@" in a}
    out.add(parseaddr(s.mail_from)[1].lower())
    if s.imap_username and "@" in s.imap_username:
        out.add(s.imap_username.lower())
    found = frozenset(a for a in out if a)
    ctx.extras["email_own_addresses"] = (key, found)
    return set(found)


def is_own(address: str, own: set[str]) -> bool:
    """Ours, including plus-addressed variants (`support+t12-…@topay.example`)."""
    local, _, domain = address.lower().rpartition("@")
    return address.lower() in own or f"{local.partition('+')[0]}@{domain}" in own


def _customer_addresses(s: Session, customer_id: int) -> set[str]:
    return set(
        s.scalars(
            select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == "email"
            )
        )
    )


def _publish(ctx: AppContext, uow: UnitOfWork, ticket_id: int, workspace_id: int) -> None:
    payload = TicketUpdated(ticket_id, ("participants",)).payload()

    def go() -> None:
        ctx.bus.publish(f"ticket:{ticket_id}", payload)
        ctx.bus.publish(f"inbox:{workspace_id}", payload)

    uow.on_commit(go)


def record_from_inbound(
    ctx: AppContext, uow: UnitOfWork, ticket: Any, message: Any, inbound: Any
) -> None:
    """after_intake: add the copied addresses of an inbound mail (see module docstring)."""
    meta = inbound.metadata.get("email") or {}
    candidates = [a for a in (meta.get("cc") or []) if a] + [a for a in (meta.get("to") or []) if a]
    if not candidates or inbound.hook_data.get("sender_unverified") is not None:
        return
    own = own_addresses(ctx)
    sender = (inbound.email or "").lower()
    # most mail is addressed to us alone: no query unless someone else is named
    candidates = [a.lower() for a in candidates if a.lower() != sender and not is_own(a, own)]
    if not candidates:
        return
    s = uow.session
    skip = _customer_addresses(s, ticket.customer_id)
    wanted: dict[str, str] = {}
    cc = set(meta.get("cc") or [])
    for a in candidates:
        if a in skip or a in wanted:
            continue
        try:
            normalize_email(a)
        except InvalidInput:
            continue
        wanted[a] = "cc" if a in cc else "to"
    if not wanted:
        return
    existing = {
        r.address: r
        for r in s.execute(
            select(EmailParticipant.id, EmailParticipant.address, EmailParticipant.active).where(
                EmailParticipant.ticket_id == ticket.id
            )
        )
    }
    known = {
        r.value: r.customer_id
        for r in s.execute(
            select(CustomerIdentity.value, CustomerIdentity.customer_id).where(
                CustomerIdentity.workspace_id == ticket.workspace_id,
                CustomerIdentity.kind == "email",
                CustomerIdentity.value.in_(list(wanted)),
            )
        )
    }
    room = MAX_PER_TICKET - sum(1 for r in existing.values() if r.active)
    now = utcnow()
    added: list[str] = []
    for addr, source in wanted.items():
        row = existing.get(addr)
        if row is not None and row.active:
            continue
        if room <= 0:
            break
        room -= 1
        added.append(addr)
        if row is not None:
            s.execute(
                update(EmailParticipant)
                .where(EmailParticipant.id == row.id)
                .values(active=True, removed_at=None, removed_by_agent_id=None)
            )
            continue
        s.execute(
            insert(EmailParticipant),
            [
                {
                    "workspace_id": ticket.workspace_id,
                    "ticket_id": ticket.id,
                    "address": addr,
                    "customer_id": known.get(addr),
                    "source": source,
                    "added_from_message": message.id,
                    "added_by_agent_id": None,
                    "active": True,
                    "created_at": now,
                }
            ],
        )
    if added:
        audit.append(
            s,
            system_actor(ticket.workspace_id),
            "email.participants_added",
            object_type="ticket",
            object_id=ticket.id,
            customer_id=ticket.customer_id,
            details={"addresses": added, "message_id": message.id},
        )


def cc_for(ctx: AppContext, s: Session, ticket_id: int, to: str) -> list[str]:
    """The Cc of an agent reply: active participants, never the To, never our own address."""
    own = own_addresses(ctx)
    out: list[str] = []
    for addr in s.scalars(
        select(EmailParticipant.address)
        .where(EmailParticipant.ticket_id == ticket_id, EmailParticipant.active.is_(True))
        .order_by(EmailParticipant.id)
        .limit(MAX_PER_TICKET)
    ):
        if addr != to.lower() and not is_own(addr, own) and addr not in out:
            out.append(addr)
    return out


# ---- console ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participant:
    id: int
    address: str
    customer_id: int | None
    customer_name: str | None
    source: str
    active: bool
    created_at: datetime
    removed_at: datetime | None


def list_participants(ctx: AppContext, actor: Actor, ticket_id: int) -> list[Participant]:
    """Participants of a ticket the actor can see (NotFound otherwise), active first."""
    with ctx.read() as s:
        access_ticket(s, actor, ticket_id)
        rows = s.execute(
            select(EmailParticipant, Customer.name)
            .outerjoin(Customer, Customer.id == EmailParticipant.customer_id)
            .where(EmailParticipant.ticket_id == ticket_id)
            .order_by(EmailParticipant.active.desc(), EmailParticipant.id)
        ).all()
        return [
            Participant(
                p.id,
                p.address,
                p.customer_id,
                name,
                p.source,
                p.active,
                p.created_at,
                p.removed_at,
            )
            for p, name in rows
        ]


def add_participant(ctx: AppContext, actor: Actor, ticket_id: int, address: str) -> Participant:
    """An agent copies someone on the ticket's email replies."""
    actor.require(Perm.TICKET_WRITE)
    try:
        addr = normalize_email(address)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="address") from None
    if is_own(addr, own_addresses(ctx)):
        raise InvalidInput("our own support address cannot be a participant", field="address")
    with ctx.uow() as uow:
        s = uow.session
        t = access_ticket(s, actor, ticket_id, for_update=True)
        if addr in _customer_addresses(s, t.customer_id):
            raise InvalidInput("that is the customer's own address", field="address")
        rows = list(s.scalars(select(EmailParticipant).where(EmailParticipant.ticket_id == t.id)))
        if sum(1 for r in rows if r.active) >= MAX_PER_TICKET:
            raise InvalidInput(f"at most {MAX_PER_TICKET} participants", field="address")
        row = next((r for r in rows if r.address == addr), None)
        if row is None:
            cid = s.scalar(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.workspace_id == t.workspace_id,
                    CustomerIdentity.kind == "email",
                    CustomerIdentity.value == addr,
                )
            )
            row = EmailParticipant(
                workspace_id=t.workspace_id,
                ticket_id=t.id,
                address=addr,
                customer_id=cid,
                source="agent",
                added_by_agent_id=actor.id if actor.kind == "agent" else None,
                active=True,
                created_at=utcnow(),
            )
            s.add(row)
        else:
            row.active, row.removed_at, row.removed_by_agent_id = True, None, None
        s.flush()
        audit.record(
            s,
            actor,
            "email.participant_added",
            object_type="ticket",
            object_id=t.id,
            customer_id=t.customer_id,
            details={"address": addr},
        )
        _publish(ctx, uow, t.id, t.workspace_id)
        name = s.scalar(select(Customer.name).where(Customer.id == row.customer_id))
        return Participant(
            row.id,
            row.address,
            row.customer_id,
            name,
            row.source,
            True,
            row.created_at,
            None,
        )


def remove_participant(ctx: AppContext, actor: Actor, ticket_id: int, participant_id: int) -> None:
    """Stop copying a participant on replies (kept in the list as removed; audited)."""
    actor.require(Perm.TICKET_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        t = access_ticket(s, actor, ticket_id, for_update=True)
        row = s.get(EmailParticipant, participant_id)
        if row is None or row.ticket_id != t.id:
            raise NotFound(f"participant {participant_id} not found")
        if not row.active:
            return
        row.active = False
        row.removed_at = utcnow()
        row.removed_by_agent_id = actor.id if actor.kind == "agent" else None
        audit.record(
            s,
            actor,
            "email.participant_removed",
            object_type="ticket",
            object_id=t.id,
            customer_id=t.customer_id,
            details={"address": row.address},
        )
        _publish(ctx, uow, t.id, t.workspace_id)
