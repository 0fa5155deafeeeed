"""API request and response schemas. Requests forbid unknown fields (a typo is an error)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1_100_000)


class CustomerIn(Strict):
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    locale: Literal["zh-CN", "en"] | None = None
    platform_user_id: str | None = Field(default=None, max_length=128)


class AttachmentIn(Strict):
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=127)
    content_base64: str = Field(max_length=14_000_000)


class TicketCreate(Strict):
    customer: CustomerIn
    subject: str = Field(default="", max_length=500)
    body: str = Field(max_length=1_100_000)
    channel: Literal["web", "email", "chat", "phone", "api"] = "api"
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    category: (
        Literal["account", "transactions", "technical", "complaint", "suggestion", "education"]
        | None
    ) = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=50)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)


class MessageCreate(Strict):
    body: str = Field(max_length=1_100_000)
    internal: bool = False


class TicketUpdate(Strict):
    status: Literal["new", "open", "pending", "on-hold", "solved", "closed"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    category: (
        Literal["account", "transactions", "technical", "complaint", "suggestion", "education"]
        | None
    ) = None
    assignee_id: int | None = None
    queue_id: int | None = None
    subject: str | None = Field(default=None, max_length=500)
    tags: list[str] | None = Field(default=None, max_length=50)


class AttachmentPublic(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int


class MessagePublic(BaseModel):
    id: int
    author_type: str
    author_name: str | None = None
    channel: str
    body: str
    internal: bool
    created_at: datetime
    findings: list[dict[str, Any]] = []
    delivery_status: str | None = None
    attachments: list[AttachmentPublic] = []


class CustomerPublic(BaseModel):
    id: int
    name: str
    locale: str
    email: str | None = None
    phone: str | None = None


class SlaClock(BaseModel):
    state: str  # running | paused | met | breached
    due_at: datetime | None = None
    met_at: datetime | None = None
    seconds_left: int | None = None  # negative: overdue
    due_soon: bool = False
    paused_seconds_left: int | None = None


class SlaComplaint(SlaClock):
    extended: bool = False  # a holding reply moved the deadline to the longer bound
    holding_reply_at: datetime | None = None


class SlaPublic(BaseModel):
    policy_id: int | None = None
    due_at: datetime | None = None  # the nearest running target
    breached: bool = False
    due_soon: bool = False
    first_response: SlaClock | None = None
    next_response: SlaClock | None = None
    resolution: SlaClock | None = None
    complaint: SlaComplaint | None = None  # regulatory final-answer deadline
    escalation_level: int = 0


class TicketSummary(BaseModel):
    id: int
    number: int
    subject: str
    status: str
    priority: str
    category: str
    type: str
    channel: str
    locale: str
    queue_id: int | None
    assignee_id: int | None
    customer_id: int
    created_at: datetime
    updated_at: datetime
    sla: SlaPublic | None = None


class TicketPublic(TicketSummary):
    customer: CustomerPublic | None = None
    messages: list[MessagePublic] = []
    tags: list[str] = []
    fields: dict[str, Any] = {}


class TicketCreated(BaseModel):
    id: int
    number: int
    status: str
    category: str
    priority: str
    queue_id: int | None
    customer_id: int
    message_id: int
    created: bool


class TicketList(BaseModel):
    tickets: list[TicketSummary]
    next_cursor: str | None
