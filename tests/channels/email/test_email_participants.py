"""Cc participants: recorded from inbound mail (customers resolved, strangers kept as
addresses, never our own addresses), copied on agent replies through a real SMTP sink, removable
and addable in the console (CSRF, audited), never a way to inject a header."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from tests import factories
from tests.factories import PASSWORD

from paydesk.channels.email import compose
from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.email.outbox import deliver_due
from paydesk.services.tickets import add_agent_message
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailOutbox
from paydesk.store.email_participants import EmailParticipant


def mail(
    frm: str = "alice@example.com",
    mid: str = "<c1@example.com>",
    cc: str = "",
    to: str = "support@topay.example",
    extra: str = "",
    subject: str = "Refund",
) -> bytes:
    head = f"From: Alice <{frm}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
    if cc:
        head += f"Cc: {cc}\r\n"
    return (head + extra + "Content-Type: text/plain; charset=utf-8\r\n\r\nHelp\r\n").encode()


def participants(ctx, ticket_id: int) -> dict[str, EmailParticipant]:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        rows = s.scalars(select(EmailParticipant).where(EmailParticipant.ticket_id == ticket_id))
        return {p.address: p for p in rows}


def _setup(ctx) -> int:  # type: ignore[no-untyped-def]
    # carol is a known customer (she wrote in before); bob is a stranger
    ingest_bytes(ctx, mail(frm="carol@example.org", mid="<carol-0@example.org>"), source="cli")
    out = ingest_bytes(
        ctx,
        mail(
            cc='"Bob B." <Bob@Example.net>, carol@example.org, support@topay.example, '
            "support+t9-0123456789abcdef@topay.example, alice@example.com",
            to="support@topay.example, dave@example.net",
        ),
        source="cli",
    )
    assert out.action == "created"
    return out.ticket_id


def test_cc_addresses_become_participants_customers_resolved_ours_never(ctx):
    tid = _setup(ctx)
    ps = participants(ctx, tid)
    assert set(ps) == {"bob@example.net", "carol@example.org", "dave@example.net"}
    assert ps["bob@example.net"].customer_id is None and ps["bob@example.net"].source == "cc"
    assert ps["dave@example.net"].source == "to"
    with ctx.read() as s:
        from paydesk.store.customers import CustomerIdentity

        carol = s.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.value == "carol@example.org"
            )
        )
        ev = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "email.participants_added")
        ).one()
    assert ps["carol@example.org"].customer_id == carol
    assert sorted(ev.details["addresses"]) == sorted(ps)
    # the same Cc again adds nothing
    ingest_bytes(
        ctx,
        mail(mid="<c2@example.com>", cc="bob@example.net", subject="Re: Refund"),
        source="cli",
    )
    assert len(participants(ctx, tid)) == 3


def test_agent_reply_goes_to_the_customer_with_participants_in_cc(mail_ctx, smtp_sink):
    ctx = mail_ctx
    tid = _setup(ctx)
    _, agent = factories.agent(ctx, role="supervisor")
    deliver_due(ctx)  # acknowledgements
    smtp_sink.messages.clear()
    smtp_sink.envelopes.clear()
    add_agent_message(ctx, agent, tid, "We are checking your refund.")
    assert deliver_due(ctx) == 1
    sent = smtp_sink.messages[-1]
    assert sent["To"] == "alice@example.com"
    cc = {a.strip() for a in str(sent["Cc"]).split(",")}
    assert cc == {"bob@example.net", "carol@example.org", "dave@example.net"}
    rcpts = set(smtp_sink.envelopes[-1].rcpt_tos)
    assert rcpts == {
        "alice@example.com",
        "bob@example.net",
        "carol@example.org",
        "dave@example.net",
    }
    assert not any("topay.example" in r for r in rcpts)


def test_participant_reply_joins_and_the_customer_stays_in_to(mail_ctx, smtp_sink):
    ctx = mail_ctx
    tid = _setup(ctx)
    _, agent = factories.agent(ctx, role="supervisor")
    # Bob answers Alice's mail (reply-all, bare In-Reply-To): a participant may join the thread
    out = ingest_bytes(
        ctx,
        mail(
            frm="bob@example.net",
            mid="<bob-1@example.net>",
            cc="alice@example.com",
            extra="In-Reply-To: <c1@example.com>\r\n",
            subject="Re: Refund",
        ),
        source="cli",
    )
    assert (out.action, out.ticket_id, out.reason) == ("appended", tid, "in-reply-to")
    # a stranger doing the same does not
    other = ingest_bytes(
        ctx,
        mail(
            frm="eve@evil.test", mid="<eve-1@evil.test>", extra="In-Reply-To: <c1@example.com>\r\n"
        ),
        source="cli",
    )
    assert other.ticket_id != tid
    deliver_due(ctx)
    smtp_sink.messages.clear()
    add_agent_message(ctx, agent, tid, "Thanks Bob, noted.")
    deliver_due(ctx)
    sent = smtp_sink.messages[-1]
    assert sent["To"] == "alice@example.com" and "bob@example.net" in str(sent["Cc"])


def test_unverified_sender_adds_nobody(ctx):
    ctx.settings.email_trusted_authserv_id = "mx.topay.example"
    out = ingest_bytes(
        ctx,
        mail(
            cc="attacker@evil.test",
            extra="Authentication-Results: mx.topay.example; dmarc=fail\r\n",
        ),
        source="cli",
    )
    assert out.action == "created" and participants(ctx, out.ticket_id) == {}


def test_compose_never_lets_an_address_inject_a_header():
    o = compose.Outgoing(
        from_addr="TOPAY Support <support@topay.example>",
        to="alice@example.com",
        cc=[
            "ok@example.net",
            "evil@example.net\r\nBcc: victim@example.org",
            "a@example.net, b@example.net",
            '"Name" <x@example.net>',
            "OK@example.net",
        ],
        subject="Re: x",
        text="hi",
        message_id="<m@topay.example>",
        date=datetime(2026, 11, 26, tzinfo=UTC),
    )
    mime = compose.render(o)
    head = mime.split("\r\n\r\n", 1)[0]
    assert re.search(r"^Cc: ok@example\.net\r?$", head, re.MULTILINE)
    assert "Bcc" not in mime and "victim" not in mime and "b@example.net" not in mime
    assert "x@example.net" not in mime


def _login(client, email: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/agent/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/agent/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    meta = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/agent").text)
    assert meta
    return meta.group(1)


def test_console_lists_removes_and_adds_participants(client, ctx):
    tid = _setup(ctx)
    factories.agent(ctx, "sup@topay.example", role="supervisor")
    csrf = _login(client, "sup@topay.example")
    page = client.get(f"/agent/tickets/{tid}").text
    assert 'id="email-participants"' in page and "bob@example.net" in page
    assert "(not a customer)" in page and "/agent/email/participants.js" in page
    bob = participants(ctx, tid)["bob@example.net"]
    url = f"/agent/email/tickets/{tid}/participants/{bob.id}/remove"
    assert client.post(url, data={"csrf_token": "wrong"}).status_code == 403
    r = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert participants(ctx, tid)["bob@example.net"].active is False
    page = client.get(f"/agent/tickets/{tid}").text
    assert "<s>bob@example.net</s>" in page
    # the next reply leaves Bob out
    _, agent = factories.agent(ctx, role="supervisor")
    add_agent_message(ctx, agent, tid, "Update for you.")
    with ctx.read() as s:
        mime = s.scalars(
            select(EmailOutbox.mime)
            .where(EmailOutbox.ticket_id == tid, EmailOutbox.kind == "reply")
            .order_by(EmailOutbox.id.desc())
        ).first()
    assert mime and "bob@example.net" not in mime and "carol@example.org" in mime
    # add: validated, our own address and injection refused with a JSON 4xx
    add = f"/agent/email/tickets/{tid}/participants"
    for bad in ("x@y.com\r\nBcc: z@w.com", "support@topay.example", "not an address"):
        r = client.post(add, data={"csrf_token": csrf, "address": bad})
        assert r.status_code in (400, 422) and "error" in r.json()
    r = client.post(add, data={"csrf_token": csrf, "address": "Erin@Example.net"})
    assert r.status_code in (200, 303)
    assert participants(ctx, tid)["erin@example.net"].source == "agent"
    assert (
        client.post(
            f"/agent/email/tickets/{tid}/participants/999999/remove", data={"csrf_token": csrf}
        ).status_code
        == 404
    )
    with ctx.read() as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert "email.participant_removed" in actions and "email.participant_added" in actions


def test_erasure_removes_the_customers_mail_copies_and_participant_rows(ctx):
    from paydesk.services.actors import system_actor
    from paydesk.services.dsr import erase_customer
    from paydesk.store.customers import CustomerIdentity
    from paydesk.store.email import EmailRaw

    # carol wrote about a crash (erasable); alice's refund ticket (held by law) copies carol
    crash = mail(frm="carol@example.org", mid="<carol-0@example.org>", subject="App crash")
    ingest_bytes(ctx, crash, source="cli")
    out = ingest_bytes(ctx, mail(cc="carol@example.org, bob@example.net"), source="cli")
    tid = out.ticket_id
    with ctx.read() as s:
        ids = {
            r.value: r.customer_id
            for r in s.execute(select(CustomerIdentity.value, CustomerIdentity.customer_id))
        }
        rows = s.execute(select(EmailRaw.from_addr, EmailRaw.storage_key)).all()
        raw_keys = {r[0]: r[1] for r in rows}
    assert "carol@example.org" in participants(ctx, tid)
    carol_file = ctx.settings.data_dir / raw_keys["carol@example.org"]
    assert carol_file.exists()

    res = erase_customer(ctx, system_actor(), ids["carol@example.org"], "DSR-7")
    assert res.email_participants_removed == 1 and res.raw_emails_erased == 1
    # carol no longer appears on alice's ticket; bob (a stranger) still does
    left = participants(ctx, tid)
    assert "carol@example.org" not in left and "bob@example.net" in left
    with ctx.read() as s:
        froms = set(s.scalars(select(EmailRaw.from_addr)))
    assert "carol@example.org" not in froms and "alice@example.com" in froms
    assert not carol_file.exists()
    # alice's refund mail is under a retention hold: erasing her keeps that raw message
    res = erase_customer(ctx, system_actor(), ids["alice@example.com"], "DSR-8")
    assert res.tickets_held and res.raw_emails_erased == 0
    assert (ctx.settings.data_dir / raw_keys["alice@example.com"]).exists()
