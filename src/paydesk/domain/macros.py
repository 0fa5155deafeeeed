"""Macros: canned replies with placeholders and the ticket actions they may apply (pure rules).

A template names values as `{{customer.name}}`, `{{ticket.number}}`, `{{ticket.subject}}`,
`{{agent.name}}`. Substitution is one pass, so a value that itself looks like a placeholder (a
customer named "{{agent.name}}") is inserted as written, never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from paydesk.domain.errors import InvalidInput
from paydesk.domain.tickets import Priority, Status, normalize_tags

PLACEHOLDERS = ("customer.name", "ticket.number", "ticket.subject", "agent.name")
_TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
NAME_MAX = 120
BODY_MAX = 20_000
# statuses a macro may set (closing is an explicit step, not a macro side effect)
ACTION_STATUSES = (Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED)


def check_template(text: str, field: str) -> None:
    """InvalidInput naming the first unknown placeholder (typos are caught when saving)."""
    for m in _TOKEN.finditer(text):
        if m.group(1) not in PLACEHOLDERS:
            allowed = ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
            raise InvalidInput(
                f"unknown placeholder {{{{{m.group(1)}}}}} (allowed: {allowed})", field=field
            )
    if len(text) > BODY_MAX:
        raise InvalidInput(f"the text is longer than {BODY_MAX} characters", field=field)


def render(text: str, values: Mapping[str, str]) -> str:
    """The template with every known placeholder replaced (unknown ones are left as written)."""
    return _TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def pick_body(body_en: str, body_zh: str, locale: str) -> str:
    """The variant for the ticket's locale, falling back to the other one when it is empty."""
    if (locale or "").lower().startswith("zh"):
        return body_zh or body_en
    return body_en or body_zh


def clean_actions(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validated actions: optional `status`, `priority`, `add_tags` (normalised list)."""
    out: dict[str, Any] = {}
    status = str(raw.get("status") or "").strip()
    if status:
        if status not in {s.value for s in ACTION_STATUSES}:
            allowed = ", ".join(s.value for s in ACTION_STATUSES)
            raise InvalidInput(
                f"a macro cannot set status {status!r} (allowed: {allowed})", field="status"
            )
        out["status"] = status
    priority = str(raw.get("priority") or "").strip()
    if priority:
        if priority not in {p.value for p in Priority}:
            allowed = ", ".join(p.value for p in Priority)
            raise InvalidInput(
                f"invalid priority {priority!r} (allowed: {allowed})", field="priority"
            )
        out["priority"] = priority
    tags = raw.get("add_tags") or []
    if isinstance(tags, str):
        tags = tags.replace("，", ",").split(",")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("tags must be a list of strings", field="add_tags")
    clean = normalize_tags(tags)
    if clean:
        out["add_tags"] = clean
    return out


def describe_actions(actions: Mapping[str, Any]) -> str:
    """A short English summary for the console ("status → solved, tags + refund")."""
    parts = []
    if actions.get("status"):
        parts.append(f"status → {actions['status']}")
    if actions.get("priority"):
        parts.append(f"priority → {actions['priority']}")
    if actions.get("add_tags"):
        parts.append("tags + " + ", ".join(actions["add_tags"]))
    return "; ".join(parts)
