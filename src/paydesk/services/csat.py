"""CSAT after each resolution, and the optional NPS question.

When a ticket becomes solved (`tickets.update_ticket` calls `invite_on_solved` inside its
transaction) a `CsatSurvey` row is written for that resolution and the customer is invited in
the ticket's channel: a rating prompt in the chat widget while the chat is still open, else an
e-mail through the durable outbox, else nothing is sent and the portal's ticket page shows the
form. At most `csat_customer_limit` invitations go to one customer per
`csat_customer_window_hours`; over the limit the survey is still offered on the portal.

The rating link is `/survey/<token>`: an itsdangerous-signed, time-limited token naming one
survey and a random nonce stored only as a SHA-256 hash. The link answers that one survey and
nothing else; the answer may be changed until the survey expires, and sending the same answer
again changes nothing (idempotent). Comments pass through the redactor before storage.
"""

from __future__ import annotations

import hashlib
import html as htmlmod
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from paydesk.domain.csat import Scale, clean_comment, parse_answer, parse_nps
from paydesk.domain.errors import DomainError, NotFound
from paydesk.domain.events import TicketUpdated
from paydesk.domain.mailthread import subject_tag
from paydesk.services import audit
from paydesk.services.access import access_ticket
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.chat import ChatSession
from paydesk.store.customers import Customer
from paydesk.store.surveys import CsatSurvey, NpsSurvey
from paydesk.store.tickets import Ticket

NPS_LOCK_KEY = 0x70D5_C5A7  # pg advisory lock: one NPS sender at a time
OPEN_CHAT = ("new", "bot", "waiting", "offline", "active")


class SurveyExpired(DomainError):
    code = "expired"
    status = 410


@dataclass(frozen=True, slots=True)
class SurveyView:
    """What the public survey page shows (no customer data beyond the ticket's subject)."""

    kind: str  # "csat" | "nps"
    id: int
    locale: str
    scale: str
    ticket_id: int | None
    ticket_number: int | None
    subject: str
    rating: str | None
    score: int | None
    comment: str
    expires_at: datetime
    answered: bool


# ---------------------------------------------------------------- tokens


def _serializer(ctx: AppContext, kind: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.resolved_secret(), salt=f"paydesk.{kind}.survey")


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _new_nonce() -> tuple[str, str]:
    nonce = secrets.token_urlsafe(18)
    return nonce, _hash(nonce)


def _verify(ctx: AppContext, kind: str, token: str, ttl_days: int) -> tuple[int, str]:
    """(survey id, nonce) of a well-signed token; NotFound when forged, SurveyExpired when old."""
    try:
        data = _serializer(ctx, kind).loads(token[:400], max_age=ttl_days * 86400 + 3600)
    except SignatureExpired:
        raise SurveyExpired("this survey link has expired") from None
    except BadSignature:
        raise NotFound("survey not found") from None
    if not isinstance(data, dict) or not isinstance(data.get("i"), int):
        raise NotFound("survey not found")
    return data["i"], str(data.get("n", ""))


def survey_url(ctx: AppContext, kind: str, survey_id: int, nonce: str) -> str:
    token = _serializer(ctx, kind).dumps({"i": survey_id, "n": nonce})
    path = "/survey/" if kind == "csat" else "/nps/"
    return ctx.settings.base_url.rstrip("/") + path + token


# ---------------------------------------------------------------- invitation texts

