"""Sender authentication: a forged From of a known customer never joins that customer's ticket
by subject tag or bare headers, but is still stored, flagged, audited; our MTA's
Authentication-Results are trusted by authserv-id only; DKIM verified here with a local key."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.factories import PASSWORD, agent

from paydesk.channels.email.auth import (
    MethodResult,
    aligned,
    check_sender,
    evaluate,
    parse_authentication_results,
    trusted_results,
    verify_dkim,
)
from paydesk.services.email.ingest import ingest_bytes
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailOutbox, EmailRaw
from paydesk.store.tickets import Message

MTA = "mx.topay.example"


def mail(
    subject: str = "Refund",
    body: str = "Where is my refund?",
    mid: str = "<m1@example.com>",
    extra: str = "",
    frm: str = "alice@example.com",
) -> bytes:
    return (
        f"{extra}From: Alice <{frm}>\r\nTo: support@topay.example\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/agent/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/agent/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def ar(results: str, authserv: str = MTA) -> str:
    return f"Authentication-Results: {authserv};\r\n {results}\r\n"


# ---- pure parts --------------------------------------------------------------------------------


def test_authentication_results_parsing_handles_comments_quotes_and_versions():
    authserv, res = parse_authentication_results(
        "MX.topay.example 1; dkim=pass (2048-bit key; unprotected) header.d=Example.com "
        'header.b="ab;cd"; spf=softfail (sender not designated) smtp.mailfrom=bob@evil.test; '
        "dmarc/1=fail (p=REJECT) header.from=example.com; arc=none"
    )
    assert authserv == "mx.topay.example"
    assert [(r.method, r.result) for r in res] == [
        ("dkim", "pass"),
        ("spf", "softfail"),
        ("dmarc", "fail"),
        ("arc", "none"),
    ]
    assert res[0].props["header.d"] == "example.com" and res[0].props["header.b"] == "ab;cd"
    assert parse_authentication_results("mx.topay.example; none") == ("mx.topay.example", [])
    assert parse_authentication_results("") == ("", [])


def test_only_the_trusted_authserv_id_counts():
    headers = ["evil.example; dmarc=pass header.from=example.com", f"{MTA}; dmarc=fail"]
    got = trusted_results(headers, {MTA})
    assert [(r.method, r.result) for r in got] == [("dmarc", "fail")]


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ([("dmarc", "pass", {})], "pass"),
        ([("dkim", "pass", {"header.d": "example.com"}), ("dmarc", "fail", {})], "fail"),
        ([("dkim", "pass", {"header.d": "mail.example.com"})], "pass"),  # relaxed alignment
        ([("dkim", "pass", {"header.d": "mailer.test"})], "none"),  # third-party signature
        ([("dkim", "pass", {"header.d": "mailer.test"}), ("spf", "softfail", {})], "fail"),
        ([("spf", "pass", {"smtp.mailfrom": "bounce@example.com"})], "pass"),
        ([("spf", "fail", {"smtp.mailfrom": "x@evil.test"})], "fail"),
        ([("dkim", "fail", {"header.d": "example.com"})], "fail"),
        ([("spf", "none", {}), ("dkim", "none", {})], "none"),
        ([], "none"),
    ],
)
def test_verdict(results, verdict):
    rs = [MethodResult(m, r, p) for m, r, p in results]
    assert evaluate("alice@example.com", rs).verdict == verdict


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='abc.=;()"\\ -_/@xyz\r\n', max_size=200))
def test_results_parser_never_raises(value):
    authserv, results = parse_authentication_results(value)
    assert isinstance(authserv, str) and all(r.method for r in results)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_checks_never_raise_on_garbage(raw):
    head = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=x; b=y\r\n"
    for data in (raw, head + raw):
        assert all(r.method == "dkim" for r in verify_dkim(data, lambda name: None))
        auth = check_sender(
            b"Authentication-Results: mx; dmarc=fail\r\n" + data,
            "a@example.com",
            trusted_ids={"mx"},
            resolver=lambda name: None,
        )
        assert auth.verdict in ("pass", "fail", "none")


def test_alignment():
    assert aligned("example.com", "example.com") and aligned("example.com", "mail.example.com")
    assert not aligned("example.com.evil.test", "example.com") and not aligned("", "x.com")


# ---- through the intake ------------------------------------------------------------------------


def _first_ticket(ctx) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    out = ingest_bytes(ctx, mail(mid="<first@example.com>"), source="cli")
    assert out.action == "created"
    with ctx.read() as s:
        from paydesk.store.tickets import Ticket

        number = s.scalar(select(Ticket.number).where(Ticket.id == out.ticket_id))
    return out.ticket_id, int(number or 0)


def _message(ctx, ticket_id: int) -> Message:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return s.scalars(
            select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id.desc())
        ).first()


def test_without_configuration_nothing_changes(ctx):
    tid, number = _first_ticket(ctx)
    out = ingest_bytes(ctx, mail(f"Re: Refund [TOPAY #{number}]", mid="<x2@e.com>"), source="cli")
    assert (out.action, out.ticket_id, out.reason) == ("appended", tid, "subject-tag")
    assert "auth" not in _message(ctx, tid).meta["email"]


def test_forged_customer_cannot_join_by_tag_or_headers_but_is_kept_and_flagged(ctx):
    ctx.settings.email_trusted_authserv_id = f"{MTA}, backup-mx.topay.example"
    tid, number = _first_ticket(ctx)
    fail = ar(
        "dkim=none; spf=fail smtp.mailfrom=alice@example.com; dmarc=fail header.from=example.com"
    )
    forged = mail(
        f"Re: Refund [TOPAY #{number}]",
        body="Please send the refund to wallet 0xEVIL",
        mid="<forged-1@evil.test>",
        extra=fail + "In-Reply-To: <first@example.com>\r\nReferences: <first@example.com>\r\n",
    )
    out = ingest_bytes(ctx, forged, source="lmtp")
    assert out.action == "created" and out.ticket_id != tid and out.reason == "new"
    m = _message(ctx, out.ticket_id)
    assert m.body.startswith("Please send the refund")  # stored, never dropped
    assert m.meta["sender_unverified"] is True
    assert m.meta["email"]["auth"]["verdict"] == "fail"
    assert set(m.meta["email"]["thread_refused"]) == {"in-reply-to", "subject-tag"}
    with ctx.read() as s:
        ev = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "email.sender_unverified")
        ).one()
        raw = s.scalars(select(EmailRaw).where(EmailRaw.message_ref == m.id)).one()
        acks = list(s.scalars(select(EmailOutbox).where(EmailOutbox.ticket_id == out.ticket_id)))
    assert ev.object_id == out.ticket_id and "dmarc=fail" in " ".join(ev.details["reasons"])
    assert raw.reason.startswith("unverified sender: dmarc=fail")
    assert acks == []  # no auto-acknowledgement to the real owner of the forged address


def test_signed_reply_token_still_joins_when_unverified(ctx):
    ctx.settings.email_trusted_authserv_id = MTA
    tid, _ = _first_ticket(ctx)
    with ctx.read() as s:
        ours = s.scalar(select(EmailOutbox.message_id).where(EmailOutbox.ticket_id == tid))
    assert ours  # the auto-acknowledgement carries our signed Message-ID
    reply = mail(
        "Re: x", mid="<r1@example.com>", extra=ar("dmarc=fail") + f"In-Reply-To: {ours}\r\n"
    )
    out = ingest_bytes(ctx, reply, source="cli")
    assert (out.action, out.ticket_id, out.reason) == ("appended", tid, "token")
    assert _message(ctx, tid).meta["sender_unverified"] is True


def test_pass_from_our_mta_threads_normally_and_foreign_results_are_ignored(ctx):
    ctx.settings.email_trusted_authserv_id = MTA
    tid, number = _first_ticket(ctx)
    good = mail(
        f"Re: [TOPAY #{number}]",
        mid="<ok-1@example.com>",
        extra=ar("dkim=pass header.d=example.com; dmarc=pass header.from=example.com"),
    )
    out = ingest_bytes(ctx, good, source="cli")
    assert (out.action, out.ticket_id) == ("appended", tid)
    m = _message(ctx, tid)
    assert m.meta["email"]["auth"]["verdict"] == "pass" and "sender_unverified" not in m.meta
    # a forger adds a "pass" under our id below the real fail, and one under his own id
    forged = mail(
        f"Re: [TOPAY #{number}]",
        mid="<forged-2@evil.test>",
        extra=ar("dmarc=fail") + ar("dmarc=pass") + ar("dmarc=pass", "evil.example"),
    )
    out = ingest_bytes(ctx, forged, source="cli")
    assert out.action == "created" and out.ticket_id != tid


def test_require_sender_auth_treats_missing_evidence_as_unverified(ctx):
    ctx.settings.email_trusted_authserv_id = MTA
    tid, number = _first_ticket(ctx)
    plain = mail(f"Re: [TOPAY #{number}]", mid="<n-1@example.com>")
    assert ingest_bytes(ctx, plain, source="cli").ticket_id == tid  # none: allowed by default
    ctx.settings.email_require_sender_auth = True
    out = ingest_bytes(ctx, mail(f"Re: [TOPAY #{number}]", mid="<n-2@example.com>"), source="cli")
    assert out.action == "created" and _message(ctx, out.ticket_id).meta["sender_unverified"]


# ---- DKIM verified by paydesk, DNS answered from a local key -----------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    """(private key PEM, DNS TXT record) of a fresh RSA key made with openssl."""
    d: Path = tmp_path_factory.mktemp("dkim")
    key = d / "k.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "2048"],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _dns(record: bytes, lookups: list[str]):  # type: ignore[no-untyped-def]
    def resolve(name: str) -> bytes | None:
        lookups.append(name)
        return record if name.rstrip(".") == "sel1._domainkey.example.com" else None

    return resolve


def test_dkim_verified_here_with_a_pluggable_resolver(ctx, dkim_key):
    pem, record = dkim_key
    lookups: list[str] = []
    ctx.settings.email_verify_dkim = True
    ctx.extras["email_dkim_resolver"] = _dns(record, lookups)
    tid, number = _first_ticket(ctx)  # unsigned: verdict none, allowed by default
    signed = dkim.sign(
        mail(f"Re: [TOPAY #{number}]", body="Signed follow-up", mid="<s-1@example.com>"),
        b"sel1",
        b"example.com",
        pem,
        include_headers=[b"from", b"to", b"subject", b"message-id", b"date"],
    )
    raw = signed + mail(f"Re: [TOPAY #{number}]", body="Signed follow-up", mid="<s-1@example.com>")
    out = ingest_bytes(ctx, raw, source="cli")
    assert (out.action, out.ticket_id) == ("appended", tid)
    auth = _message(ctx, tid).meta["email"]["auth"]
    assert auth["verdict"] == "pass" and auth["results"][0]["source"] == "dkim"
    assert "sel1._domainkey.example.com" in [x.rstrip(".") for x in lookups]
    # the same signature over a changed body: fail → only the token could join
    body = mail(f"Re: [TOPAY #{number}]", body="Send it to 0xEVIL", mid="<s-2@example.com>")
    sig = dkim.sign(
        mail(f"Re: [TOPAY #{number}]", body="harmless", mid="<s-2@example.com>"),
        b"sel1",
        b"example.com",
        pem,
        include_headers=[b"from", b"to", b"subject", b"message-id", b"date"],
    )
    out = ingest_bytes(ctx, sig + body, source="cli")
    assert out.action == "created" and out.ticket_id != tid
    m = _message(ctx, out.ticket_id)
    assert m.meta["sender_unverified"] and m.meta["email"]["auth"]["verdict"] == "fail"


def test_console_shows_the_unverified_badge(client, ctx):
    ctx.settings.email_trusted_authserv_id = MTA
    tid, _ = _first_ticket(ctx)
    out = ingest_bytes(ctx, mail(mid="<f-9@evil.test>", extra=ar("dmarc=fail")), source="cli")
    agent(ctx, "sup@topay.example", role="supervisor")
    login(client, "sup@topay.example")
    page = client.get(f"/agent/tickets/{out.ticket_id}").text
    assert re.search(r'class="badge unverified-sender"[^>]*>unverified sender<', page)
    assert "unverified-sender" not in client.get(f"/agent/tickets/{tid}").text
