"""Macros: canned replies with placeholders and optional ticket actions.

A macro is shared (everyone in the workspace uses it; supervisors and admins manage it) or
personal (its owner alone sees and manages it). `render_for_ticket` fills the placeholders for
one ticket in the ticket's locale; `reply_with_macro` sends the (possibly edited) text through
the normal reply path — so the secret-request blocker and redaction still apply — and then
applies the macro's actions (status, priority, added tags) through `update_ticket`, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from paydesk.domain import macros as rules
from paydesk.domain import tickets as ticket_rules
from paydesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from paydesk.domain.permissions import Perm
from paydesk.domain.tickets import Status
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.services.tickets import add_agent_message, ticket_tags, update_ticket
from paydesk.store.base import utcnow
from paydesk.store.customers import Customer
from paydesk.store.macros import Macro
from paydesk.store.tickets import Message

SHARED_ROLES = frozenset({"supervisor", "admin"})
CUSTOMER_FALLBACK = {"en": "customer", "zh-CN": "客户"}


@dataclass(frozen=True, slots=True)
class MacroInput:
    name: str
    body_en: str
    body_zh: str
    actions: dict[str, Any]
    shared: bool


def can_manage_shared(actor: Actor) -> bool:
    return actor.is_staff and actor.role in SHARED_ROLES and actor.can(Perm.TICKET_WRITE)


def _visible(actor: Actor) -> Any:
    """Shared macros of the workspace, plus the actor's own personal ones."""
    conds: list[Any] = [Macro.owner_id.is_(None)]
    if actor.kind == "agent" and actor.id is not None:
        conds.append(Macro.owner_id == actor.id)
    return (Macro.workspace_id == actor.workspace_id) & or_(*conds)


def access_macro(s: Session, actor: Actor, macro_id: int, *, write: bool = False) -> Macro:
    """A macro the actor may use (or, with `write`, change); NotFound for missing and others'."""
    if not actor.is_staff:
        raise NotFound(f"macro {macro_id} not found")
    m = s.scalar(select(Macro).where(Macro.id == macro_id, _visible(actor)))
    if m is None:
        raise NotFound(f"macro {macro_id} not found")
    if write:
        actor.require(Perm.TICKET_WRITE)
        if m.owner_id is None and not can_manage_shared(actor):
            raise PermissionDenied("only supervisors and admins may change shared macros")
    return m


def list_macros(ctx: AppContext, actor: Actor) -> list[Macro]:
    if not actor.is_staff:
        return []
    with ctx.read() as s:
        rows = list(s.scalars(select(Macro).where(_visible(actor)).order_by(Macro.name, Macro.id)))
        s.expunge_all()
        return rows


def _validate(data: MacroInput) -> tuple[str, str, str, dict[str, Any]]:
    name = " ".join(data.name.split())[: rules.NAME_MAX]
    if not name:
        raise InvalidInput("the macro needs a name", field="name")
    body_en, body_zh = data.body_en.strip(), data.body_zh.strip()
    if not body_en and not body_zh:
        raise InvalidInput("write the reply in English or Chinese (or both)", field="body_en")
    rules.check_template(body_en, "body_en")
    rules.check_template(body_zh, "body_zh")
    return name, body_en, body_zh, rules.clean_actions(data.actions)


