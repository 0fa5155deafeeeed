"""Editable routing rules: storage, validation, the per-process compiled cache, intake's batch
router and the admin use cases (list, add, edit, reorder, enable/disable, delete, preview).

The intake hot path never reads the rules table per ticket: each process keeps the compiled rules
of a workspace in memory (`ctx.extras["routing_cache"]`) and compares the workspace's routing
version (`routing_settings.version`, bumped by every change) at most once a second, on the
intake transaction's connection. A change made in this process drops the cached copy at commit;
other processes (workers, scale-out nodes) pick it up within a second.

Admins change the rules; supervisors and auditors read them and may use the preview.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.orm import Session

from paydesk.domain import routing as rules
from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.routing import CompiledRules, Decision, Facts, RoutingRule
from paydesk.domain.text import detect_locale, tokens
from paydesk.domain.tickets import Category, Channel, Priority, normalize_tags
from paydesk.services import audit
from paydesk.services.access import access_customer
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.staff import require_admin, require_admin_read
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.routing import (
    CustomerTag,
    QueueAssignment,
    RoutingRuleRow,
    RoutingSettings,
    TicketRouting,
)
from paydesk.store.tickets import TicketTag
from paydesk.store.workspace import Queue, Team

CHECK_SECONDS = 1.0  # how stale a process's compiled rules may be after a change elsewhere
DEFAULT_QUEUE = "general-en"
MAX_RULES = 200

_R = RoutingRuleRow.__table__
_S = RoutingSettings.__table__
_QA = QueueAssignment.__table__
_CT = CustomerTag.__table__
_TR = TicketRouting.__table__
_TT = TicketTag.__table__


# --- compiled rules, cached per process ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    version: int
    rules: CompiledRules
    names: dict[int, str]  # rule id -> name
    queue_ids: dict[str, int]  # slug -> id of every queue of the workspace
    auto_assign: frozenset[int]  # queue ids with automatic assignment on


def rule_from_row(row: Any) -> RoutingRule:
    c, a = row.conditions or {}, row.actions or {}
    return RoutingRule(
        row.id,
        row.name,
        rules.Conditions(**{k: tuple(v) for k, v in c.items() if k in rules.Conditions.__slots__}),
        rules.Actions(
            queue=a.get("queue"),
            priority=a.get("priority"),
            tags=tuple(a.get("tags") or ()),
            team_id=a.get("team_id"),
        ),
        bool(row.enabled),
    )


def _load(conn: Connection, workspace_id: int) -> Compiled:
    """Read and compile the workspace's rules (a workspace never seeded gets the defaults)."""
    settings = conn.execute(
        select(_S.c.version, _S.c.default_queue).where(_S.c.workspace_id == workspace_id)
    ).first()
    queue_ids = {
        r.slug: r.id
        for r in conn.execute(
            select(Queue.id, Queue.slug).where(Queue.workspace_id == workspace_id)
        )
    }
    auto = frozenset(
        r[0]
        for r in conn.execute(
            select(_QA.c.queue_id).where(
                _QA.c.queue_id.in_(list(queue_ids.values()) or [0]), _QA.c.mode != "off"
            )
        )
    )
    if settings is None:
        defaults = rules.default_routing_rules()
        return Compiled(0, rules.compile_rules(defaults, DEFAULT_QUEUE), {}, queue_ids, auto)
    rows = conn.execute(
        select(_R).where(_R.c.workspace_id == workspace_id).order_by(_R.c.position, _R.c.id)
    ).all()
    parsed = [rule_from_row(r) for r in rows]
    return Compiled(
        settings.version,
        rules.compile_rules(parsed, settings.default_queue),
        {r.id: r.name for r in rows},
        queue_ids,
        auto,
    )


_CACHE_LOCK = threading.Lock()