INVITE = {
    "en": (
        "How did we do? {tag}",
        "Hello {name},\n\nYour request {tag} “{subject}” has been marked as solved. "
        "How satisfied are you with our service? One click is enough:\n\n{choices}\n\n"
        "You can add a comment on the page, and change your answer until {expires}. "
        "If your problem is not solved, simply reply to this email.",
    ),
    "zh-CN": (
        "您对我们的服务满意吗？{tag}",
        "{name}，您好：\n\n您的工单 {tag}“{subject}”已标记为已解决。"
        "您对本次服务满意吗？只需点击一下：\n\n{choices}\n\n"
        "您还可以在页面上留言，并可在 {expires} 前修改评价。如果问题尚未解决，请直接回复本邮件。",
    ),
}
CHOICES = {
    "en": {"good": "Good, I'm satisfied", "bad": "Bad, I'm unsatisfied"},
    "zh-CN": {"good": "满意", "bad": "不满意"},
}
CHAT_PROMPT = {
    "en": "This conversation is marked as solved. How did we do? Rate us here: {url}",
    "zh-CN": "本次会话已标记为已解决。您对我们的服务满意吗？请点此评价：{url}",
}
NPS_INVITE = {
    "en": (
        "How likely are you to recommend TOPAY?",
        "Hello {name},\n\nOn a scale from 0 to 10, how likely are you to recommend TOPAY to a "
        "friend or colleague? Answer here (one question, under a minute):\n\n{url}\n\n"
        "The link works until {expires}.",
    ),
    "zh-CN": (
        "您有多大可能向朋友推荐 TOPAY？",
        "{name}，您好：\n\n从 0 到 10 分，您有多大可能向朋友或同事推荐 TOPAY？"
        "请点此回答（仅一个问题，不到一分钟）：\n\n{url}\n\n链接在 {expires} 前有效。",
    ),
}
NPS_BUTTON = {"en": "Answer (0–10)", "zh-CN": "立即评分（0–10）"}
GREETING = {"en": "customer", "zh-CN": "尊敬的客户"}


def _lang(locale: str | None) -> str:
    return "zh-CN" if (locale or "").lower().startswith("zh") else "en"


def _mail(
    lang: str, subject: str, text_body: str, html_body: str, links: list[tuple[str, str]]
) -> tuple[str, str, str]:
    """(subject, text, html): the html shows each (label, url) as a button-like link."""
    from paydesk.channels.email import compose

    footer = compose.SAFETY[lang]
    text = text_body + "\n\n-- \n" + footer + "\n"
    buttons = " ".join(
        f'<a href="{htmlmod.escape(url)}" style="display:inline-block;padding:8px 14px;'
        f"margin:4px;border:1px solid #1d4ed8;border-radius:6px;color:#1d4ed8;"
        f'text-decoration:none">{htmlmod.escape(label)}</a>'
        for label, url in links
    )
    parts = [compose.text_to_html(p) for p in html_body.split("\n\n")]
    body_html = "<br><br>".join(p if p else f"<p>{buttons}</p>" for p in parts)
    html = compose.wrap_html(body_html, htmlmod.escape(footer), lang)
    return subject, text, html


# ---------------------------------------------------------------- invitation on resolution


def invite_on_solved(ctx: AppContext, uow: UnitOfWork, ticket: Ticket) -> CsatSurvey | None:
    """Create this resolution's survey and invite the customer (caller's transaction).

    Runs when `update_ticket` moves a ticket to solved. Erased customers are never asked.
    """
    s = uow.session
    customer = s.get(Customer, ticket.customer_id)
    if customer is None or customer.erased_at is not None:
        return None
    now = utcnow()
    settings = ctx.settings
    prev = s.scalar(select(func.max(CsatSurvey.round)).where(CsatSurvey.ticket_id == ticket.id))
    nonce, token_hash = _new_nonce()
    survey = CsatSurvey(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.id,
        round=(prev or 0) + 1,
        customer_id=customer.id,
        agent_id=ticket.assignee_id,
        queue_id=ticket.queue_id,
        channel=ticket.channel,
        delivery="portal",
        locale=_lang(ticket.locale or customer.locale),
        scale=Scale.FIVE.value if settings.csat_scale == Scale.FIVE.value else Scale.BINARY.value,
        token_hash=token_hash,
        created_at=now,
        expires_at=now + timedelta(days=settings.csat_survey_ttl_days),
    )
    invited_recently = s.scalar(
        select(func.count())
        .select_from(CsatSurvey)
        .where(
            CsatSurvey.customer_id == customer.id,
            CsatSurvey.created_at > now - timedelta(hours=settings.csat_customer_window_hours),
            CsatSurvey.delivery != "portal",
        )
    )
    s.add(survey)
    s.flush()
    url = survey_url(ctx, "csat", survey.id, nonce)
    if (invited_recently or 0) < settings.csat_customer_limit:
        survey.delivery = _deliver(ctx, uow, ticket, customer, survey, url)
    audit.record(
        s,
        system_actor(ticket.workspace_id),
        "csat.invited",
        object_type="ticket",
        object_id=ticket.id,
        customer_id=customer.id,
        details={"survey_id": survey.id, "round": survey.round, "delivery": survey.delivery},
    )
    return survey


