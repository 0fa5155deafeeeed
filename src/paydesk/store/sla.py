"""SLA configuration: business calendars and SLA policies (per workspace).

A ticket's clocks are columns of `tickets` (store/tickets.py: `sla_*`, `*_due_at`) so intake
sets them in the same INSERT and the inbox filters/sorts on them without a join.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class BusinessCalendarRow(Base):
    """A jurisdiction's working time: time zone, weekly hours (7 lists of [start, end] minutes
    after local midnight, Monday first), holidays and make-up working days (ISO dates), and
    the complaint clock in business days."""

    __tablename__ = "business_calendars"
    __table_args__ = (Index("ix_business_calendars_ws", "workspace_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    hours: Mapped[list[Any]] = mapped_column(default=list)
    holidays: Mapped[list[str]] = mapped_column(default=list)
    extra_days: Mapped[list[str]] = mapped_column(default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    complaint_days: Mapped[int] = mapped_column(default=15)
    complaint_extended_days: Mapped[int] = mapped_column(default=35)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicyRow(Base):
    """Targets in minutes per priority and metric ({"urgent": {"first_response": 30, ...}}),
    applied to tickets matching the optional queue / category / priority conditions."""

    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_ws", "workspace_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    business_hours: Mapped[bool] = mapped_column(default=True)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    category: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[str | None] = mapped_column(String(16))
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