def compiled_for(ctx: AppContext, conn: Connection, workspace_id: int) -> Compiled:
    """The workspace's compiled rules: from memory, re-validated against the stored version at
    most once every CHECK_SECONDS (one single-row read), recompiled when it changed."""
    cache: dict[int, tuple[float, Compiled]] = ctx.extras.setdefault("routing_cache", {})
    now = time.monotonic()
    hit = cache.get(workspace_id)
    if hit is not None and now - hit[0] < CHECK_SECONDS:
        return hit[1]
    stored = conn.execute(select(_S.c.version).where(_S.c.workspace_id == workspace_id)).scalar()
    if hit is not None and stored is not None and stored == hit[1].version:
        compiled = hit[1]
    else:
        compiled = _load(conn, workspace_id)
    with _CACHE_LOCK:
        cache[workspace_id] = (now, compiled)
    return compiled


def invalidate(ctx: AppContext, workspace_id: int) -> None:
    ctx.extras.setdefault("routing_cache", {}).pop(workspace_id, None)


def _changed(ctx: AppContext, uow: UnitOfWork, workspace_id: int) -> None:
    """Bump the workspace's routing version; drop this process's copy once committed."""
    s = uow.session
    s.execute(
        update(RoutingSettings)
        .where(RoutingSettings.workspace_id == workspace_id)
        .values(version=RoutingSettings.version + 1, updated_at=utcnow())
    )
    uow.on_commit(lambda: invalidate(ctx, workspace_id))


# --- intake: one router per group-commit batch --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Routed:
    queue_id: int | None
    priority: str | None  # set by a rule, else None (the channel's or the default priority)


class BatchRouter:
    """Routes the new tickets of one intake batch. Per batch at most: one version check per
    workspace (at most once a second), one customer-tags query and one intent-model call, and
    the last two only when an enabled rule looks at customer tags / intents."""

    def __init__(self, ctx: AppContext, conn: Connection, items: list[tuple[Any, int]]) -> None:
        self.ctx = ctx
        self.items = items
        self.compiled: dict[int, Compiled] = {}
        for p, _ in items:
            ws = p.actor.workspace_id
            if ws not in self.compiled:
                self.compiled[ws] = compiled_for(ctx, conn, ws)
        self.customer_tags: dict[int, set[str]] = {}
        if any(c.rules.needs_customer_tags for c in self.compiled.values()):
            ids = sorted({cid for _, cid in items})
            for cid, tag in conn.execute(
                select(_CT.c.customer_id, _CT.c.tag).where(_CT.c.customer_id.in_(ids))
            ):
                self.customer_tags.setdefault(cid, set()).add(tag)
        self.intents: list[str | None] = [None] * len(items)
        if any(c.rules.needs_intent for c in self.compiled.values()):
            self.intents = intent_labels(
                ctx, [f"{p.subject.text}\n{p.body.text}" for p, _ in items]
            )

    def decide(self, k: int, category: Category, search_tokens: str) -> Routed:
        """The routing of item `k` (`search_tokens`: intake's space-joined search tokens). The
        decision is handed to this module's intake hook through `hook_data` (never stored)."""
        p, customer_id = self.items[k]
        ws = p.actor.workspace_id
        c = self.compiled[ws]
        facts = Facts(
            category=category.value,
            locale=p.locale,
            channel=p.msg.channel.value,
            priority=p.msg.priority,
            tokens=frozenset(search_tokens.split()) if c.rules.needs_tokens else frozenset(),
            customer_tags=frozenset(self.customer_tags.get(customer_id, ())),
            intent=self.intents[k],
        )
        d = rules.evaluate(c.rules, facts)
        queue_id = c.queue_ids.get(d.queue) if d.queue else None
        if queue_id is None:
            queue_id = c.queue_ids.get(rules.route(category, p.locale))
        p.msg.hook_data["routing"] = (
            d,
            c.names.get(d.queue_rule_id, "") if d.queue_rule_id else "",
            queue_id in c.auto_assign,
        )
        return Routed(queue_id, d.priority)


