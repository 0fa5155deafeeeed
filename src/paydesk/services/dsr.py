"""Data-subject rights: export everything about a customer, erase (pseudonymise) a customer.

Export: one zip — `customer.json` (profile, identities, tickets with their public messages and
attachment metadata, and the rows of every other table that has a `customer_id` column, found
through the SQLAlchemy metadata so capabilities added later are included) and `attachments/`.

Erase: the person's identifiers go (identities, name, sessions, sign-in links); tickets the law
keeps — complaints and transaction tickets (retention holds) — stay with their content but point
at a pseudonymous customer; every other ticket's text, fields and attachments are wiped. The
audit trail is append-only and keeps only ids and redacted details. Both actions need the admin
permission and are audited.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, InvalidInput
from paydesk.domain.permissions import Perm
from paydesk.domain.tickets import Category, TicketType
from paydesk.services import audit
from paydesk.services.access import access_customer
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.files import read_bytes
from paydesk.store.auth import MagicLink, WebSession
from paydesk.store.base import utcnow
from paydesk.store.customers import CustomerIdentity
from paydesk.store.email import EmailRaw
from paydesk.store.email_participants import EmailParticipant
from paydesk.store.models import metadata
from paydesk.store.routing import CustomerTag
from paydesk.store.surveys import CsatSurvey, NpsSurvey
from paydesk.store.tickets import Attachment, Message, Ticket

ERASED_TEXT = "[erased at the customer's request]"
# Tables handled explicitly (or never personal: the audit trail keeps ids only)
_SKIP_TABLES = {"tickets", "customer_identities", "web_sessions", "magic_links", "audit_events"}


def held(ticket: Ticket) -> str | None:
    """Why the law keeps this ticket, or None."""
    if ticket.type == TicketType.COMPLAINT.value or ticket.category == Category.COMPLAINT.value:
        return "complaint"
    if ticket.category == Category.TRANSACTIONS.value:
        return "transaction"
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _row(obj: Any, columns: list[str]) -> dict[str, Any]:
    return {c: _jsonable(getattr(obj, c)) for c in columns}


def _other_tables(s: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name in _SKIP_TABLES or "customer_id" not in table.c:
            continue
        if table.name == "customers":
            continue
        rows = s.execute(select(table).where(table.c.customer_id == customer_id)).mappings()
        data = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
        if data:
            out[table.name] = data
    return out


def export_customer(ctx: AppContext, actor: Actor, customer_id: int) -> bytes:
    """A zip with everything stored about the customer (see module docstring). Audited."""
    actor.require(Perm.ADMIN)
    buf = io.BytesIO()
    with ctx.uow() as uow:
        s = uow.session
        customer = access_customer(s, actor, customer_id)
        doc: dict[str, Any] = {
            "format": "paydesk.customer-export.v1",
            "exported_at": utcnow().isoformat(),
            "customer": _row(customer, ["id", "name", "locale", "created_at", "erased_at"]),
            "identities": [
                _row(i, ["kind", "value", "verified", "created_at"])
                for i in s.scalars(
                    select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
                )
            ],
            "tickets": [],
        }
        files: list[tuple[str, str]] = []
        tickets = s.scalars(
            select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
        ).all()
        for t in tickets:
            item = _row(
                t,
                ["id", "number", "subject", "status", "category", "type", "channel", "locale"]
                + ["fields", "created_at", "updated_at", "solved_at", "closed_at"],
            )
            item["messages"] = []
            msgs = s.scalars(
                select(Message)
                .where(Message.ticket_id == t.id, Message.internal.is_(False))
                .order_by(Message.id)
            ).all()
            for m in msgs:
                md = _row(m, ["id", "author_type", "channel", "body", "created_at"])
                md["redactions"] = [f.get("type") for f in m.findings or []]
                md["attachments"] = []
                for a in s.scalars(select(Attachment).where(Attachment.message_id == m.id)):
                    path = f"attachments/{m.id}/{a.id}-{a.filename}"
                    md["attachments"].append(
                        {"file": path, "content_type": a.content_type, "size": a.size}
                    )
                    files.append((path, a.storage_key))
                item["messages"].append(md)
            doc["tickets"].append(item)
        doc["other_records"] = _other_tables(s, customer_id)
        audit.record(
            s,
            actor,
            "dsr.exported",
            object_type="customer",
            object_id=customer_id,
            customer_id=customer_id,
            details={"tickets": len(tickets), "attachments": len(files)},
        )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("customer.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        for path, key in files:
            try:
                zf.writestr(path, read_bytes(ctx.settings.data_dir, key))
            except (OSError, ValueError):
                zf.writestr(path + ".missing", b"")
    return buf.getvalue()


@dataclass
class ErasureResult:
    customer_id: int
    tickets_erased: int = 0
    tickets_held: dict[str, int] = field(default_factory=dict)
    identities_removed: int = 0
    attachments_removed: int = 0
    email_participants_removed: int = 0
    raw_emails_erased: int = 0
    other_records_kept: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "tickets_erased": self.tickets_erased,
            "tickets_held": self.tickets_held,
            "identities_removed": self.identities_removed,
            "attachments_removed": self.attachments_removed,
            "email_participants_removed": self.email_participants_removed,
            "raw_emails_erased": self.raw_emails_erased,
            "other_records_kept": self.other_records_kept,
        }


def erase_customer(ctx: AppContext, actor: Actor, customer_id: int, reason: str) -> ErasureResult:
    """Erase/pseudonymise a customer (see module docstring). Idempotent refusal: an already
    erased customer → Conflict. Files of removed attachments are left to content-addressed
    storage garbage collection only when no other attachment references them."""
    actor.require(Perm.ADMIN)
    if not reason.strip():
        raise InvalidInput("give the reason (e.g. the request reference)", field="reason")
    result = ErasureResult(customer_id)
    orphan_keys: list[str] = []
    with ctx.uow() as uow:
        s = uow.session
        customer = access_customer(s, actor, customer_id)
        if customer.erased_at is not None:
            raise Conflict(f"customer {customer_id} was already erased")
        now = utcnow()
        idents = s.scalars(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
        ).all()
        result.identities_removed = len(idents)
        emails = [i.value.lower() for i in idents if i.kind == "email"]
        s.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id))
        s.execute(delete(WebSession).where(WebSession.customer_id == customer_id))
        s.execute(delete(MagicLink).where(MagicLink.customer_id == customer_id))
        s.execute(delete(CustomerTag).where(CustomerTag.customer_id == customer_id))
        # ratings stay as (pseudonymous) statistics; what the customer wrote goes
        for survey in (CsatSurvey, NpsSurvey):
            s.execute(
                update(survey)
                .where(survey.customer_id == customer_id, survey.comment.is_not(None))
                .values(comment=None)
            )
        customer.name = f"Erased customer {customer_id}"
        customer.erased_at = now
        erased_ids: list[int] = []
        for t in s.scalars(select(Ticket).where(Ticket.customer_id == customer_id)):
            why = held(t)
            if why:
                result.tickets_held[why] = result.tickets_held.get(why, 0) + 1
                t.fields = {**(t.fields or {}), "retention_hold": why}
                continue
            result.tickets_erased += 1
            erased_ids.append(t.id)
            t.subject = ERASED_TEXT
            t.fields = {"erased": True}
            t.search_text = ""
            for m in s.scalars(select(Message).where(Message.ticket_id == t.id)):
                m.body = ERASED_TEXT
                m.body_html = None
                m.meta = {}
                for a in s.scalars(select(Attachment).where(Attachment.message_id == m.id)):
                    orphan_keys.append(a.storage_key)
                    s.delete(a)
                    result.attachments_removed += 1
        orphan_keys += _erase_email_copies(s, customer_id, emails, erased_ids, result)
        for name, rows in _other_tables(s, customer_id).items():
            result.other_records_kept[name] = len(rows)
        s.flush()
        still_used = set(
            s.scalars(select(Attachment.storage_key).where(Attachment.storage_key.in_(orphan_keys)))
        )
        still_used |= set(
            s.scalars(select(EmailRaw.storage_key).where(EmailRaw.storage_key.in_(orphan_keys)))
        )
        to_delete = [k for k in set(orphan_keys) if k not in still_used]
        audit.record(
            s,
            actor,
            "dsr.erased",
            object_type="customer",
            object_id=customer_id,
            customer_id=customer_id,
            details={"reason": reason.strip()[:200], **result.as_dict()},
        )

        def remove_files() -> None:
            for key in to_delete:
                path = (ctx.settings.data_dir / key).resolve()
                if str(path).startswith(str(ctx.settings.data_dir.resolve())):
                    path.unlink(missing_ok=True)

        uow.on_commit(remove_files)
    return result


def _erase_email_copies(
    s: Session, customer_id: int, emails: list[str], ticket_ids: list[int], result: ErasureResult
) -> list[str]:
    """The email channel's copies of an erased customer: Cc/To participant rows naming them (on
    any ticket), and the raw messages of their erased tickets or sent from their addresses —
    the row is pseudonymised and its stored file removed. Returns storage keys to delete."""
    conds = [EmailParticipant.customer_id == customer_id]
    if emails:
        conds.append(EmailParticipant.address.in_(emails))
    res = s.execute(delete(EmailParticipant).where(or_(*conds)))
    result.email_participants_removed = int(res.rowcount or 0)  # type: ignore[attr-defined]
    raw_conds = []
    if ticket_ids:
        raw_conds.append(EmailRaw.ticket_id.in_(ticket_ids))
    if emails:  # mail that never became a ticket, or only erased ones (held tickets keep theirs)
        open_ = [EmailRaw.ticket_id.is_(None)]
        if ticket_ids:
            open_.append(EmailRaw.ticket_id.in_(ticket_ids))
        raw_conds.append(and_(EmailRaw.from_addr.in_(emails), or_(*open_)))
    keys: list[str] = []
    if raw_conds:
        for raw in s.scalars(select(EmailRaw).where(or_(*raw_conds))):
            keys.append(raw.storage_key)
            raw.storage_key = ""
            raw.from_addr = None
            raw.subject = ERASED_TEXT
            raw.message_id = None
            raw.error = ""
            result.raw_emails_erased += 1
    return keys


def find_customer_ids(ctx: AppContext, actor: Actor, kind: str, value: str) -> list[int]:
    """Customers by identity (email/phone/…) for the CLI and admin API."""
    actor.require(Perm.ADMIN)
    with ctx.read() as s:
        return list(
            s.scalars(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.workspace_id == actor.workspace_id,
                    CustomerIdentity.kind == kind,
                    CustomerIdentity.value == value.strip().lower(),
                )
            )
        )
