"""Live-chat wire protocol: pure parsing and validation of client frames (no I/O).

Every client frame is one JSON object with a "type". `parse_frame(raw, role)` returns a `Frame`
or raises `ProtocolError` with a stable `code` the server sends back in an error event. See
docs/subsystems/live-chat.md for the full protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_FRAME_BYTES = 16 * 1024  # a larger frame closes the socket with 1009
MAX_BODY_CHARS = 4000
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PRESENCE = ("online", "away", "offline")

# the frame types each side may send, with the fields they need
VISITOR_TYPES = frozenset({"hello", "send", "typing", "read", "human", "end", "ping"})
AGENT_TYPES = frozenset(
    {
        "hello",
        "watch",
        "unwatch",
        "accept",
        "send",
        "typing",
        "read",
        "transfer",
        "end",
        "presence",
        "capacity",
        "ping",
    }
)


class ProtocolError(Exception):
    """A frame the server refuses. `fatal` errors close the socket with `close_code`."""

    def __init__(
        self, code: str, message: str, *, fatal: bool = False, close_code: int = 1008
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> str:
        return str(self.data.get("session", ""))


def parse_frame(raw: str | bytes, role: str) -> Frame:
    """Decode and validate one client frame for `role` ("visitor" | "agent")."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(
            "frame_too_large",
            f"frames are limited to {MAX_FRAME_BYTES} bytes",
            fatal=True,
            close_code=1009,
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_frame", "a frame is a JSON object with a string 'type'")
    kind = obj["type"]
    allowed = VISITOR_TYPES if role == "visitor" else AGENT_TYPES
    if kind not in allowed:
        raise ProtocolError("unknown_type", f"unknown event type {kind[:40]!r}")
    data = {k: v for k, v in obj.items() if k != "type"}
    _validate(kind, data, role)
    return Frame(kind, data)


def _int(data: dict[str, Any], key: str, *, default: int | None = None, lo: int = 0) -> int:
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > 2**31:
        raise ProtocolError("bad_field", f"'{key}' must be an integer ≥ {lo}")
    return v


def _session(data: dict[str, Any]) -> None:
    s = data.get("session")
    if not isinstance(s, str) or not 1 <= len(s) <= 40:
        raise ProtocolError("bad_field", "'session' must be a chat session id")


def _validate(kind: str, data: dict[str, Any], role: str) -> None:
    agent = role == "agent"
    if kind == "hello" and not agent:
        if not isinstance(data.get("token"), str):
            raise ProtocolError("bad_field", "'token' is required")
        data["last_seq"] = _int(data, "last_seq", default=0)
    elif kind == "send":
        cid = data.get("client_id")
        if not isinstance(cid, str) or not CLIENT_ID_RE.match(cid):
            raise ProtocolError("bad_field", "'client_id' must be 1-64 of [A-Za-z0-9_.:-]")
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise ProtocolError("bad_field", "'body' must be a non-empty string")
        if len(body) > MAX_BODY_CHARS:
            raise ProtocolError("too_long", f"messages are limited to {MAX_BODY_CHARS} characters")
    elif kind == "typing":
        data["on"] = bool(data.get("on", True))
    elif kind == "read":
        data["seq"] = _int(data, "seq")
    elif kind == "watch":
        data["after"] = _int(data, "after", default=0)
    elif kind == "transfer":
        if data.get("agent_id") is None and data.get("queue") is None:
            raise ProtocolError("bad_field", "'agent_id' or 'queue' is required")
        if data.get("agent_id") is not None:
            data["agent_id"] = _int(data, "agent_id", lo=1)
        if data.get("queue") is not None and not isinstance(data["queue"], str):
            raise ProtocolError("bad_field", "'queue' must be a queue slug")
    elif kind == "presence":
        if data.get("status") not in PRESENCE:
            raise ProtocolError("bad_field", "'status' must be online, away or offline")
    elif kind == "capacity":
        data["value"] = _int(data, "value", lo=0)
        if data["value"] > 50:
            raise ProtocolError("bad_field", "'value' must be 0-50")
    if agent and kind in (
        "watch",
        "unwatch",
        "accept",
        "send",
        "typing",
        "read",
        "transfer",
        "end",
    ):
        _session(data)


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A server event (what goes on the wire and on the bus)."""
    return {"type": kind, **fields}


def error_event(err: ProtocolError, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": err.code, "message": err.message, **extra}
