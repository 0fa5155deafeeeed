"""Routing rules per workspace, the routing version, per-queue automatic assignment, customer
tags (what rules like "VIP customers" look at) and each new ticket's routing outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class RoutingRuleRow(Base):
    """One editable rule; `position` orders the rules of a workspace (first match first)."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_workspace", "workspace_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    position: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingSettings(Base):
    """The workspace's default queue and a version bumped by every rule change: each process
    compares it with its compiled copy at most once a second."""

    __tablename__ = "routing_settings"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    default_queue: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueAssignment(Base):
    """Automatic assignment of a queue's new tickets: mode off | round_robin | least_loaded."""

    __tablename__ = "queue_assignment"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), default="off")
    max_open: Mapped[int] = mapped_column(default=10)  # per agent, tickets new/open/pending
    last_agent_id: Mapped[int | None] = mapped_column()  # round-robin cursor


class CustomerTag(Base):
    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)


class TicketRouting(Base):
    """How a new ticket was routed (rule, team) and whether it still waits for automatic
    assignment (`assign_pending`, the assignment step's work list)."""

    __tablename__ = "ticket_routing"
    __table_args__ = (Index("ix_ticket_routing_pending", "assign_pending", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column()
    rule_id: Mapped[int | None] = mapped_column()  # no FK: a rule may be deleted later
    rule_name: Mapped[str] = mapped_column(String(100), default="")
    team_id: Mapped[int | None] = mapped_column()
    assign_pending: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
