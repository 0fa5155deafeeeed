"""The relay table of the embedded event bus: several processes on one database without Redis
(a multi-worker server, a CLI command beside a server) see each other's live events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class BusEvent(Base):
    __tablename__ = "bus_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