def intent_labels(ctx: AppContext, texts: list[str]) -> list[str | None]:
    """Sub-intent labels of the intent model, or None for every text when there is no model."""
    holder = ctx.extras.get("intent_model")
    if holder is None:
        return [None] * len(texts)
    try:
        return [label for label, _ in holder.get().predict_many([t[:1000] for t in texts])]
    except Exception:  # routing must never fail a ticket
        return [None] * len(texts)


def _after_intake(
    ctx: AppContext, uow: UnitOfWork, ticket: Any, message: Any, inbound: Any, created: bool
) -> None:
    """Record how a new ticket was routed, add the rules' tags, queue automatic assignment.
    Rows are deferred into the batch's multi-row INSERTs."""
    routed = inbound.hook_data.pop("routing", None) if created else None
    if routed is None:
        return
    d, rule_name, auto = routed
    uow.defer_insert(
        _TR,
        {
            "ticket_id": ticket.id,
            "workspace_id": ticket.workspace_id,
            "rule_id": d.queue_rule_id,
            "rule_name": rule_name,
            "team_id": d.team_id,
            "assign_pending": auto,
            "created_at": ticket.created_at,
        },
    )
    for tag in d.tags:
        uow.defer_insert(_TT, {"ticket_id": ticket.id, "tag": tag})
    if auto:
        from paydesk.services.assignment import nudge

        uow.on_commit(lambda: nudge(ctx))


# --- seeding ------------------------------------------------------------------------------------


def ensure_default_rules(ctx: AppContext, workspace_id: int = 1) -> None:
    """Seed the built-in rules (`domain.routing.DEFAULT_RULES`) once per workspace."""
    with ctx.uow() as uow:
        s = uow.session
        if s.get(RoutingSettings, workspace_id) is not None:
            return
        now = utcnow()
        s.add(RoutingSettings(workspace_id=workspace_id, version=1, default_queue=DEFAULT_QUEUE))
        for pos, r in enumerate(rules.default_routing_rules(), start=1):
            s.add(_row(workspace_id, pos, r, now))


def _row(workspace_id: int, position: int, r: RoutingRule, now: Any) -> RoutingRuleRow:
    return RoutingRuleRow(
        workspace_id=workspace_id,
        position=position,
        name=r.name,
        enabled=r.enabled,
        conditions=rules.conditions_dict(r.conditions),
        actions=rules.actions_dict(r.actions),
        created_at=now,
        updated_at=now,
    )


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("on_prepare", []).append(ensure_default_rules)
    ctx.after_intake.append(_after_intake)


# --- admin: reading -----------------------------------------------------------------------------


def rule_public(row: RoutingRuleRow, position: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "position": position,
        "name": row.name,
        "enabled": row.enabled,
        "conditions": dict(row.conditions or {}),
        "actions": dict(row.actions or {}),
    }


def _rows(s: Session, workspace_id: int) -> list[RoutingRuleRow]:
    return list(
        s.scalars(
            select(RoutingRuleRow)
            .where(RoutingRuleRow.workspace_id == workspace_id)
            .order_by(RoutingRuleRow.position, RoutingRuleRow.id)
        )
    )


def _settings(s: Session, workspace_id: int, *, lock: bool = False) -> RoutingSettings:
    stmt = select(RoutingSettings).where(RoutingSettings.workspace_id == workspace_id)
    if lock and s.bind is not None and s.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # edits of one workspace's rules take turns
    st = s.scalars(stmt).first()
    if st is None:
        raise NotFound("routing is not set up for this workspace")
    return st


def list_rules(ctx: AppContext, actor: Actor) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        st = s.get(RoutingSettings, actor.workspace_id)
        rows = _rows(s, actor.workspace_id)
        return {
            "rules": [rule_public(r, i) for i, r in enumerate(rows, start=1)],
            "default_queue": st.default_queue if st else DEFAULT_QUEUE,
            "version": st.version if st else 0,
        }


def stored_rules(s: Session, workspace_id: int) -> list[RoutingRule]:
    """The workspace's rules in order (disabled ones included)."""
    return [rule_from_row(r) for r in _rows(s, workspace_id)]


