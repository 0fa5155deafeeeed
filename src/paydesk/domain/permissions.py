"""Roles and what each may do. Checked by services (never by routes alone)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    TECHNICAL = "technical"
    AUDITOR = "auditor"


class Perm(StrEnum):
    TICKET_READ_ALL = "ticket.read_all"  # every queue, not just one's own
    TICKET_WRITE = "ticket.write"  # reply, note, change status/priority/tags/assignee
    CUSTOMER_MERGE = "customer.merge"
    AUDIT_READ = "audit.read"
    RAW_SOURCE_READ = "raw_source.read"  # original email source
    KB_WRITE = "kb.write"
    ADMIN = "admin"
    REFUND_APPROVE = "refund.approve"


_ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.AGENT: frozenset({Perm.TICKET_WRITE}),
    Role.TECHNICAL: frozenset({Perm.TICKET_WRITE}),
    Role.SUPERVISOR: frozenset(
        {
            Perm.TICKET_READ_ALL,
            Perm.TICKET_WRITE,
            Perm.CUSTOMER_MERGE,
            Perm.RAW_SOURCE_READ,
            Perm.KB_WRITE,
            Perm.REFUND_APPROVE,
        }
    ),
    Role.ADMIN: frozenset(Perm),
    Role.AUDITOR: frozenset({Perm.TICKET_READ_ALL, Perm.AUDIT_READ}),
}


def has_perm(role: str, perm: Perm) -> bool:
    try:
        return perm in _ROLE_PERMS[Role(role)]
    except ValueError:
        return False
