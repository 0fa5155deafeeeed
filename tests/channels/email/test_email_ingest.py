"""Email intake through the real pipeline on SQLite and PostgreSQL: durability, dedupe,
quarantine + replay, noise, threading rules, privacy of the raw source, oversize mail."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from tests import factories

from paydesk.domain.redaction import Redactor, default_redactor
from paydesk.services import intake
from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.email.replay import replay
from paydesk.store.email import EmailOutbox, EmailRaw
from paydesk.store.tickets import Attachment, Message, Ticket


def mail(
    frm: str = "alice@example.com",
    subject: str = "Refund",
    body: str = "Where is my refund?",
    mid: str | None = "<m1@example.com>",
    extra: str = "",
) -> bytes:
    head = f"From: {frm}\r\nTo: support@topay.example\r\nSubject: {subject}\r\n"
    if mid:
        head += f"Message-ID: {mid}\r\n"
    head += extra
    head += "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    return head.encode() + body.encode() + b"\r\n"


def count(ctx, model) -> int:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def raw_rows(ctx) -> list[EmailRaw]:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return list(s.scalars(select(EmailRaw).order_by(EmailRaw.id)))


def test_fixtures_become_tickets_with_sanitised_html_and_safe_attachments(ctx, eml):
    out = ingest_bytes(ctx, eml("html_only.eml"), source="cli")
    assert out.action == "created"
    with ctx.read() as s:
        m = s.scalars(select(Message).where(Message.ticket_id == out.ticket_id)).one()
        assert m.body_html and "<script" not in m.body_html and "onerror" not in m.body_html
        assert "My top-up failed twice." in m.body
    out = ingest_bytes(ctx, eml("nested_attachments.eml"), source="cli")
    with ctx.read() as s:
        m = s.scalars(select(Message).where(Message.ticket_id == out.ticket_id)).one()
        names = sorted(s.scalars(select(Attachment.filename).where(Attachment.message_id == m.id)))
    assert names == ["forwarded-message.eml", "shot.png", "银行回单.pdf"]
    assert "invoice.exe" in m.body and "not imported" in m.body  # visible, not silently dropped


def test_duplicate_delivery_writes_nothing_new(ctx):
    a = ingest_bytes(ctx, mail(), source="imap")
    b = ingest_bytes(ctx, mail(), source="lmtp")
    assert a.action == "created" and (b.action, b.reason, b.ticket_id) == (
        "ignored",
        "duplicate",
        a.ticket_id,
    )
    # without a Message-ID the content hash dedupes
    c = ingest_bytes(ctx, mail(mid=None, body="no id"), source="cli")
    d = ingest_bytes(ctx, mail(mid=None, body="no id"), source="cli")
    assert c.action == "created" and d.reason == "duplicate"
    assert count(ctx, Message) == 2 and count(ctx, EmailRaw) == 2


def test_quarantine_never_blocks_and_replay_after_a_fix(ctx, eml):
    class Broken:
        def find(self, text):  # type: ignore[no-untyped-def]
            raise RuntimeError("redaction rule crashed")

    good = ctx.redactor
    ctx.redactor = Redactor([*default_redactor().rules, Broken()])
    bad = ingest_bytes(ctx, mail(subject="", body="help"), source="cli")
    ctx.redactor = good
    nxt = ingest_bytes(ctx, eml("big5.eml"), source="cli")
    assert bad.action == "ignored" and bad.reason.startswith("quarantined: RuntimeError")
    assert nxt.action == "created"
    rows = raw_rows(ctx)
    assert rows[0].status == "quarantined" and "redaction rule crashed" in rows[0].error
    assert (ctx.settings.data_dir / rows[0].storage_key).exists()  # the raw is kept
    # no sender at all: quarantined, replay keeps it there (attempts counted)
    ingest_bytes(ctx, eml("no_from.eml"), source="cli")
    results = dict(replay(ctx))
    assert results[rows[0].id].action == "created"
    assert results[rows[0].id + 2].reason.startswith("quarantined: no valid sender")
    statuses = [(r.status, r.attempts) for r in raw_rows(ctx)]
    assert statuses == [("processed", 2), ("processed", 1), ("quarantined", 2)]


def test_noise_is_recorded_not_answered(ctx, eml):
    for name in ("autoreply.eml", "precedence_bulk.eml"):
        assert ingest_bytes(ctx, eml(name), source="cli").action == "ignored"
    own = ingest_bytes(ctx, mail(frm="support@topay.example", mid="<own@x>"), source="cli")
    ooo = ingest_bytes(ctx, mail(mid="<ooo@x>", extra="X-Autoreply: yes\r\n"), source="cli")
    assert own.reason == "from our own address" and ooo.reason.startswith("x-autoreply")
    assert count(ctx, Ticket) == 0 and count(ctx, EmailOutbox) == 0
    assert [r.status for r in raw_rows(ctx)] == ["ignored"] * 4


def test_auto_ack_is_rate_limited_per_sender(ctx):
    for i in range(5):
        ingest_bytes(ctx, mail(mid=f"<n{i}@x>", subject=f"question {i}"), source="cli")
    ingest_bytes(ctx, mail(frm="bob@example.com", mid="<b@x>"), source="cli")
    suppress = "X-Auto-Response-Suppress: All\r\n"
    ingest_bytes(ctx, mail(frm="carol@example.com", mid="<c@x>", extra=suppress), source="cli")
    with ctx.read() as s:
        acks = list(s.scalars(select(EmailOutbox.to_addr).where(EmailOutbox.kind == "ack")))
    assert sorted(acks) == ["alice@example.com"] * 3 + ["bob@example.com"]


def test_auto_ack_limit_holds_inside_one_intake_batch(ctx):
    """Acks are written with the batch's multi-row INSERT: mails of one sender that share an
    intake transaction count each other's pending acks."""
    committer = intake._committer(ctx)
    with committer._turn:  # hold the writer turn until all six wait in the queue: one batch
        threads = [
            threading.Thread(
                target=ingest_bytes,
                args=(ctx, mail(mid=f"<p{i}@x>", subject=f"question {i}")),
                kwargs={"source": "lmtp"},
            )
            for i in range(6)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(committer._queue) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(committer._queue) == 6
    for t in threads:
        t.join()
    assert count(ctx, Ticket) == 6
    with ctx.read() as s:
        acks = list(s.scalars(select(EmailOutbox.to_addr).where(EmailOutbox.kind == "ack")))
        raws = list(s.scalars(select(EmailRaw.status)))
    assert acks == ["alice@example.com"] * 3
    assert raws == ["processed"] * 6


def test_threading_by_headers_and_tag_only_for_the_tickets_customer(ctx):
    first = ingest_bytes(ctx, mail(), source="cli")
    with ctx.read() as s:
        number = s.scalar(select(Ticket.number).where(Ticket.id == first.ticket_id))
    reply = mail(
        mid="<m2@example.com>", subject="Re: Refund", extra="In-Reply-To: <m1@example.com>\r\n"
    )
    assert ingest_bytes(ctx, reply, source="cli").ticket_id == first.ticket_id
    refs = mail(mid="<m3@example.com>", extra="References: <zz@x> <m2@example.com> <yy@x>\r\n")
    out = ingest_bytes(ctx, refs, source="cli")
    assert (out.action, out.ticket_id, out.reason) == ("appended", first.ticket_id, "references")
    tagged = mail(mid="<m4@example.com>", subject=f"more info [TOPAY #{number}]")
    assert ingest_bytes(ctx, tagged, source="cli").reason == "subject-tag"
    # a stranger quoting the ticket number or a Message-ID gets a ticket of their own
    s1 = mail(frm="mallory@evil.example", mid="<s1@evil>", subject=f"Re: [TOPAY #{number}]")
    s2 = mail(
        frm="mallory@evil.example", mid="<s2@evil>", extra="In-Reply-To: <m1@example.com>\r\n"
    )
    o1, o2 = ingest_bytes(ctx, s1, source="cli"), ingest_bytes(ctx, s2, source="cli")
    assert o1.action == "created" and o1.ticket_id != first.ticket_id
    assert o2.ticket_id not in (first.ticket_id, None)
    with ctx.read() as s:
        assert s.scalar(select(func.count()).where(Message.ticket_id == first.ticket_id)) == 4


def test_reply_to_our_outgoing_mail_threads_by_signed_token(ctx, eml):
    created = ingest_bytes(ctx, mail(), source="cli")
    with ctx.read() as s:
        ack = s.scalars(select(EmailOutbox)).one()
    # the customer answers from another address: the signed token still threads it
    other = mail(
        frm="alice.work@corp.example", mid="<w1@corp>", extra=f"In-Reply-To: {ack.message_id}\r\n"
    )
    out = ingest_bytes(ctx, other, source="cli")
    assert (out.action, out.ticket_id, out.reason) == ("appended", created.ticket_id, "token")
    # a forged token (wrong signature) does not
    forged = ack.message_id.replace(ack.message_id.split(".")[3][:16], "0" * 16)
    bad = mail(frm="mallory@evil.example", mid="<f@evil>", extra=f"In-Reply-To: {forged}\r\n")
    assert ingest_bytes(ctx, bad, source="cli").ticket_id != created.ticket_id


def test_secret_in_mail_keeps_only_a_redacted_rendering(ctx):
    raw = mail(body="my card 4111 1111 1111 1111 was charged twice", mid="<card@x>")
    out = ingest_bytes(ctx, raw, source="cli")
    [row] = raw_rows(ctx)
    assert row.redacted and row.status == "processed" and row.message_ref
    stored = (ctx.settings.data_dir / row.storage_key).read_bytes()
    assert b"4111 1111 1111 1111" not in stored and b"[card" in stored
    originals = [p for p in (ctx.settings.data_dir / "mail").rglob("*") if p.is_file()]
    assert not any(b"4111 1111" in p.read_bytes() for p in originals)
    with ctx.read() as s:
        bodies = " ".join(s.scalars(select(Message.body)))  # other capabilities may add notes
        assert "4111" not in bodies.replace("1111 removed", "")
    assert out.action == "created"


def test_oversize_mail_gets_a_notice_and_a_visible_entry(ctx):
    ctx.settings.email_max_message_bytes = 5_000
    big = mail(body="x" * 20_000, mid="<big@x>", subject="screenshots")
    out = ingest_bytes(ctx, big, source="lmtp")
    assert out.action == "created" and out.reason.startswith("oversize")
    [row] = raw_rows(ctx)
    assert row.status == "oversize" and row.ticket_id == out.ticket_id and row.message_ref
    assert (ctx.settings.data_dir / row.storage_key).stat().st_size == len(big)
    with ctx.read() as s:
        body = s.scalars(select(Message.body)).one()
        notice = s.scalars(select(EmailOutbox)).one()
    assert (
        "larger than" in body and notice.kind == "notice" and notice.to_addr == "alice@example.com"
    )
    assert "Auto-Submitted: auto-replied" in notice.mime


def test_closed_ticket_reply_opens_a_follow_up(ctx):
    first = ingest_bytes(ctx, mail(), source="cli")
    _, admin = factories.agent(ctx, email="boss@topay.example", role="admin")
    from paydesk.services.tickets import update_ticket

    update_ticket(ctx, admin, first.ticket_id, {"status": "solved"})
    update_ticket(ctx, admin, first.ticket_id, {"status": "closed"})
    again = ingest_bytes(
        ctx, mail(mid="<m9@x>", extra="In-Reply-To: <m1@example.com>\r\n"), source="cli"
    )
    assert again.action == "created" and again.ticket_id != first.ticket_id
