"""Customer identities: validation and canonical forms (the value we match on)."""

from __future__ import annotations

import re
from enum import StrEnum

from paydesk.domain.errors import InvalidInput


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    PLATFORM_USER = "platform_user"
    CHAT_VISITOR = "chat_visitor"


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_PHONE_STRIP = re.compile(r"[\s().-]")


def normalize_email(value: str) -> str:
    """Trimmed, lower-cased address; raises InvalidInput unless it looks like a mailbox."""
    v = value.strip()
    if len(v) > 254 or not _EMAIL.match(v):
        raise InvalidInput(f"not a valid email address: {value[:80]!r}", field="email")
    local, _, domain = v.rpartition("@")
    return f"{local}@{domain.lower()}".lower()


def normalize_phone(value: str) -> str:
    """E.164-like: '+' and 7–15 digits. A bare 11-digit number starting with 1 is a CN mobile."""
    v = _PHONE_STRIP.sub("", value.strip())
    if v.startswith("00"):
        v = "+" + v[2:]
    if not v.startswith("+") and len(v) == 11 and v.startswith("1"):
        v = "+86" + v
    digits = v[1:] if v.startswith("+") else v
    if not digits.isdigit() or not 7 <= len(digits) <= 15 or not digits.isascii():
        raise InvalidInput(f"not a valid phone number: {value[:40]!r}", field="phone")
    return "+" + digits if v.startswith("+") else digits


def normalize(kind: IdentityKind, value: str) -> str:
    if kind == IdentityKind.EMAIL:
        return normalize_email(value)
    if kind == IdentityKind.PHONE:
        return normalize_phone(value)
    v = value.strip()
    if not v or len(v) > 128:
        raise InvalidInput(f"invalid {kind.value} identifier", field=kind.value)
    return v