def create_macro(ctx: AppContext, actor: Actor, data: MacroInput) -> Macro:
    actor.require(Perm.TICKET_WRITE)
    name, body_en, body_zh, actions = _validate(data)
    if data.shared and not can_manage_shared(actor):
        raise PermissionDenied("only supervisors and admins may create shared macros")
    if not data.shared and actor.kind != "agent":
        raise InvalidInput("a personal macro belongs to a signed-in agent", field="shared")
    with ctx.uow() as uow:
        now = utcnow()
        m = Macro(
            workspace_id=actor.workspace_id,
            owner_id=None if data.shared else actor.id,
            name=name,
            body_en=body_en,
            body_zh=body_zh,
            actions=actions,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(m)
        uow.session.flush()
        audit.record(
            uow.session,
            actor,
            "macro.created",
            object_type="macro",
            object_id=m.id,
            details={"name": name, "shared": data.shared, "actions": actions},
        )
        uow.session.expunge(m)
    return m


def update_macro(ctx: AppContext, actor: Actor, macro_id: int, data: MacroInput) -> Macro:
    name, body_en, body_zh, actions = _validate(data)
    with ctx.uow() as uow:
        s = uow.session
        m = access_macro(s, actor, macro_id, write=True)
        if data.shared != (m.owner_id is None):
            if not can_manage_shared(actor):
                raise PermissionDenied("only supervisors and admins may share macros")
            if not data.shared and actor.kind != "agent":
                raise InvalidInput("a personal macro belongs to a signed-in agent", field="shared")
        new = {
            "name": name,
            "body_en": body_en,
            "body_zh": body_zh,
            "actions": actions,
            "owner_id": None if data.shared else (m.owner_id or actor.id),
        }
        diff = {k: [getattr(m, k), v] for k, v in new.items() if getattr(m, k) != v}
        for k, (_, v) in diff.items():
            setattr(m, k, v)
        if diff:
            m.updated_at = utcnow()
            audit.record(
                s,
                actor,
                "macro.updated",
                object_type="macro",
                object_id=m.id,
                details={"changes": sorted(diff), "name": name},
            )
        s.flush()
        s.expunge(m)
    return m


def delete_macro(ctx: AppContext, actor: Actor, macro_id: int) -> None:
    with ctx.uow() as uow:
        s = uow.session
        m = access_macro(s, actor, macro_id, write=True)
        audit.record(
            s,
            actor,
            "macro.deleted",
            object_type="macro",
            object_id=m.id,
            details={"name": m.name, "shared": m.owner_id is None},
        )
        s.delete(m)


def _values(s: Session, actor: Actor, ticket: Any) -> dict[str, str]:
    lang = "zh-CN" if (ticket.locale or "").lower().startswith("zh") else "en"
    customer = s.get(Customer, ticket.customer_id)
    name = customer.name if customer is not None and customer.erased_at is None else ""
    return {
        "customer.name": name or CUSTOMER_FALLBACK[lang],
        "ticket.number": f"#{ticket.number}",
        "ticket.subject": ticket.subject or "",
        "agent.name": actor.name or "TOPAY",
    }


def render_for_ticket(ctx: AppContext, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
    """Every macro the actor may use, rendered for this ticket (its locale, its names)."""
    with ctx.read() as s:
        ticket = access_ticket(s, actor, ticket_id)
        values = _values(s, actor, ticket)
        out = []
        for m in s.scalars(select(Macro).where(_visible(actor)).order_by(Macro.name, Macro.id)):
            out.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "shared": m.owner_id is None,
                    "body": rules.render(
                        rules.pick_body(m.body_en, m.body_zh, ticket.locale), values
                    ),
                    "actions": dict(m.actions or {}),
                    "actions_label": rules.describe_actions(m.actions or {}),
                }
            )
        return out


def reply_with_macro(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    macro_id: int,
    body: str,
    *,
    internal: bool = False,
    status: str = "",
) -> Message:
    """Send `body` (the rendered macro, possibly edited) and apply the macro's actions.

    The reply goes through `add_agent_message` (blocker, redaction, channel delivery); the
    actions follow through `update_ticket` (validated, audited). A status chosen in the
    composer wins over the macro's status. Tags are added to the ticket's tags, never removed.
    """
    with ctx.read() as s:
        m = access_macro(s, actor, macro_id)
        actions = rules.clean_actions(m.actions or {})
        name = m.name
        status_now = Status(access_ticket(s, actor, ticket_id).status)
    changes: dict[str, Any] = {}
    if status or actions.get("status"):
        changes["status"] = status or actions["status"]
        # refuse an impossible status before the reply goes out, not after
        try:
            target = Status(changes["status"])
        except ValueError:
            raise InvalidInput(f"invalid status {changes['status']!r}", field="status") from None
        after = status_now if internal else ticket_rules.status_after_agent_reply(status_now)
        ticket_rules.check_transition(after, target)
    msg = add_agent_message(ctx, actor, ticket_id, body, internal=internal)
    if actions.get("priority"):
        changes["priority"] = actions["priority"]
    with ctx.uow() as uow:
        s = uow.session
        if actions.get("add_tags"):
            current = ticket_tags(s, ticket_id)
            merged = sorted(set(current) | set(actions["add_tags"]))
            if merged != current:
                changes["tags"] = merged
        s.execute(
            update(Macro).where(Macro.id == macro_id).values(usage_count=Macro.usage_count + 1)
        )
        ticket = access_ticket(s, actor, ticket_id)
        audit.record(
            s,
            actor,
            "macro.applied",
            object_type="ticket",
            object_id=ticket_id,
            customer_id=ticket.customer_id,
            details={"macro_id": macro_id, "name": name, "message_id": msg.id, "actions": changes},
        )
    if changes:
        update_ticket(ctx, actor, ticket_id, changes)
    return msg


