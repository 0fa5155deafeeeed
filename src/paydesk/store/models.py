"""Imports every model so `Base.metadata` is complete (Alembic, tests)."""

from paydesk.store import agents, audit, auth, bus, customers, tickets, workspace # noqa: F401
from paydesk.store import accounts, ledger # noqa: F401
from paydesk.store.base import Base

metadata = Base.metadata
