"""Admin console use cases for teams and queues (staff users live in `services/staff.py`).

Admins change, supervisors and auditors read (`staff.require_admin*`). Every change is audited
with old → new values and validated before anything is written. A queue's slug never changes
after creation: routing rules (`domain/routing.py`) and intake's queue cache refer to slugs.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, InvalidInput, NotFound
from paydesk.domain.routing import DEFAULT_RULES, RouteRule
from paydesk.services import audit
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.routing import stored_default_queue, stored_rules
from paydesk.services.staff import LANGUAGES, clean_name, require_admin, require_admin_read
from paydesk.store.agents import Agent
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue, QueueMember, Team, TeamMember

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_OTHER_CONDITIONS = ("channels", "priorities", "customer_tags", "keywords", "intents")


def _agent_ids(s: Session, actor: Actor, ids: list[int]) -> list[int]:
    """The given staff ids, deduplicated, each checked to belong to the actor's workspace."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = set(
        s.scalars(
            select(Agent.id).where(Agent.workspace_id == actor.workspace_id, Agent.id.in_(wanted))
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"unknown staff user {missing[0]}", field="members")
    return wanted


def _diff(old: list[int], new: list[int]) -> dict[str, list[int]]:
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new))}


# --- teams --------------------------------------------------------------------------------


def _load_team(s: Session, actor: Actor, team_id: int) -> Team:
    team = s.get(Team, team_id)
    if team is None or team.workspace_id != actor.workspace_id:
        raise NotFound(f"team {team_id} not found")
    return team


def _team_members(s: Session, team_id: int) -> list[int]:
    return sorted(s.scalars(select(TeamMember.agent_id).where(TeamMember.team_id == team_id)))


