"""InboundMessage: what every channel hands to the intake pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paydesk.domain.tickets import Channel


@dataclass(slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class InboundMessage:
    channel: Channel
    body: str
    subject: str = ""
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    locale: str | None = None
    platform_user_id: str | None = None
    visitor_id: str | None = None
    idempotency_key: str | None = None
    # explicit threading: append to this ticket (already access-checked by the caller)
    ticket_id: int | None = None
    category: str | None = None
    priority: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # category-specific form fields
    metadata: dict[str, Any] = field(default_factory=dict)  # channel metadata (headers, call id)
    attachments: list[InboundAttachment] = field(default_factory=list)
    body_html: str | None = None
    # transient data a channel passes to its own intake hooks (never stored)
    hook_data: dict[str, Any] = field(default_factory=dict)
