"""Domain events, named in the past tense. Published on the realtime bus after commit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    def name(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        return {"type": self.name(), **asdict(self)}


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