def list_teams(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    require_admin_read(actor)
    with ctx.read() as s:
        teams = s.scalars(
            select(Team).where(Team.workspace_id == actor.workspace_id).order_by(Team.name)
        ).all()
        return [team_public(s, t) for t in teams]


def team_public(s: Session, team: Team) -> dict[str, Any]:
    queues = s.scalars(select(Queue.slug).where(Queue.team_id == team.id).order_by(Queue.slug))
    return {
        "id": team.id,
        "name": team.name,
        "member_ids": _team_members(s, team.id),
        "queues": list(queues),
    }


def team_detail(ctx: AppContext, actor: Actor, team_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        return team_public(s, _load_team(s, actor, team_id))


def _unique_team_name(s: Session, actor: Actor, name: str, team_id: int | None) -> None:
    other = s.scalar(
        select(Team.id).where(
            Team.workspace_id == actor.workspace_id, func.lower(Team.name) == name.lower()
        )
    )
    if other is not None and other != team_id:
        raise Conflict(f"a team named {name!r} exists", field="name")


def create_team(ctx: AppContext, actor: Actor, name: str, member_ids: list[int]) -> int:
    require_admin(actor)
    name = clean_name(name, max_len=100)
    with ctx.uow() as uow:
        s = uow.session
        _unique_team_name(s, actor, name, None)
        members = _agent_ids(s, actor, member_ids)
        team = Team(workspace_id=actor.workspace_id, name=name)
        s.add(team)
        s.flush()
        s.add_all([TeamMember(team_id=team.id, agent_id=a) for a in members])
        audit.record(
            s,
            actor,
            "team.created",
            object_type="team",
            object_id=team.id,
            details={"name": name, "members": members},
        )
        return team.id


def update_team(
    ctx: AppContext, actor: Actor, team_id: int, name: str, member_ids: list[int]
) -> dict[str, Any]:
    """Rename a team and set its members; returns (and audits) what changed."""
    require_admin(actor)
    name = clean_name(name, max_len=100)
    with ctx.uow() as uow:
        s = uow.session
        team = _load_team(s, actor, team_id)
        _unique_team_name(s, actor, name, team.id)
        members = _agent_ids(s, actor, member_ids)
        old = _team_members(s, team.id)
        changes: dict[str, Any] = {}
        if name != team.name:
            changes["name"] = [team.name, name]
            team.name = name
        if members != old:
            changes["members"] = _diff(old, members)
            s.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
            s.add_all([TeamMember(team_id=team.id, agent_id=a) for a in members])
        if changes:
            audit.record(
                s,
                actor,
                "team.updated",
                object_type="team",
                object_id=team.id,
                details={"changes": changes},
            )
        return changes


# --- queues -------------------------------------------------------------------------------


def routing_rules(
    slug: str | None = None, *, session: Session | None = None, workspace_id: int = 1
) -> list[dict[str, Any]]:
    """The enabled routing rules that send tickets to a queue (first match wins), optionally
    only those that send to `slug`. With a session: the workspace's stored rules (edited on the
    Routing tab, `services/routing.py`); without: the built-in table they are seeded from."""
    if session is None:
        table = [
            (
                None,
                r.queue,
                [r.category.value] if r.category else [],
                [r.locale] if r.locale else [],
                False,
            )
            for r in DEFAULT_RULES
        ]
    else:
        table = [
            (
                r.name,
                r.actions.queue,
                list(r.conditions.categories),
                list(r.conditions.locales),
                any(getattr(r.conditions, f) for f in _OTHER_CONDITIONS),
            )
            for r in stored_rules(session, workspace_id)
            if r.enabled and r.actions.queue
        ]
    return [
        {
            "order": i + 1,
            "name": name,
            "queue": queue,
            "category": ", ".join(cats) or None,
            "locale": ", ".join(locs) or None,
            "more": more,  # the rule has other conditions (channel, keywords, customer tags…)
            "catch_all": not cats and not locs and not more,
        }
        for i, (name, queue, cats, locs, more) in enumerate(table)
        if slug is None or queue == slug
    ]


def default_queue(
    rules: tuple[RouteRule, ...] = DEFAULT_RULES,
    *,
    session: Session | None = None,
    workspace_id: int = 1,
) -> str:
    """Where a ticket lands when no rule names a queue: the workspace's setting (with a
    session), else the built-in table's last, catch-all rule."""
    if session is not None:
        found = stored_default_queue(session, workspace_id)
        if found:
            return found
    return rules[-1].queue


def routing_overview(ctx: AppContext, actor: Actor) -> tuple[list[dict[str, Any]], str]:
    """(rules, default queue) of the actor's workspace, for the queues page."""
    require_admin_read(actor)
    with ctx.read() as s:
        return (
            routing_rules(session=s, workspace_id=actor.workspace_id),
            default_queue(session=s, workspace_id=actor.workspace_id),
        )


def _load_queue(s: Session, actor: Actor, queue_id: int) -> Queue:
    q = s.get(Queue, queue_id)
    if q is None or q.workspace_id != actor.workspace_id:
        raise NotFound(f"queue {queue_id} not found")
    return q


def _queue_members(s: Session, queue_id: int) -> list[int]:
    return sorted(s.scalars(select(QueueMember.agent_id).where(QueueMember.queue_id == queue_id)))


def queue_public(s: Session, q: Queue) -> dict[str, Any]:
    return {
        "id": q.id,
        "slug": q.slug,
        "name": q.name,
        "name_zh": q.name_zh,
        "team_id": q.team_id,
        "locale": q.locale,
        "member_ids": _queue_members(s, q.id),
        "rules": routing_rules(q.slug, session=s, workspace_id=q.workspace_id),
        "default": q.slug == default_queue(session=s, workspace_id=q.workspace_id),
    }


def list_queues(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    require_admin_read(actor)
    with ctx.read() as s:
        queues = s.scalars(
            select(Queue).where(Queue.workspace_id == actor.workspace_id).order_by(Queue.id)
        ).all()
        counts = dict(
            s.execute(
                select(Ticket.queue_id, func.count(Ticket.id))
                .where(
                    Ticket.workspace_id == actor.workspace_id,
                    Ticket.status.in_(["new", "open", "pending", "on-hold"]),
                )
                .group_by(Ticket.queue_id)
            ).all()
        )
        return [{**queue_public(s, q), "unsolved": counts.get(q.id, 0)} for q in queues]


def queue_detail(ctx: AppContext, actor: Actor, queue_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        return queue_public(s, _load_queue(s, actor, queue_id))


def _queue_fields(
    s: Session, actor: Actor, name: str, name_zh: str, team_id: int | None, locale: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": clean_name(name),
        "name_zh": " ".join(name_zh.split()),
        "team_id": team_id,
        "locale": locale or None,
    }
    if len(out["name_zh"]) > 200:
        raise InvalidInput("the Chinese name is at most 200 characters", field="name_zh")
    if out["locale"] is not None and out["locale"] not in LANGUAGES:
        raise InvalidInput("language must be en, zh-CN or any", field="locale")
    if team_id is not None:
        _load_team(s, actor, team_id)  # NotFound → reported on the form as an unknown team
    return out


def create_queue(
    ctx: AppContext,
    actor: Actor,
    *,
    slug: str,
    name: str,
    name_zh: str = "",
    team_id: int | None = None,
    locale: str | None = None,
    member_ids: list[int] | None = None,
) -> int:
    require_admin(actor)
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise InvalidInput(
            "the id is 2-64 lower-case letters, digits and hyphens (e.g. vip-en)", field="slug"
        )
    with ctx.uow() as uow:
        s = uow.session
        if s.scalar(
            select(Queue.id).where(Queue.workspace_id == actor.workspace_id, Queue.slug == slug)
        ):
            raise Conflict(f"a queue with id {slug!r} exists", field="slug")
        try:
            fields = _queue_fields(s, actor, name, name_zh, team_id, locale)
        except NotFound:
            raise InvalidInput("unknown team", field="team_id") from None
        members = _agent_ids(s, actor, member_ids or [])
        q = Queue(workspace_id=actor.workspace_id, slug=slug, **fields)
        s.add(q)
        s.flush()
        s.add_all([QueueMember(queue_id=q.id, agent_id=a) for a in members])
        audit.record(
            s,
            actor,
            "queue.created",
            object_type="queue",
            object_id=q.id,
            details={"slug": slug, **fields, "members": members},
        )
        return q.id


def update_queue(
    ctx: AppContext,
    actor: Actor,
    queue_id: int,
    *,
    name: str,
    name_zh: str = "",
    team_id: int | None = None,
    locale: str | None = None,
    member_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Rename a queue, move it to a team, set its language and members (the slug stays)."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        q = _load_queue(s, actor, queue_id)
        try:
            fields = _queue_fields(s, actor, name, name_zh, team_id, locale)
        except NotFound:
            raise InvalidInput("unknown team", field="team_id") from None
        members = _agent_ids(s, actor, member_ids or [])
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if getattr(q, key) != value:
                changes[key] = [getattr(q, key), value]
                setattr(q, key, value)
        old = _queue_members(s, q.id)
        if members != old:
            changes["members"] = _diff(old, members)
            s.execute(delete(QueueMember).where(QueueMember.queue_id == q.id))
            s.add_all([QueueMember(queue_id=q.id, agent_id=a) for a in members])
        if changes:
            audit.record(
                s,
                actor,
                "queue.updated",
                object_type="queue",
                object_id=q.id,
                details={"slug": q.slug, "changes": changes},
            )
        return changes