def _deliver(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Ticket,
    customer: Customer,
    survey: CsatSurvey,
    url: str,
) -> str:
    """Send the invitation where the customer is; returns the delivery used."""
    from paydesk.services import chat
    from paydesk.services.email import outbox

    s = uow.session
    lang = survey.locale
    if ticket.channel == "chat":
        sess = s.scalar(
            select(ChatSession)
            .where(ChatSession.ticket_id == ticket.id, ChatSession.status.in_(OPEN_CHAT))
            .order_by(ChatSession.id.desc())
            .limit(1)
        )
        if sess is not None:
            ev = chat.append_event(
                s,
                sess.id,
                sess.public_id,
                "message",
                "system",
                {
                    "body": CHAT_PROMPT[lang].format(url=url),
                    "author_name": "TOPAY",
                    "survey_url": url,
                },
            )
            chat.publish_on_commit(ctx, uow, sess.public_id, ev)
            return "chat"
    to = outbox._recipient(s, ticket)
    if not to:
        return "portal"
    if survey.scale == Scale.FIVE.value:
        links = [(f"{n} ★", f"{url}?score={n}") for n in range(5, 0, -1)]
    else:
        links = [(CHOICES[lang][r], f"{url}?rating={r}") for r in ("good", "bad")]
    subject_t, body_t = INVITE[lang]
    tag = subject_tag(ticket.number)
    values = {
        "tag": tag,
        "name": customer.name or GREETING[lang],
        "subject": ticket.subject,
        "expires": survey.expires_at.strftime("%Y-%m-%d"),
    }
    choices = "\n".join(f"{label}: {link}" for label, link in links)
    subject, text, html = _mail(
        lang,
        subject_t.format(tag=tag),
        body_t.format(choices=choices, **values),
        body_t.format(choices="", **values),
        links,
    )
    outbox._enqueue(
        ctx, uow, ticket, kind="survey", to=to, subject=subject, text=text, html=html, auto=True
    )
    return "email"


# ---------------------------------------------------------------- answering


def _view(sv: CsatSurvey, ticket: Ticket | None) -> SurveyView:
    return SurveyView(
        kind="csat",
        id=sv.id,
        locale=sv.locale,
        scale=sv.scale,
        ticket_id=sv.ticket_id,
        ticket_number=ticket.number if ticket else None,
        subject=ticket.subject if ticket else "",
        rating=sv.rating,
        score=sv.score,
        comment=sv.comment or "",
        expires_at=sv.expires_at,
        answered=sv.rated_at is not None,
    )


def _load_csat(s: Session, survey_id: int, nonce: str, *, lock: bool = False) -> CsatSurvey:
    stmt = select(CsatSurvey).where(CsatSurvey.id == survey_id)
    if lock and s.bind is not None and s.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    sv = s.scalar(stmt)
    if sv is None or not secrets.compare_digest(sv.token_hash, _hash(nonce)):
        raise NotFound("survey not found")
    return sv


