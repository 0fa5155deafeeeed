"""Ticket vocabulary and the status state machine."""

from __future__ import annotations

from enum import StrEnum

from paydesk.domain.errors import TransitionNotAllowed


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    ON_HOLD = "on-hold"  # waiting on a third party (platform, bank, technical team)
    SOLVED = "solved"
    CLOSED = "closed"  # terminal; a new message opens a follow-up ticket


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Category(StrEnum):
    ACCOUNT = "account"
    TRANSACTIONS = "transactions"
    TECHNICAL = "technical"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    EDUCATION = "education"


class TicketType(StrEnum):
    QUESTION = "question"
    INCIDENT = "incident"
    PROBLEM = "problem"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    API = "api"


class AuthorType(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


OPEN_STATUSES = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}
    ),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def allowed_transitions(current: Status) -> frozenset[Status]:
    return _ALLOWED[current]


def check_transition(current: Status, target: Status) -> None:
    """Raise TransitionNotAllowed unless `current → target` is a legal move.

    A no-op (same status) is allowed. Closed is terminal: follow-ups become new tickets.
    """
    if current == target:
        return
    if target not in _ALLOWED[current]:
        raise TransitionNotAllowed(
            f"a ticket cannot go from {current.value!r} to {target.value!r}", field="status"
        )


def status_after_customer_message(current: Status) -> Status:
    """A customer writing again re-opens pending/solved tickets; new stays new."""
    if current in (Status.PENDING, Status.SOLVED, Status.ON_HOLD):
        return Status.OPEN
    return current


def status_after_agent_reply(current: Status) -> Status:
    """A public agent reply means we now wait for the customer."""
    if current in (Status.NEW, Status.OPEN):
        return Status.PENDING
    return current


def type_for_category(category: Category) -> TicketType:
    if category == Category.COMPLAINT:
        return TicketType.COMPLAINT
    if category == Category.SUGGESTION:
        return TicketType.SUGGESTION
    return TicketType.QUESTION


def format_number(number: int) -> str:
    return f"#{number}"


def subject_tag(number: int) -> str:
    return f"[TOPAY #{number}]"


def normalize_tags(tags: list[str]) -> list[str]:
    """Lower-case, trimmed, unique, ≤ 40 characters each, sorted; empty tags dropped."""
    out: set[str] = set()
    for tag in tags:
        t = " ".join(tag.strip().lower().split())[:40]
        if t:
            out.add(t)
    return sorted(out)
