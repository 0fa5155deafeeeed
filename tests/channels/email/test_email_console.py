"""The email conversation in the agent console: quoted history folded, attachments downloadable,
delivery state shown, original source for supervisors only (audited), intake problems page."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.factories import PASSWORD, agent

from paydesk.services.email.ingest import ingest_bytes
from paydesk.services.staff import DEFAULT_QUEUES
from paydesk.store.audit import AuditEvent
from paydesk.store.email import EmailRaw
from paydesk.store.tickets import Attachment, Message


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/agent/login")
    r = client.post(
        "/agent/login",
        data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_timeline_folds_quotes_links_source_and_downloads(client, ctx, eml):
    first = ingest_bytes(ctx, eml("gb2312_label_gbk_text.eml"), source="cli")
    quoted = ingest_bytes(ctx, eml("reply_quoted.eml"), source="cli")
    agent(ctx, "sup@topay.example", role="supervisor")
    login(client, "sup@topay.example")
    page = client.get(f"/agent/tickets/{quoted.ticket_id}").text
    assert '<details class="quoted">' in page and "好的，我已经收到了，谢谢。" in page
    with ctx.read() as s:
        mid = s.scalar(select(Message.id).where(Message.ticket_id == first.ticket_id))
        att = s.scalars(select(Attachment).where(Attachment.message_id == mid)).one()
    page = client.get(f"/agent/tickets/{first.ticket_id}").text
    assert f'href="/agent/email/messages/{mid}/source"' in page
    assert f'href="/agent/attachments/{att.id}"' in page and "转账凭证镕.pdf" in page
    dl = client.get(f"/agent/attachments/{att.id}")
    assert dl.status_code == 200 and dl.content.startswith(b"%PDF")
    assert "attachment;" in dl.headers["content-disposition"]
    src = client.get(f"/agent/email/messages/{mid}/source")
    assert src.status_code == 200 and src.headers["content-security-policy"] == "sandbox"
    assert "Message-ID: <gbk-001@mail.example.cn>" in src.text
    raw = client.get(f"/agent/email/messages/{mid}/source?download=1")
    assert raw.content == eml("gb2312_label_gbk_text.eml")  # byte-identical original
    with ctx.read() as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert actions.count("email.source_viewed") == 2


def test_source_is_for_supervisors_only(client, ctx, eml):
    out = ingest_bytes(ctx, eml("big5.eml"), source="cli")
    agent(ctx, "agent@topay.example", role="agent", queues=[q[0] for q in DEFAULT_QUEUES])
    login(client, "agent@topay.example")
    with ctx.read() as s:
        mid = s.scalar(select(Message.id).where(Message.ticket_id == out.ticket_id))
    r = client.get(f"/agent/email/messages/{mid}/source", headers={"accept": "application/json"})
    assert r.status_code in (403, 404)
    assert "/source" not in client.get(f"/agent/tickets/{out.ticket_id}").text


def test_problems_page_lists_quarantine_and_replays(client, ctx, eml):
    ingest_bytes(ctx, eml("no_from.eml"), source="cli")
    ingest_bytes(ctx, eml("autoreply.eml"), source="cli")
    agent(ctx, "sup@topay.example", role="supervisor")
    login(client, "sup@topay.example")
    page = client.get("/agent/email")
    assert page.status_code == 200
    assert "no valid sender address" in page.text and "Auto-Submitted" in page.text
    with ctx.read() as s:
        qid = s.scalar(select(EmailRaw.id).where(EmailRaw.status == "quarantined"))
    assert client.get(f"/agent/email/raw/{qid}/source").text.startswith("To: support@topay.example")
    r = client.post(
        f"/agent/email/raw/{qid}/replay",
        data={"csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.read() as s:
        assert s.scalar(select(EmailRaw.attempts).where(EmailRaw.id == qid)) == 2
    bad = client.post(f"/agent/email/raw/{qid}/replay", data={"csrf_token": "nope"})
    assert bad.status_code == 403