def find_survey(ctx: AppContext, token: str) -> SurveyView:
    """The survey a link opens (expired ones too: the page says so); NotFound when forged."""
    sid, nonce = _verify(ctx, "csat", token, ctx.settings.csat_survey_ttl_days)
    with ctx.read() as s:
        sv = _load_csat(s, sid, nonce)
        return _view(sv, s.get(Ticket, sv.ticket_id))


def rate(
    ctx: AppContext,
    token: str,
    *,
    rating: str | None,
    score: str | int | None = None,
    comment: str | None = None,
) -> SurveyView:
    """Record or change the answer of the survey named by `token` (see the module docstring)."""
    sid, nonce = _verify(ctx, "csat", token, ctx.settings.csat_survey_ttl_days)
    return _answer(ctx, sid, nonce, None, rating=rating, score=score, comment=comment)


def rate_from_portal(
    ctx: AppContext,
    actor: Actor,
    ticket_id: int,
    *,
    rating: str | None,
    score: str | int | None = None,
    comment: str | None = None,
) -> SurveyView:
    """A signed-in customer answers the latest open survey of their own ticket."""
    with ctx.read() as s:
        access_ticket(s, actor, ticket_id)
        sv = _latest_open(s, ticket_id)
        if sv is None:
            raise NotFound("there is no survey to answer for this ticket")
        sid = sv.id
    return _answer(ctx, sid, None, actor, rating=rating, score=score, comment=comment)


def _latest_open(s: Session, ticket_id: int) -> CsatSurvey | None:
    return s.scalar(
        select(CsatSurvey)
        .where(CsatSurvey.ticket_id == ticket_id, CsatSurvey.expires_at > utcnow())
        .order_by(CsatSurvey.round.desc())
        .limit(1)
    )


def _answer(
    ctx: AppContext,
    survey_id: int,
    nonce: str | None,
    actor: Actor | None,
    *,
    rating: str | None,
    score: str | int | None,
    comment: str | None,
) -> SurveyView:
    text = clean_comment(comment)
    redacted = ctx.redactor.redact(text).text if text else None
    with ctx.uow() as uow:
        s = uow.session
        if nonce is not None:
            sv = _load_csat(s, survey_id, nonce, lock=True)
        else:
            found = s.get(CsatSurvey, survey_id)
            if found is None:
                raise NotFound("survey not found")
            sv = found
        now = utcnow()
        if sv.expires_at <= now:
            raise SurveyExpired("this survey has expired")
        r, n = parse_answer(Scale(sv.scale), rating, score)
        ticket = s.get(Ticket, sv.ticket_id)
        if (sv.rating, sv.score, sv.comment or None) == (r.value, n, redacted):
            return _view(sv, ticket)  # the same answer again: nothing to write
        first = sv.rated_at is None
        old = {"rating": sv.rating, "score": sv.score}
        sv.rating, sv.score, sv.comment = r.value, n, redacted
        sv.rated_at = sv.rated_at or now
        sv.updated_at = now
        who = actor or Actor(
            kind="customer", id=sv.customer_id, workspace_id=sv.workspace_id, role="customer"
        )
        audit.record(
            s,
            who,
            "csat.rated" if first else "csat.rating_changed",
            object_type="ticket",
            object_id=sv.ticket_id,
            customer_id=sv.customer_id,
            details={
                "survey_id": sv.id,
                "rating": r.value,
                "score": n,
                "old": old,
                "comment": bool(redacted),
            },
        )
        _publish(ctx, uow, sv.workspace_id, sv.ticket_id)
        return _view(sv, ticket)


def _publish(ctx: AppContext, uow: UnitOfWork, workspace_id: int, ticket_id: int) -> None:
    payload = {**TicketUpdated(ticket_id, ("csat",)).payload(), "ticket_id": ticket_id}

    def go() -> None:
        ctx.bus.publish(f"ticket:{ticket_id}", payload)
        ctx.bus.publish(f"inbox:{workspace_id}", payload)

    uow.on_commit(go)


