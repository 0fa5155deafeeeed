"""Incidents (problem records, DESIGN capability 3): one record groups the flood of tickets an
outage brings, follows the fix (investigating → identified → monitoring → resolved), names the
technical on-call it was escalated to, and remembers which customers were told it is fixed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_workspace_status", "workspace_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    title: Mapped[str] = mapped_column(String(200))
    # investigating | identified | monitoring | resolved
    status: Mapped[str] = mapped_column(String(16), default="investigating")
    severity: Mapped[str] = mapped_column(String(8), default="sev3")  # sev1 … sev4
    affected_service: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")  # internal, redacted
    source_ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column()
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    oncall_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    escalated_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    notified_at: Mapped[datetime | None] = mapped_column()  # first bulk notification
    notified_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentTicket(Base):
    """A ticket (type incident) linked to an incident; a ticket belongs to at most one.
    `notified_at` makes the "fixed" notification reach each customer once."""

    __tablename__ = "incident_tickets"
    __table_args__ = (
        UniqueConstraint("ticket_id", name="uq_incident_tickets_ticket"),
        Index("ix_incident_tickets_incident", "incident_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    linked_by_name: Mapped[str] = mapped_column(String(200), default="")
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column()
    notice_message_id: Mapped[int | None] = mapped_column()


class IncidentUpdate(Base):
    """The incident's timeline: status changes, escalations, notes, notifications."""

    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # created|status|note|escalated|linked|notified
    status: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
