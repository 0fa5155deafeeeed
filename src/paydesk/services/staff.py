"""Staff administration: agents, queues, memberships, and the admin console's staff use cases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from paydesk.domain.errors import Conflict, InvalidInput, NotFound
from paydesk.domain.identities import normalize_email
from paydesk.domain.permissions import Perm, Role
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.auth import hash_password
from paydesk.services.context import AppContext
from paydesk.store.agents import Agent
from paydesk.store.auth import WebSession
from paydesk.store.base import utcnow
from paydesk.store.workspace import Queue, QueueMember, Team, TeamMember


def create_agent(
    ctx: AppContext,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "agent",
    languages: list[str] | None = None,
    skills: list[str] | None = None,
    capacity: int = 5,
    queues: list[str] | None = None,
    actor: Actor | None = None,
    workspace_id: int = 1,
) -> Agent:
    actor = actor or system_actor(workspace_id)
    try:
        Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", field="role") from None
    email = normalize_email(email)
    with ctx.uow() as uow:
        s = uow.session
        if s.scalar(
            select(Agent.id).where(Agent.workspace_id == workspace_id, Agent.email == email)
        ):
            raise Conflict(f"an agent with email {email} exists")
        agent = Agent(
            workspace_id=workspace_id,
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(password),
            languages=languages or ["en"],
            skills=skills or [],
            capacity=capacity,
        )
        s.add(agent)
        s.flush()
        for slug in queues or []:
            qid = s.scalar(
                select(Queue.id).where(Queue.workspace_id == workspace_id, Queue.slug == slug)
            )
            if qid is None:
                raise InvalidInput(f"unknown queue {slug!r}", field="queues")
            s.add(QueueMember(queue_id=qid, agent_id=agent.id))
        audit.record(
            s,
            actor,
            "agent.created",
            object_type="agent",
            object_id=agent.id,
            details={"role": role},
        )
    return agent


def ensure_queue(
    ctx: AppContext,
    slug: str,
    name: str,
    name_zh: str = "",
    locale: str | None = None,
    workspace_id: int = 1,
) -> int:
    with ctx.uow() as uow:
        s = uow.session
        q = s.scalars(
            select(Queue).where(Queue.workspace_id == workspace_id, Queue.slug == slug)
        ).first()
        if q is None:
            q = Queue(
                workspace_id=workspace_id, slug=slug, name=name, name_zh=name_zh, locale=locale
            )
            s.add(q)
            s.flush()
        return q.id


DEFAULT_QUEUES: list[tuple[str, str, str, str | None]] = [
    ("general-en", "General (English)", "综合（英文）", "en"),
    ("general-zh", "General (Chinese)", "综合（中文）", "zh-CN"),
    ("account-en", "Account (English)", "账户（英文）", "en"),
    ("account-zh", "Account (Chinese)", "账户（中文）", "zh-CN"),
    ("transactions-en", "Transactions (English)", "交易（英文）", "en"),
    ("transactions-zh", "Transactions (Chinese)", "交易（中文）", "zh-CN"),
    ("technical", "Technical", "技术支持", None),
    ("complaints", "Complaints", "投诉", None),
]


def ensure_default_queues(ctx: AppContext, workspace_id: int = 1) -> None:
    for slug, name, name_zh, locale in DEFAULT_QUEUES:
        ensure_queue(ctx, slug, name, name_zh, locale, workspace_id)


# --- the admin console's use cases ------------------------------------------------------------
# Admins change staff, teams and queues; supervisors and auditors may look (who works where,
# with which role). Everyone else gets NotFound, so the pages do not even admit they exist.

READ_ROLES = frozenset({Role.ADMIN.value, Role.SUPERVISOR.value, Role.AUDITOR.value})
LANGUAGES = ("en", "zh-CN")  # the locales intake, routing and chat offers know
MAX_CAPACITY = 50  # concurrent chats (presence.set_presence uses the same bound)
MAX_SKILLS = 30
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def can_read_admin(actor: Actor) -> bool:
    return actor.is_staff and (actor.can(Perm.ADMIN) or actor.role in READ_ROLES)


def require_admin_read(actor: Actor) -> None:
    """Admins, supervisors and auditors may read the admin pages; others see NotFound."""
    if not can_read_admin(actor):
        raise NotFound("page not found")


def require_admin(actor: Actor) -> None:
    """Only admins change staff, teams and queues (readers get 403, everyone else 404)."""
    require_admin_read(actor)
    actor.require(Perm.ADMIN)


def clean_name(value: str, field: str = "name", max_len: int = 200) -> str:
    v = " ".join(value.split())
    if not v:
        raise InvalidInput(f"{field} is required", field=field)
    if len(v) > max_len or _CONTROL.search(v):
        raise InvalidInput(f"{field} must be at most {max_len} printable characters", field=field)
    return v


@dataclass
class StaffInput:
    """What the staff form edits. `capacity` arrives as text from forms and is checked here."""

    name: str
    email: str
    role: str = Role.AGENT.value
    languages: list[str] = field(default_factory=lambda: ["en"])
    skills: list[str] = field(default_factory=list)
    capacity: int | str = 5
    team_ids: list[int] = field(default_factory=list)
    queue_ids: list[int] = field(default_factory=list)

    def validated(self) -> StaffInput:
        """A clean copy, or InvalidInput naming the first bad field."""
        if self.role not in {r.value for r in Role}:
            raise InvalidInput(f"unknown role {self.role!r}", field="role")
        langs = [x for x in dict.fromkeys(self.languages) if x]
        bad = [x for x in langs if x not in LANGUAGES]
        if bad or not langs:
            raise InvalidInput(
                "choose at least one language of " + ", ".join(LANGUAGES), field="languages"
            )
        skills: dict[str, str] = {}
        for raw in self.skills:
            s = " ".join(raw.split())
            if not s:
                continue
            if len(s) > 50 or _CONTROL.search(s):
                raise InvalidInput("a skill is at most 50 characters", field="skills")
            skills.setdefault(s.lower(), s)
        if len(skills) > MAX_SKILLS:
            raise InvalidInput(f"at most {MAX_SKILLS} skills", field="skills")
        cap = str(self.capacity).strip()
        if not cap.isdigit() or not 0 <= int(cap) <= MAX_CAPACITY:
            raise InvalidInput(
                f"chat capacity must be a whole number from 0 to {MAX_CAPACITY}", field="capacity"
            )
        return StaffInput(
            name=clean_name(self.name),
            email=normalize_email(self.email),
            role=self.role,
            languages=langs,
            skills=list(skills.values()),
            capacity=int(cap),
            team_ids=sorted(set(self.team_ids)),
            queue_ids=sorted(set(self.queue_ids)),
        )


def _ids_in(
    s: Session, model: type[Team] | type[Queue], ids: list[int], ws: int, field: str
) -> None:
    if not ids:
        return
    found = set(s.scalars(select(model.id).where(model.workspace_id == ws, model.id.in_(ids))))
    missing = sorted(set(ids) - found)
    if missing:
        raise InvalidInput(f"unknown {field}: {missing[0]}", field=field)


def _team_ids(s: Session, agent_id: int) -> list[int]:
    return sorted(s.scalars(select(TeamMember.team_id).where(TeamMember.agent_id == agent_id)))


def _queue_ids(s: Session, agent_id: int) -> list[int]:
    return sorted(s.scalars(select(QueueMember.queue_id).where(QueueMember.agent_id == agent_id)))


def _set_memberships(s: Session, agent_id: int, team_ids: list[int], queue_ids: list[int]) -> None:
    s.execute(delete(TeamMember).where(TeamMember.agent_id == agent_id))
    s.execute(delete(QueueMember).where(QueueMember.agent_id == agent_id))
    s.add_all([TeamMember(team_id=t, agent_id=agent_id) for t in team_ids])
    s.add_all([QueueMember(queue_id=q, agent_id=agent_id) for q in queue_ids])


def _load_agent(s: Session, actor: Actor, agent_id: int) -> Agent:
    agent = s.get(Agent, agent_id)
    if agent is None or agent.workspace_id != actor.workspace_id:
        raise NotFound(f"staff user {agent_id} not found")
    return agent


def _other_active_admins(s: Session, agent: Agent) -> int:
    return int(
        s.scalar(
            select(func.count(Agent.id)).where(
                Agent.workspace_id == agent.workspace_id,
                Agent.role == Role.ADMIN.value,
                Agent.active.is_(True),
                Agent.id != agent.id,
            )
        )
        or 0
    )


def _end_sessions(s: Session, agent_id: int) -> None:
    s.execute(delete(WebSession).where(WebSession.agent_id == agent_id))


def staff_public(s: Session, agent: Agent) -> dict[str, Any]:
    """What the admin pages show of a staff user (never the password hash or TOTP secret)."""
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "active": agent.active,
        "languages": list(agent.languages or []),
        "skills": list(agent.skills or []),
        "capacity": agent.capacity,
        "totp": bool(agent.totp_secret),
        "locked": agent.locked_until is not None and agent.locked_until > utcnow(),
        "team_ids": _team_ids(s, agent.id),
        "queue_ids": _queue_ids(s, agent.id),
        "created_at": agent.created_at,
    }


def list_staff(ctx: AppContext, actor: Actor) -> list[dict[str, Any]]:
    """Every staff user of the workspace, active first, by name."""
    require_admin_read(actor)
    with ctx.read() as s:
        agents = s.scalars(
            select(Agent)
            .where(Agent.workspace_id == actor.workspace_id)
            .order_by(Agent.active.desc(), Agent.name, Agent.id)
        ).all()
        return [staff_public(s, a) for a in agents]


def staff_detail(ctx: AppContext, actor: Actor, agent_id: int) -> dict[str, Any]:
    require_admin_read(actor)
    with ctx.read() as s:
        return staff_public(s, _load_agent(s, actor, agent_id))


def create_staff(ctx: AppContext, actor: Actor, data: StaffInput, password: str) -> int:
    """A new staff user with teams and queues (audited; the password is only stored hashed)."""
    require_admin(actor)
    d = data.validated()
    password_hash = hash_password(password)
    with ctx.uow() as uow:
        s = uow.session
        if s.scalar(
            select(Agent.id).where(Agent.workspace_id == actor.workspace_id, Agent.email == d.email)
        ):
            raise Conflict(f"a staff user with email {d.email} exists", field="email")
        _ids_in(s, Team, d.team_ids, actor.workspace_id, "teams")
        _ids_in(s, Queue, d.queue_ids, actor.workspace_id, "queues")
        agent = Agent(
            workspace_id=actor.workspace_id,
            email=d.email,
            name=d.name,
            role=d.role,
            password_hash=password_hash,
            languages=d.languages,
            skills=d.skills,
            capacity=int(d.capacity),
        )
        s.add(agent)
        s.flush()
        _set_memberships(s, agent.id, d.team_ids, d.queue_ids)
        audit.record(
            s,
            actor,
            "agent.created",
            object_type="agent",
            object_id=agent.id,
            details={"role": d.role, "email": d.email, "teams": d.team_ids, "queues": d.queue_ids},
        )
        return agent.id


def update_staff(ctx: AppContext, actor: Actor, agent_id: int, data: StaffInput) -> dict[str, Any]:
    """Change a staff user's profile, role and memberships; audits old → new of each change and
    returns the changes. An admin cannot take away their own admin role, and the workspace
    always keeps one active admin."""
    require_admin(actor)
    d = data.validated()
    with ctx.uow() as uow:
        s = uow.session
        agent = _load_agent(s, actor, agent_id)
        if d.email != agent.email and s.scalar(
            select(Agent.id).where(Agent.workspace_id == actor.workspace_id, Agent.email == d.email)
        ):
            raise Conflict(f"a staff user with email {d.email} exists", field="email")
        if agent.role == Role.ADMIN.value and d.role != Role.ADMIN.value:
            if actor.kind == "agent" and actor.id == agent.id:
                raise InvalidInput("you cannot remove your own admin role", field="role")
            if agent.active and not _other_active_admins(s, agent):
                raise InvalidInput("the workspace needs at least one active admin", field="role")
        _ids_in(s, Team, d.team_ids, actor.workspace_id, "teams")
        _ids_in(s, Queue, d.queue_ids, actor.workspace_id, "queues")
        before = {
            "name": agent.name,
            "email": agent.email,
            "role": agent.role,
            "languages": list(agent.languages or []),
            "skills": list(agent.skills or []),
            "capacity": agent.capacity,
            "teams": _team_ids(s, agent.id),
            "queues": _queue_ids(s, agent.id),
        }
        after = {
            "name": d.name,
            "email": d.email,
            "role": d.role,
            "languages": d.languages,
            "skills": d.skills,
            "capacity": int(d.capacity),
            "teams": d.team_ids,
            "queues": d.queue_ids,
        }
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if not changes:
            return {}
        agent.name, agent.email, agent.role = d.name, d.email, d.role
        agent.languages, agent.skills, agent.capacity = d.languages, d.skills, int(d.capacity)
        if "teams" in changes or "queues" in changes:
            _set_memberships(s, agent.id, d.team_ids, d.queue_ids)
        audit.record(
            s,
            actor,
            "agent.role_changed" if "role" in changes else "agent.updated",
            object_type="agent",
            object_id=agent.id,
            details={"changes": changes},
        )
        return changes


def set_staff_active(ctx: AppContext, actor: Actor, agent_id: int, active: bool) -> None:
    """Deactivate (sign-in refused, open sessions ended at once) or reactivate a staff user.
    Nobody deactivates themself, and the last active admin stays."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        agent = _load_agent(s, actor, agent_id)
        if agent.active == active:
            return
        if not active:
            if actor.kind == "agent" and actor.id == agent.id:
                raise InvalidInput("you cannot deactivate yourself", field="active")
            if agent.role == Role.ADMIN.value and not _other_active_admins(s, agent):
                raise InvalidInput("the workspace needs at least one active admin", field="active")
            _end_sessions(s, agent.id)
        agent.active = active
        audit.record(
            s,
            actor,
            "agent.reactivated" if active else "agent.deactivated",
            object_type="agent",
            object_id=agent.id,
        )