def portal_survey(ctx: AppContext, actor: Actor, ticket_id: int) -> SurveyView | None:
    """The survey the customer's ticket page offers (latest, not expired), if any."""
    with ctx.read() as s:
        access_ticket(s, actor, ticket_id)
        sv = _latest_open(s, ticket_id)
        return _view(sv, s.get(Ticket, ticket_id)) if sv else None


def ticket_ratings(ctx: AppContext, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
    """Every survey of a ticket the actor may see (agents' ticket page), newest first."""
    with ctx.read() as s:
        access_ticket(s, actor, ticket_id)
        rows = s.scalars(
            select(CsatSurvey)
            .where(CsatSurvey.ticket_id == ticket_id)
            .order_by(CsatSurvey.round.desc())
        ).all()
        now = utcnow()
        return [
            {
                "round": r.round,
                "delivery": r.delivery,
                "created_at": r.created_at,
                "rating": r.rating,
                "score": r.score,
                "comment": r.comment or "",
                "rated_at": r.rated_at,
                "expired": r.expires_at <= now,
            }
            for r in rows
        ]


# ---------------------------------------------------------------- NPS


def send_nps_invitations(ctx: AppContext, *, limit: int = 200, workspace_id: int = 1) -> int:
    """Ask customers with a ticket solved in the last 30 days, not asked within
    `nps_interval_days` and not erased, the 0–10 question by e-mail. Returns how many."""
    from paydesk.services.email import outbox

    settings = ctx.settings
    now = utcnow()
    sent = 0
    with ctx.uow() as uow:
        s = uow.session
        if ctx.dialect == "postgresql" and not s.scalar(
            sql_text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": NPS_LOCK_KEY}
        ):
            return 0  # another process is sending right now (SQLite: the write lock serialises)
        asked = select(NpsSurvey.customer_id).where(
            NpsSurvey.created_at > now - timedelta(days=settings.nps_interval_days)
        )
        latest = (
            select(Ticket.customer_id, func.max(Ticket.id).label("tid"))
            .where(
                Ticket.workspace_id == workspace_id,
                Ticket.solved_at > now - timedelta(days=30),
                Ticket.customer_id.not_in(asked),
            )
            .group_by(Ticket.customer_id)
            .limit(limit)
            .subquery()
        )
        rows = s.execute(
            select(Ticket, Customer)
            .join(latest, Ticket.id == latest.c.tid)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Customer.erased_at.is_(None))
        ).all()
        for ticket, customer in rows:
            to = outbox._recipient(s, ticket)
            if not to:
                continue
            nonce, token_hash = _new_nonce()
            lang = _lang(customer.locale or ticket.locale)
            nps = NpsSurvey(
                workspace_id=workspace_id,
                customer_id=customer.id,
                ticket_id=ticket.id,
                locale=lang,
                token_hash=token_hash,
                created_at=now,
                expires_at=now + timedelta(days=settings.nps_ttl_days),
            )
            s.add(nps)
            s.flush()
            url = survey_url(ctx, "nps", nps.id, nonce)
            subject_t, body_t = NPS_INVITE[lang]
            values = {
                "name": customer.name or GREETING[lang],
                "expires": nps.expires_at.strftime("%Y-%m-%d"),
            }
            subject, text, html = _mail(
                lang,
                subject_t,
                body_t.format(url=url, **values),
                body_t.format(url="", **values),
                [(NPS_BUTTON[lang], url)],
            )
            outbox._enqueue(
                ctx,
                uow,
                ticket,
                kind="nps",
                to=to,
                subject=subject,
                text=text,
                html=html,
                auto=True,
                thread=(None, []),
            )
            audit.record(
                s,
                system_actor(workspace_id),
                "nps.invited",
                object_type="customer",
                object_id=customer.id,
                customer_id=customer.id,
                details={"nps_id": nps.id},
            )
            sent += 1
    return sent


