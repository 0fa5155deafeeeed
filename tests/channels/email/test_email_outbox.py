"""Outbound mail through the real SMTP adapter to an aiosmtpd sink on loopback: headers that
thread, bilingual text + HTML, retries with backoff, permanent failures, bounces, and the
customer's answer coming back into the same ticket."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests import factories

from paydesk.domain.mailthread import subject_tag
from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.email.outbox import deliver_due
from paydesk.services.tickets import add_agent_message
from paydesk.store.base import utcnow
from paydesk.store.email import EmailOutbox
from paydesk.store.tickets import Message, Ticket


def inbound(frm: str = "li.na@example.cn", mid: str = "<q1@example.cn>", extra: str = "") -> bytes:
    return (
        f"From: 李娜 <{frm}>\r\nTo: support@topay.example\r\nSubject: 退款还没到账\r\n"
        f"Message-ID: {mid}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "我的退款还没有到账，订单 TP20260001。\r\n"
    ).encode()


def _ticket_and_agent(ctx):  # type: ignore[no-untyped-def]
    out = ingest_bytes(ctx, inbound(), source="cli")
    _, agent = factories.agent(ctx, role="supervisor")
    return out.ticket_id, agent


def _outbox(ctx, kind: str | None = None) -> list[EmailOutbox]:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        stmt = select(EmailOutbox).order_by(EmailOutbox.id)
        if kind:
            stmt = stmt.where(EmailOutbox.kind == kind)
        return list(s.scalars(stmt))


def _state(ctx, message_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return s.scalar(select(Message.delivery_status).where(Message.id == message_id))


def test_agent_reply_is_sent_with_threading_headers_and_both_parts(mail_ctx, smtp_sink):
    ctx = mail_ctx
    ticket_id, agent = _ticket_and_agent(ctx)
    msg = add_agent_message(ctx, agent, ticket_id, "您好，退款已经处理，请留意到账。")
    assert _state(ctx, msg.id) == "queued"
    add_agent_message(ctx, agent, ticket_id, "internal: checked ledger", internal=True)
    assert deliver_due(ctx) == 2  # the auto-ack and the reply; the note is never mailed
    assert _state(ctx, msg.id) == "sent"
    ack, reply = smtp_sink.messages
    with ctx.read() as s:
        number = s.scalar(select(Ticket.number).where(Ticket.id == ticket_id))
    assert ack["Auto-Submitted"] == "auto-replied" and subject_tag(number) in ack["Subject"]
    assert reply["To"] == "li.na@example.cn"
    assert reply["Subject"] == f"Re: 退款还没到账 {subject_tag(number)}"
    assert reply["In-Reply-To"] == "<q1@example.cn>"
    assert reply["References"].split() == ["<q1@example.cn>", ack["Message-ID"]]
    assert reply["Message-ID"].startswith(f"<topay.{ticket_id}.")
    assert "Auto-Submitted" not in reply
    text = reply.get_body(("plain",)).get_content()
    html = reply.get_body(("html",)).get_content()
    assert "退款已经处理" in text and "绝不会向您索要密码" in text
    assert "退款已经处理" in html and html.lstrip().startswith("<!doctype html>")
    # the customer's answer to the reply threads back by the signed token
    answer = inbound(mid="<q2@example.cn>", extra=f"In-Reply-To: {reply['Message-ID']}\r\n")
    out = ingest_bytes(ctx, answer, source="cli")
    assert (out.action, out.ticket_id, out.reason) == ("appended", ticket_id, "token")


def test_temporary_failures_retry_with_backoff_then_send(mail_ctx, smtp_sink):
    ctx = mail_ctx
    ticket_id, agent = _ticket_and_agent(ctx)
    deliver_due(ctx)  # the ack
    smtp_sink.refuse = ["451 4.3.0 try later"]
    msg = add_agent_message(ctx, agent, ticket_id, "Your refund is on the way.")
    started = utcnow()
    assert deliver_due(ctx) == 0
    [row] = [r for r in _outbox(ctx, "reply")]
    assert row.status == "queued" and row.attempts == 1 and "451" in row.last_error
    assert row.next_attempt_at >= started + timedelta(seconds=25)
    assert _state(ctx, msg.id) == "retrying"
    assert deliver_due(ctx) == 0  # not due yet
    with ctx.uow() as uow:
        uow.session.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    assert deliver_due(ctx) == 1
    assert _state(ctx, msg.id) == "sent" and len(smtp_sink.messages) == 2


def test_permanent_failure_and_exhausted_retries_fail_the_message(mail_ctx, smtp_sink):
    ctx = mail_ctx
    ticket_id, agent = _ticket_and_agent(ctx)
    deliver_due(ctx)
    smtp_sink.refuse = ["550 5.1.1 mailbox unavailable"]
    msg = add_agent_message(ctx, agent, ticket_id, "hello")
    deliver_due(ctx)
    assert _state(ctx, msg.id) == "failed"
    assert [r.status for r in _outbox(ctx, "reply")] == ["failed"]
    ctx.settings.email_max_attempts = 2
    smtp_sink.refuse = ["421 busy", "421 busy"]
    msg2 = add_agent_message(ctx, agent, ticket_id, "second try")
    deliver_due(ctx)
    with ctx.uow() as uow:
        uow.session.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    deliver_due(ctx)
    assert _state(ctx, msg2.id) == "failed"


def test_unreachable_smtp_server_is_retried(ctx):
    import socket

    from paydesk.channels.mailer import SmtpEmailSender

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx.mailer = SmtpEmailSender("127.0.0.1", port, timeout=2.0)
    ticket_id, agent = _ticket_and_agent(ctx)
    msg = add_agent_message(ctx, agent, ticket_id, "hello")
    assert deliver_due(ctx) == 0
    assert _state(ctx, msg.id) == "retrying"
    assert {r.status for r in _outbox(ctx)} == {"queued"}
    assert all("ConnectionRefused" in r.last_error for r in _outbox(ctx))


def test_dsn_bounce_marks_the_outgoing_message_failed(mail_ctx, smtp_sink):
    ctx = mail_ctx
    ticket_id, agent = _ticket_and_agent(ctx)
    msg = add_agent_message(ctx, agent, ticket_id, "Please confirm your order number.")
    deliver_due(ctx)
    reply = smtp_sink.messages[-1]
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.cn>\r\nTo: support@topay.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.cn>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.cn\r\n\r\n"
        "Final-Recipient: rfc822; li.na@example.cn\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n"
        f"--B\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {reply['Message-ID']}\r\n"
        "Subject: x\r\n\r\nbody\r\n--B--\r\n"
    ).encode()
    out = ingest_bytes(ctx, dsn, source="lmtp")
    assert out.action == "ignored" and out.reason.startswith("bounce: outbox #")
    assert _state(ctx, msg.id) == "failed"
    with ctx.read() as s:
        meta = s.scalar(select(Message.meta).where(Message.id == msg.id))
        assert "5.2.2" in meta["delivery_error"]
        assert s.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "pending"


def test_delivery_state_changes_reach_open_consoles(mail_ctx, smtp_sink):
    import asyncio

    ctx = mail_ctx
    ticket_id, agent = _ticket_and_agent(ctx)
    msg = add_agent_message(ctx, agent, ticket_id, "On its way.")

    async def watch() -> list[dict]:  # type: ignore[type-arg]
        sub = ctx.bus.subscribe(f"ticket:{ticket_id}")
        try:
            await asyncio.to_thread(deliver_due, ctx)
            seen = []
            while not any(e.get("message_id") == msg.id for e in seen):
                seen.append(await sub.get(timeout=5))
            return seen
        finally:
            sub.close()

    events = asyncio.run(watch())
    ev = [e for e in events if e.get("message_id") == msg.id][0]
    assert ev["type"] == "TicketUpdated" and list(ev["fields"]) == ["delivery_status"]
    assert ev["ticket_id"] == ticket_id