def reset_totp(ctx: AppContext, actor: Actor, agent_id: int) -> None:
    """Turn off a staff user's two-factor sign-in (lost phone) and end their sessions; they sign
    in with the password next time and should enrol again."""
    require_admin(actor)
    with ctx.uow() as uow:
        s = uow.session
        agent = _load_agent(s, actor, agent_id)
        had = bool(agent.totp_secret)
        agent.totp_secret = None
        agent.preferences = {
            k: v for k, v in (agent.preferences or {}).items() if k != "totp_pending"
        }
        _end_sessions(s, agent.id)
        audit.record(
            s,
            actor,
            "agent.totp_reset",
            object_type="agent",
            object_id=agent.id,
            details={"was_enabled": had},
        )


def set_password(ctx: AppContext, actor: Actor, agent_id: int, password: str) -> None:
    """Give a staff user a new password (argon2id), unlock the account, end their sessions."""
    require_admin(actor)
    password_hash = hash_password(password)
    with ctx.uow() as uow:
        s = uow.session
        agent = _load_agent(s, actor, agent_id)
        agent.password_hash = password_hash
        agent.failed_logins = 0
        agent.locked_until = None
        _end_sessions(s, agent.id)
        audit.record(s, actor, "agent.password_set", object_type="agent", object_id=agent.id)
