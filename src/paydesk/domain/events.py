"""Domain events, named in the past tense. Published on the realtime bus after commit."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    def name(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        # shallow: event fields are plain values (dataclasses.asdict deep-copies, ~20 µs each)
        return {"type": self.name(), **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True, slots=True)
class TicketOpened(Event):
    ticket_id: int
    number: int
    queue: str | None
    subject: str


@dataclass(frozen=True, slots=True)
class MessageAdded(Event):
    ticket_id: int
    message_id: int
    author_type: str
    internal: bool


@dataclass(frozen=True, slots=True)
class TicketUpdated(Event):
    ticket_id: int
    fields: tuple[str, ...]
