"""Admin use cases for SLA configuration: business calendars (hours, holidays, complaint
days) and SLA policies (targets per priority). Admins change; supervisors and auditors read
(`staff.require_admin*`). Every change is validated before writing, audited with old → new
values, and drops this process's cached configuration (`sla.invalidate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paydesk.domain import sla as rules
from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.sla import BusinessCalendar, ComplaintRule, Metric
from paydesk.domain.tickets import Category, Priority
from paydesk.services import audit
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.sla import invalidate
from paydesk.services.staff import clean_name, require_admin, require_admin_read
from paydesk.store.base import utcnow
from paydesk.store.sla import BusinessCalendarRow, SlaPolicyRow
from paydesk.store.workspace import Queue, Workspace

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_DATES = 400
MAX_TARGET_MINUTES = 365 * 24 * 60

DEFAULT_HOURS = [[[540, 1080]]] * 5 + [[], []]  # Monday–Friday 09:00–18:00
DEFAULT_TARGETS: dict[str, dict[str, int]] = {
    "urgent": {"first_response": 30, "next_response": 60, "resolution": 240},
    "high": {"first_response": 60, "next_response": 120, "resolution": 480},
    "normal": {"first_response": 240, "next_response": 480, "resolution": 1440},
    "low": {"first_response": 480, "next_response": 960, "resolution": 2880},
}


def ensure_defaults(ctx: AppContext) -> None:
    """A default calendar (Asia/Shanghai, Mon–Fri 09:00–18:00, 15/35 complaint days) and a
    "Standard" policy for every workspace that has no calendar yet (idempotent)."""
    with ctx.uow() as uow:
        s = uow.session
        have = set(s.scalars(select(BusinessCalendarRow.workspace_id).distinct()))
        for ws in s.scalars(select(Workspace.id)):
            if ws in have:
                continue
            cal = BusinessCalendarRow(
                workspace_id=ws,
                name="Mainland China office hours",
                timezone="Asia/Shanghai",
                hours=DEFAULT_HOURS,
                holidays=[],
                extra_days=[],
                is_default=True,
            )
            s.add(cal)
            s.flush()
            s.add(
                SlaPolicyRow(
                    workspace_id=ws,
                    name="Standard",
                    position=100,
                    calendar_id=cal.id,
                    targets=DEFAULT_TARGETS,
                )
            )
            invalidate(ctx, ws)


# --- calendars ----------------------------------------------------------------------------


@dataclass
class CalendarInput:
    name: str
    timezone: str
    hours: dict[str, str]  # weekday → "09:00-18:00, 19:00-22:00" ("" = closed)
    holidays: str  # ISO dates, one per line or comma separated
    extra_days: str
    complaint_days: str = "15"
    complaint_extended_days: str = "35"


def _minutes(h: str, m: str, field: str) -> int:
    hh, mm = int(h), int(m)
    if hh > 24 or mm > 59 or (hh == 24 and mm):
        raise InvalidInput(f"invalid time {h}:{m}", field=field)
    return hh * 60 + mm


def parse_hours(text: str, field: str) -> list[list[int]]:
    """ "09:00-12:00, 13:00-18:00" → [[540, 720], [780, 1080]]; "22:00-06:00" runs overnight."""
    out = []
    for part in text.replace("，", ",").split(","):
        if not part.strip():
            continue
        m = _HOURS.match(part)
        if not m:
            raise InvalidInput(
                f"write working hours like 09:00-18:00 (got {part.strip()!r})", field=field
            )
        start = _minutes(m[1], m[2], field)
        end = _minutes(m[3], m[4], field)
        if start >= rules.DAY_MINUTES or start == end or end == 0 and start == 0:
            raise InvalidInput(f"empty or invalid interval {part.strip()!r}", field=field)
        out.append([start, end if end else rules.DAY_MINUTES])
    if len(out) > 6:
        raise InvalidInput("at most 6 intervals a day", field=field)
    return sorted(out)


def format_hours(day: list[list[int]]) -> str:
    def hm(v: int) -> str:
        return f"{v // 60:02d}:{v % 60:02d}"

    return ", ".join(f"{hm(a)}-{hm(b)}" for a, b in day)


def parse_dates(text: str, field: str) -> list[str]:
    out = set()
    for part in re.split(r"[\s,，;]+", text):
        if not part:
            continue
        try:
            out.add(date.fromisoformat(part).isoformat())
        except ValueError:
            raise InvalidInput(
                f"write dates as YYYY-MM-DD (got {part[:20]!r})", field=field
            ) from None
    if len(out) > MAX_DATES:
        raise InvalidInput(f"at most {MAX_DATES} dates", field=field)
    return sorted(out)


def _int(value: str, field: str, lo: int, hi: int) -> int:
    v = str(value).strip()
    if not v.isdigit() or not lo <= int(v) <= hi:
        raise InvalidInput(
            f"{field.replace('_', ' ')} must be a whole number {lo}–{hi}", field=field
        )
    return int(v)


def _calendar_values(data: CalendarInput) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": clean_name(data.name, max_len=100),
        "timezone": data.timezone.strip()[:64],
        "hours": [parse_hours(data.hours.get(d, ""), f"hours_{d}") for d in WEEKDAYS],
        "holidays": parse_dates(data.holidays, "holidays"),
        "extra_days": parse_dates(data.extra_days, "extra_days"),
        "complaint_days": _int(data.complaint_days, "complaint_days", 1, 365),
        "complaint_extended_days": _int(
            data.complaint_extended_days, "complaint_extended_days", 1, 365
        ),
    }
    try:  # the domain has the final word (time zone, at least some working time)
        BusinessCalendar(
            values["timezone"],
            tuple(tuple((a, b) for a, b in day) for day in values["hours"]),
            frozenset(date.fromisoformat(d) for d in values["holidays"]),
            frozenset(date.fromisoformat(d) for d in values["extra_days"]),
        )
    except ValueError as exc:
        field = "timezone" if "zone" in str(exc) else "hours_mon"
        raise InvalidInput(str(exc), field=field) from None
    try:
        ComplaintRule(values["complaint_days"], values["complaint_extended_days"])
    except ValueError:
        raise InvalidInput(
            "the extended deadline must be at least the first one",
            field="complaint_extended_days",
        ) from None
    return values


def calendar_public(c: BusinessCalendarRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "timezone": c.timezone,
        "hours": {d: format_hours(c.hours[i]) for i, d in enumerate(WEEKDAYS)},
        "holidays": list(c.holidays),
        "extra_days": list(c.extra_days),
        "is_default": c.is_default,
        "complaint_days": c.complaint_days,
        "complaint_extended_days": c.complaint_extended_days,
    }


def list_calendars(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    require_admin_read(actor)
    with ctx.read() as s:
        rows = s.scalars(
            select(BusinessCalendarRow)
            .where(BusinessCalendarRow.workspace_id == actor.workspace_id)
            .order_by(BusinessCalendarRow.id)
        )
        return [calendar_public(c) for c in rows]


def _load_calendar(s: Session, actor: Actor, calendar_id: int) -> BusinessCalendarRow:
    c = s.get(BusinessCalendarRow, calendar_id)
    if c is None or c.workspace_id != actor.workspace_id:
        raise NotFound(f"calendar {calendar_id} not found")
    return c


def calendar_detail(ctx: AppContext, actor: Actor, calendar_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        return calendar_public(_load_calendar(s, actor, calendar_id))


def save_calendar(
    ctx: AppContext, actor: Actor, calendar_id: int | None, data: CalendarInput
) -> int:
    """Create (calendar_id None) or update a calendar. Existing tickets keep their due
    times; new clocks and resumed clocks use the new hours."""
    require_admin(actor)
    values = _calendar_values(data)
    with ctx.uow() as uow:
        s = uow.session
        if calendar_id is None:
            first = not s.scalar(
                select(func.count())
                .select_from(BusinessCalendarRow)
                .where(BusinessCalendarRow.workspace_id == actor.workspace_id)
            )
            row = BusinessCalendarRow(workspace_id=actor.workspace_id, is_default=first, **values)
            s.add(row)
            s.flush()
            changes = {k: [None, v] for k, v in values.items()}
            action = "sla.calendar_created"
        else:
            row = _load_calendar(s, actor, calendar_id)
            changes = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
            if not changes:
                return row.id
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
            action = "sla.calendar_updated"
        audit.record(
            s,
            actor,
            action,
            object_type="business_calendar",
            object_id=row.id,
            details={"changes": changes},
        )
        uow.on_commit(lambda: invalidate(ctx, actor.workspace_id))
        return row.id


# --- policies -----------------------------------------------------------------------------


@dataclass
class PolicyInput:
    name: str
    position: str = "0"
    active: bool = True
    business_hours: bool = True
    calendar_id: str = ""
    queue_id: str = ""
    category: str = ""
    priority: str = ""
    targets: dict[str, str] | None = None  # "<priority>.<metric>" → minutes ("" = no target)


def policy_public(p: SlaPolicyRow) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "position": p.position,
        "active": p.active,
        "business_hours": p.business_hours,
        "calendar_id": p.calendar_id,
        "queue_id": p.queue_id,
        "category": p.category,
        "priority": p.priority,
        "targets": p.targets,
    }


def list_policies(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    require_admin_read(actor)
    with ctx.read() as s:
        rows = s.scalars(
            select(SlaPolicyRow)
            .where(SlaPolicyRow.workspace_id == actor.workspace_id)
            .order_by(SlaPolicyRow.position, SlaPolicyRow.id)
        )
        return [policy_public(p) for p in rows]


def _load_policy(s: Session, actor: Actor, policy_id: int) -> SlaPolicyRow:
    p = s.get(SlaPolicyRow, policy_id)
    if p is None or p.workspace_id != actor.workspace_id:
        raise NotFound(f"SLA policy {policy_id} not found")
    return p


def policy_detail(ctx: AppContext, actor: Actor, policy_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        return policy_public(_load_policy(s, actor, policy_id))


def _policy_values(s: Session, actor: Actor, data: PolicyInput) -> dict[str, Any]:
    def ref(value: str, model: Any, field: str) -> int | None:
        v = value.strip()
        if not v:
            return None
        row = s.get(model, int(v)) if v.isdigit() and len(v) < 10 else None
        if row is None or row.workspace_id != actor.workspace_id:
            raise InvalidInput(f"unknown {field.replace('_id', '')} {v[:20]!r}", field=field)
        return int(v)

    def choice(value: str, enum: Any, field: str) -> str | None:
        v = value.strip()
        if v and v not in {e.value for e in enum}:
            raise InvalidInput(f"unknown {field} {v[:20]!r}", field=field)
        return v or None

    targets: dict[str, dict[str, int]] = {}
    for prio in Priority:
        for metric in Metric:
            key = f"{prio.value}.{metric.value}"
            raw = (data.targets or {}).get(key, "").strip()
            if raw:
                minutes = _int(raw, f"target_{prio.value}_{metric.value}", 1, MAX_TARGET_MINUTES)
                targets.setdefault(prio.value, {})[metric.value] = minutes
    if not targets:
        raise InvalidInput("set at least one target", field="target_normal_first_response")
    pos = data.position.strip()
    if not re.fullmatch(r"-?\d{1,4}", pos):
        raise InvalidInput("position must be a whole number -9999–9999", field="position")
    return {
        "name": clean_name(data.name, max_len=100),
        "position": int(pos),
        "active": bool(data.active),
        "business_hours": bool(data.business_hours),
        "calendar_id": ref(data.calendar_id, BusinessCalendarRow, "calendar_id"),
        "queue_id": ref(data.queue_id, Queue, "queue_id"),
        "category": choice(data.category, Category, "category"),
        "priority": choice(data.priority, Priority, "priority"),
        "targets": targets,
    }


def save_policy(ctx: AppContext, actor: Actor, policy_id: int | None, data: PolicyInput) -> int:
    """Create (policy_id None) or update an SLA policy. Tickets opened afterwards (and
    tickets whose priority, queue or category changes) get the new targets."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        values = _policy_values(s, actor, data)
        if policy_id is None:
            row = SlaPolicyRow(workspace_id=actor.workspace_id, **values)
            s.add(row)
            s.flush()
            changes = {k: [None, v] for k, v in values.items()}
            action = "sla.policy_created"
        else:
            row = _load_policy(s, actor, policy_id)
            changes = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
            if not changes:
                return row.id
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
            action = "sla.policy_updated"
        audit.record(
            s,
            actor,
            action,
            object_type="sla_policy",
            object_id=row.id,
            details={"changes": changes},
        )
        uow.on_commit(lambda: invalidate(ctx, actor.workspace_id))
        return row.id