def _nps_view(n: NpsSurvey) -> SurveyView:
    return SurveyView(
        kind="nps",
        id=n.id,
        locale=n.locale,
        scale="nps",
        ticket_id=None,
        ticket_number=None,
        subject="",
        rating=None,
        score=n.score,
        comment=n.comment or "",
        expires_at=n.expires_at,
        answered=n.answered_at is not None,
    )


def _load_nps(s: Session, nps_id: int, nonce: str) -> NpsSurvey:
    n = s.get(NpsSurvey, nps_id)
    if n is None or not secrets.compare_digest(n.token_hash, _hash(nonce)):
        raise NotFound("survey not found")
    return n


def find_nps(ctx: AppContext, token: str) -> SurveyView:
    nid, nonce = _verify(ctx, "nps", token, ctx.settings.nps_ttl_days)
    with ctx.read() as s:
        return _nps_view(_load_nps(s, nid, nonce))


def answer_nps(
    ctx: AppContext, token: str, *, score: str | int | None, comment: str | None
) -> SurveyView:
    """Record or change a 0–10 answer until the question expires (same answer: no write)."""
    nid, nonce = _verify(ctx, "nps", token, ctx.settings.nps_ttl_days)
    value = parse_nps(score)
    text = clean_comment(comment)
    redacted = ctx.redactor.redact(text).text if text else None
    with ctx.uow() as uow:
        s = uow.session
        n = _load_nps(s, nid, nonce)
        now = utcnow()
        if n.expires_at <= now:
            raise SurveyExpired("this survey has expired")
        if (n.score, n.comment or None) == (value, redacted):
            return _nps_view(n)
        first = n.answered_at is None
        n.score, n.comment, n.answered_at = value, redacted, now
        audit.record(
            s,
            Actor(kind="customer", id=n.customer_id, workspace_id=n.workspace_id, role="customer"),
            "nps.answered" if first else "nps.changed",
            object_type="customer",
            object_id=n.customer_id,
            customer_id=n.customer_id,
            details={"nps_id": n.id, "score": value, "comment": bool(redacted)},
        )
        return _nps_view(n)


def install(ctx: AppContext) -> None:
    """Background NPS sending when enabled (daily check in the server process)."""
    ctx.extras.setdefault("demo_seeders", []).append(seed_demo_ratings)
    if ctx.settings.nps_enabled:
        ctx.extras.setdefault("background", []).append(_nps_loop)


async def _nps_loop(ctx: AppContext) -> None:
    import asyncio
    import logging

    while True:
        try:
            await asyncio.to_thread(send_nps_invitations, ctx)
        except Exception:
            logging.getLogger(__name__).exception("NPS invitations failed")
        await asyncio.sleep(24 * 3600)


def seed_demo_ratings(ctx: AppContext) -> None:
    """demo_seeders: answer about two thirds of the demo's surveys (idempotent: only the
    unanswered ones of customers who have never answered), so the reports have data."""
    import random

    rng = random.Random(2026)
    comments = {
        "en": ["Quick and friendly, thank you!", "Took too long to get an answer.", ""],
        "zh-CN": ["客服很耐心，谢谢！", "等待时间太长了。", ""],
    }
    with ctx.read() as s:
        if s.scalar(select(CsatSurvey.id).where(CsatSurvey.rated_at.is_not(None)).limit(1)):
            return
        rows = list(s.execute(select(CsatSurvey.id, CsatSurvey.locale).order_by(CsatSurvey.id)))
    for sid, locale in rows:
        if rng.random() > 0.66:
            continue
        good = rng.random() < 0.8
        text = comments[_lang(locale)][0 if good else 1] if rng.random() < 0.4 else ""
        _answer(ctx, sid, None, None, rating="good" if good else "bad", score=None, comment=text)
