"""Test data made through the services, with named personas."""

from __future__ import annotations

from dataclasses import dataclass

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.actors import Actor
from paydesk.services.auth import agent_actor
from paydesk.services.context import AppContext
from paydesk.services.intake import IntakeResult
from paydesk.services.staff import create_agent
from paydesk.store.agents import Agent

PASSWORD = "correct horse battery staple"


@dataclass
class Persona:
    email: str
    name: str
    locale: str = "en"


ALICE = Persona("alice@example.com", "Alice Morgan")
BOB = Persona("bob@example.com", "Bob Stone")
LI = Persona("li.na@example.cn", "李娜", "zh-CN")


def ticket(
    ctx: AppContext,
    who: Persona = ALICE,
    body: str = "My refund has not arrived",
    subject: str = "Refund",
    channel: Channel = Channel.WEB,
    **kw: object,
) -> IntakeResult:
    return intake.receive(
        ctx,
        InboundMessage(
            channel=channel,
            subject=subject,
            body=body,
            email=who.email,
            name=who.name,
            locale=who.locale,
            **kw,
        ),
    )  # type: ignore[arg-type]


def agent(
    ctx: AppContext,
    email: str = "wang@topay.example",
    role: str = "agent",
    queues: list[str] | None = None,
    name: str = "Wang Fang",
) -> tuple[Agent, Actor]:
    a = create_agent(ctx, email=email, name=name, password=PASSWORD, role=role, queues=queues or [])
    with ctx.read() as s:
        fresh = s.get(Agent, a.id)
        assert fresh is not None
        return fresh, agent_actor(s, fresh)


def customer_actor(ctx: AppContext, customer_id: int) -> Actor:
    return Actor(kind="customer", id=customer_id, workspace_id=1, role="customer")
