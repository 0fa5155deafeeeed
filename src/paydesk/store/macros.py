"""Macros: named canned replies (en / zh-CN variants) with optional ticket actions.

`owner_id` is NULL for a shared macro, else the agent whose personal macro it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class Macro(Base):
    __tablename__ = "macros"
    __table_args__ = (Index("ix_macros_workspace", "workspace_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    body_en: Mapped[str] = mapped_column(Text, default="")
    body_zh: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
