"""Imports every model so `Base.metadata` is complete (Alembic, tests)."""

from paydesk.store import (  # noqa: F401
    accounts,
    agents,
    audit,
    auth,
    bus,
    chat,
    customers,
    email,
    email_participants,
    incidents,
    kb,
    ledger,
    macros,
    routing,
    sla,
    surveys,
    tickets,
    totp,
    workspace,
)
from paydesk.store.base import Base

metadata = Base.metadata
