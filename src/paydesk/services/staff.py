"""Staff administration: agents, queues, memberships."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.domain.errors import Conflict, InvalidInput
from paydesk.domain.identities import normalize_email
from paydesk.domain.permissions import Role
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.auth import hash_password
from paydesk.services.context import AppContext
from paydesk.store.agents import Agent
from paydesk.store.workspace import Queue, QueueMember


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