DEMO_MACROS: list[dict[str, Any]] = [
    {
        "name": "Refund in progress / 退款处理中",
        "body_en": "Hello {{customer.name}},\n\nThank you for your patience. The refund for your "
        "request {{ticket.number}} is being processed and usually reaches your account within "
        "3–5 business days. We will update you as soon as it is complete.\n\n{{agent.name}}\n"
        "TOPAY Support",
        "body_zh": "{{customer.name}}，您好：\n\n感谢您的耐心等待。您的工单 {{ticket.number}} "
        "涉及的退款正在处理中，通常会在 3–5 个工作日内到账。处理完成后我们会第一时间通知您。\n\n"
        "{{agent.name}}\nTOPAY 客服",
        "actions": {"status": "pending", "add_tags": ["refund"]},
    },
    {
        "name": "Password reset link / 重置密码",
        "body_en": "Hello {{customer.name}},\n\nWe have sent a password reset link to the email "
        "address registered with your TOPAY account. For your security, TOPAY staff will never "
        "ask for your password or verification codes.\n\n{{agent.name}}",
        "body_zh": "{{customer.name}}，您好：\n\n我们已向您 TOPAY 账户绑定的邮箱发送了重置密码"
        "链接。为了您的账户安全，TOPAY 工作人员绝不会索要您的密码或验证码。\n\n{{agent.name}}",
        "actions": {"status": "solved", "add_tags": ["password-reset"]},
    },
    {
        "name": "Scam warning / 防诈骗提醒",
        "body_en": "Hello {{customer.name}},\n\nPlease be careful: TOPAY will never ask you to "
        'transfer money to a "safe account" or to share your wallet recovery phrase. If '
        "someone did, do not reply to them and tell us here.\n\n{{agent.name}}",
        "body_zh": "{{customer.name}}，您好：\n\n请注意：TOPAY 绝不会要求您向所谓的“安全账户”"
        "转账，也不会索要您的钱包助记词。如有人这样要求，请勿理会并在此告知我们。\n\n"
        "{{agent.name}}",
        "actions": {"priority": "high", "add_tags": ["scam"]},
    },
    {
        "name": "Solved — anything else? / 已解决",
        "body_en": "Hello {{customer.name}},\n\nWe believe your request {{ticket.number}} is now "
        "resolved. If anything is still unclear, just reply and we will pick it up again.\n\n"
        "{{agent.name}}",
        "body_zh": "{{customer.name}}，您好：\n\n您的工单 {{ticket.number}} 已处理完毕。如仍有"
        "疑问，直接回复即可，我们会继续为您跟进。\n\n{{agent.name}}",
        "actions": {"status": "solved"},
    },
]


def seed_demo_macros(ctx: AppContext) -> None:
    """demo_seeders: the shared TOPAY macros, once (matched by name)."""
    from paydesk.services.actors import system_actor

    sys = system_actor(1)
    with ctx.read() as s:
        have = set(s.scalars(select(Macro.name).where(Macro.workspace_id == 1)))
    for spec in DEMO_MACROS:
        if spec["name"] in have:
            continue
        data = MacroInput(spec["name"], spec["body_en"], spec["body_zh"], spec["actions"], True)
        name, body_en, body_zh, actions = _validate(data)
        with ctx.uow() as uow:
            now = utcnow()
            m = Macro(
                workspace_id=1,
                name=name,
                body_en=body_en,
                body_zh=body_zh,
                actions=actions,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(m)
            uow.session.flush()
            audit.record(uow.session, sys, "macro.created", object_type="macro", object_id=m.id)


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("demo_seeders", []).append(seed_demo_macros)