def stored_default_queue(s: Session, workspace_id: int) -> str | None:
    st = s.get(RoutingSettings, workspace_id)
    return st.default_queue if st else None


def rule_detail(ctx: AppContext, actor: Actor, rule_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        rows = _rows(s, actor.workspace_id)
        for i, r in enumerate(rows, start=1):
            if r.id == rule_id:
                return rule_public(r, i)
    raise NotFound(f"routing rule {rule_id} not found")


# --- admin: changing ----------------------------------------------------------------------------


def _validated(s: Session, actor: Actor, data: dict[str, Any]) -> RoutingRule:
    """A rule from plain data (form or JSON), checked against the workspace's queues/teams."""
    if not isinstance(data, dict):
        raise InvalidInput("a rule is an object", field="name")
    name = rules.clean_rule_name(data.get("name", ""))
    cond = data.get("conditions")
    act = data.get("actions")
    cond = {} if cond is None else cond
    act = {} if act is None else act
    if not isinstance(cond, dict) or not isinstance(act, dict):
        raise InvalidInput("conditions and actions are objects", field="conditions")
    conditions = rules.parse_conditions(cond)
    actions = rules.parse_actions(act)
    if actions.queue is not None and not s.scalar(
        select(Queue.id).where(
            Queue.workspace_id == actor.workspace_id, Queue.slug == actions.queue
        )
    ):
        raise InvalidInput(f"unknown queue {actions.queue!r}", field="queue")
    if actions.team_id is not None:
        team = s.get(Team, actions.team_id)
        if team is None or team.workspace_id != actor.workspace_id:
            raise InvalidInput("unknown team", field="team_id")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled is true or false", field="enabled")
    return RoutingRule(None, name, conditions, actions, enabled)


def _renumber(rows: list[RoutingRuleRow]) -> None:
    for i, r in enumerate(rows, start=1):
        if r.position != i:
            r.position = i


def create_rule(ctx: AppContext, actor: Actor, data: dict[str, Any], *, at: str = "top") -> int:
    """Add a rule at the top (before the others, the usual place for a specific rule) or at
    the bottom of the list."""
    require_admin(actor)
    if at not in ("top", "bottom"):
        raise InvalidInput("position is top or bottom", field="at")
    with ctx.uow() as uow:
        s = uow.session
        _settings(s, actor.workspace_id, lock=True)
        rule = _validated(s, actor, data)
        rows = _rows(s, actor.workspace_id)
        if len(rows) >= MAX_RULES:
            raise InvalidInput(f"a workspace has at most {MAX_RULES} rules", field="name")
        row = _row(actor.workspace_id, 0, rule, utcnow())
        s.add(row)
        _renumber([row, *rows] if at == "top" else [*rows, row])
        s.flush()
        audit.record(
            s,
            actor,
            "routing.rule_created",
            object_type="routing_rule",
            object_id=row.id,
            details={"rule": rule_public(row, row.position)},
        )
        _changed(ctx, uow, actor.workspace_id)
        return row.id


def _load_rule(s: Session, actor: Actor, rule_id: int) -> RoutingRuleRow:
    row = s.get(RoutingRuleRow, rule_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise NotFound(f"routing rule {rule_id} not found")
    return row


def update_rule(
    ctx: AppContext, actor: Actor, rule_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Replace a rule's name, conditions, actions and enabled flag; returns what changed."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        _settings(s, actor.workspace_id, lock=True)
        row = _load_rule(s, actor, rule_id)
        rule = _validated(s, actor, {"enabled": row.enabled, **data})
        new = {
            "name": rule.name,
            "enabled": rule.enabled,
            "conditions": rules.conditions_dict(rule.conditions),
            "actions": rules.actions_dict(rule.actions),
        }
        changes = {k: [getattr(row, k), v] for k, v in new.items() if getattr(row, k) != v}
        if changes:
            for k, (_, v) in changes.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
            audit.record(
                s,
                actor,
                "routing.rule_updated",
                object_type="routing_rule",
                object_id=row.id,
                details={"name": row.name, "changes": changes},
            )
            _changed(ctx, uow, actor.workspace_id)
        return changes


def set_rule_enabled(ctx: AppContext, actor: Actor, rule_id: int, enabled: bool) -> bool:
    """Enable or disable a rule; False when it already was."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        _settings(s, actor.workspace_id, lock=True)
        row = _load_rule(s, actor, rule_id)
        if row.enabled == enabled:
            return False
        row.enabled = enabled
        row.updated_at = utcnow()
        audit.record(
            s,
            actor,
            "routing.rule_enabled" if enabled else "routing.rule_disabled",
            object_type="routing_rule",
            object_id=row.id,
            details={"name": row.name},
        )
        _changed(ctx, uow, actor.workspace_id)
        return True


def move_rule(ctx: AppContext, actor: Actor, rule_id: int, to_position: int) -> bool:
    """Move a rule to a 1-based position (clamped to the list); False when it did not move."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        _settings(s, actor.workspace_id, lock=True)
        row = _load_rule(s, actor, rule_id)
        rows = _rows(s, actor.workspace_id)
        old = rows.index(row) + 1
        new = max(1, min(len(rows), to_position))
        if new == old:
            return False
        rows.remove(row)
        rows.insert(new - 1, row)
        _renumber(rows)
        audit.record(
            s,
            actor,
            "routing.rule_moved",
            object_type="routing_rule",
            object_id=row.id,
            details={"name": row.name, "position": [old, new]},
        )
        _changed(ctx, uow, actor.workspace_id)
        return True


def delete_rule(ctx: AppContext, actor: Actor, rule_id: int) -> None:
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        _settings(s, actor.workspace_id, lock=True)
        row = _load_rule(s, actor, rule_id)
        audit.record(
            s,
            actor,
            "routing.rule_deleted",
            object_type="routing_rule",
            object_id=row.id,
            details={"rule": rule_public(row, row.position)},
        )
        s.execute(delete(RoutingRuleRow).where(RoutingRuleRow.id == row.id))
        _renumber([r for r in _rows(s, actor.workspace_id) if r.id != row.id])
        _changed(ctx, uow, actor.workspace_id)


def set_default_queue(ctx: AppContext, actor: Actor, slug: str) -> bool:
    """Where tickets go when no rule names a queue; False when unchanged."""
    require_admin(actor)
    slug = (slug or "").strip().lower()
    with ctx.uow() as uow:
        s = uow.session
        st = _settings(s, actor.workspace_id, lock=True)
        if not s.scalar(
            select(Queue.id).where(Queue.workspace_id == actor.workspace_id, Queue.slug == slug)
        ):
            raise InvalidInput(f"unknown queue {slug!r}", field="default_queue")
        if st.default_queue == slug:
            return False
        audit.record(
            s,
            actor,
            "routing.default_queue",
            object_type="workspace",
            object_id=actor.workspace_id,
            details={"default_queue": [st.default_queue, slug]},
        )
        st.default_queue = slug
        _changed(ctx, uow, actor.workspace_id)
        return True


# --- preview ------------------------------------------------------------------------------------


def preview(
    ctx: AppContext,
    actor: Actor,
    *,
    subject: str = "",
    body: str = "",
    channel: str = "web",
    locale: str = "",
    category: str = "",
    priority: str = "",
    customer_tags: list[str] | None = None,
) -> dict[str, Any]:
    """Which rules a message would match, from the saved rules (nothing is written). Category
    and language are detected as intake does when not given."""
    require_admin_read(actor)
    text = f"{subject}\n{body}"
    if not text.strip():
        raise InvalidInput("type a subject or a message to test", field="body")
    if len(text) > 20000:
        raise InvalidInput("the test message is at most 20,000 characters", field="body")
    if channel not in {c.value for c in Channel}:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel")
    if priority and priority not in {p.value for p in Priority}:
        raise InvalidInput(f"unknown priority {priority!r}", field="priority")
    if locale and locale not in rules.LOCALES:
        raise InvalidInput("language must be en or zh-CN", field="locale")
    if category and category not in {c.value for c in Category}:
        raise InvalidInput(f"unknown category {category!r}", field="category")
    redacted = ctx.redactor.redact(text).text
    loc = locale or detect_locale(redacted, ctx.settings.default_locale)
    cat = Category(category) if category else ctx.classifier(redacted, loc)
    with ctx.read() as s:
        c = _load(s.connection(), actor.workspace_id)
    needs_intent = c.rules.needs_intent
    facts = Facts(
        category=cat.value,
        locale=loc,
        channel=channel,
        priority=priority or None,
        tokens=frozenset(tokens(redacted)),
        customer_tags=frozenset(normalize_tags(customer_tags or [])),
        intent=intent_labels(ctx, [redacted])[0] if needs_intent else None,
    )
    d: Decision = rules.evaluate(c.rules, facts)
    by_index = {cr.index: cr.rule for cr in c.rules.rules}
    return {
        "category": cat.value,
        "locale": loc,
        "intent": facts.intent,
        "queue": d.queue,
        "queue_rule": c.names.get(d.queue_rule_id) if d.queue_rule_id else None,
        "queue_rule_id": d.queue_rule_id,
        "default_used": d.queue_rule_id is None,
        "priority": d.priority or priority or Priority.NORMAL.value,
        "tags": list(d.tags),
        "team_id": d.team_id,
        "matched": [
            {"id": by_index[i].id, "name": by_index[i].name, "position": i + 1} for i in d.matched
        ],
    }


# --- customer tags (what "VIP customer" rules look at) ------------------------------------------


def customer_tags(ctx: AppContext, actor: Actor, customer_id: int) -> list[str]:
    """A customer's tags (staff of the workspace; customers never see their own tags)."""
    if not actor.is_staff:
        raise NotFound(f"customer {customer_id} not found")
    with ctx.read() as s:
        access_customer(s, actor, customer_id)
        return sorted(
            s.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id))
        )


def set_customer_tags(
    ctx: AppContext, actor: Actor, customer_id: int, tags: list[str]
) -> list[str]:
    """Replace a customer's tags (staff who may write tickets); audited with old → new."""
    from paydesk.domain.permissions import Perm

    actor.require(Perm.TICKET_WRITE)
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("tags must be a list of strings", field="tags")
    new = normalize_tags(tags)
    if len(new) > 20:
        raise InvalidInput("a customer has at most 20 tags", field="tags")
    with ctx.uow() as uow:
        s = uow.session
        access_customer(s, actor, customer_id)
        old = sorted(
            s.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id))
        )
        if old != new:
            s.execute(delete(CustomerTag).where(CustomerTag.customer_id == customer_id))
            s.add_all([CustomerTag(customer_id=customer_id, tag=t) for t in new])
            audit.record(
                s,
                actor,
                "customer.tags_changed",
                object_type="customer",
                object_id=customer_id,
                customer_id=customer_id,
                details={"tags": [old, new]},
            )
        return new


def routing_of_ticket(s: Session, ticket_id: int) -> dict[str, Any] | None:
    row = s.get(TicketRouting, ticket_id)
    if row is None:
        return None
    team = s.get(Team, row.team_id) if row.team_id else None
    return {
        "rule_id": row.rule_id,
        "rule_name": row.rule_name,
        "team_id": row.team_id,
        "team": team.name if team is not None else None,
        "assign_pending": row.assign_pending,
    }


def rule_counts(ctx: AppContext, actor: Actor) -> dict[int, int]:
    """How many tickets each rule routed (to show which rules are used)."""
    require_admin_read(actor)
    with ctx.read() as s:
        return {
            int(rid): int(n)
            for rid, n in s.execute(
                select(TicketRouting.rule_id, func.count())
                .where(
                    TicketRouting.workspace_id == actor.workspace_id,
                    TicketRouting.rule_id.is_not(None),
                )
                .group_by(TicketRouting.rule_id)
            )
        }
