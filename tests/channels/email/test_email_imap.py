"""IMAP polling against a real Dovecot on loopback: mail is flagged (or moved) only after it is
committed, a bad message is quarantined without blocking the rest, IDLE wakes the poller."""

from __future__ import annotations

import threading
import time

from imapclient import IMAPClient
from sqlalchemy import select

from paydesk.channels.email.imap import ImapConfig, ImapMailbox
from paydesk.services.email.poller import poll_once
from paydesk.store.email import EmailRaw
from paydesk.store.tickets import Ticket


def _client(dovecot, user, password):  # type: ignore[no-untyped-def]
    c = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    c.login(user, password)
    return c


def test_poll_ingests_flags_after_commit_and_quarantines_bad_mail(ctx, dovecot, eml):
    user, password = dovecot.add_user()
    c = _client(dovecot, user, password)
    for name in ("big5.eml", "no_from.eml", "gb2312_label_gbk_text.eml"):
        c.append("INBOX", eml(name))
    cfg = ImapConfig("127.0.0.1", dovecot.port, user, password, done_folder="Processed")
    with ImapMailbox(cfg) as box:
        assert len(box.pending()) == 3
        result = poll_once(ctx, box)
        assert [o.action for _, o in result.outcomes] == ["created", "ignored", "created"]
        assert result.outcomes[1][1].reason.startswith("quarantined")
        assert box.pending() == []
        # a second poll finds nothing: everything handled was flagged and moved
        assert poll_once(ctx, box).outcomes == []
    c.select_folder("INBOX")
    assert c.search(["ALL"]) == []
    c.select_folder("Processed")
    assert len(c.search(["SEEN"])) == 3
    c.logout()
    with ctx.read() as s:
        rows = list(s.scalars(select(EmailRaw).order_by(EmailRaw.id)))
        assert [r.status for r in rows] == ["processed", "quarantined", "processed"]
        assert all(r.source == "imap" and r.mailbox.startswith(user) for r in rows)
        subjects = sorted(s.scalars(select(Ticket.subject)))
    assert subjects == sorted(["帳戶無法登入", "转账未到账 王镕喆"])


def test_refetch_after_crash_is_deduplicated(ctx, dovecot, eml):
    """The poller died after the commit but before flagging: the refetch writes nothing new."""
    user, password = dovecot.add_user()
    c = _client(dovecot, user, password)
    c.append("INBOX", eml("big5.eml"))
    cfg = ImapConfig("127.0.0.1", dovecot.port, user, password)
    from paydesk.services.email.ingest import ingest_bytes

    with ImapMailbox(cfg) as box:
        uid, raw = next(box.fetch(box.pending()))
        assert ingest_bytes(ctx, raw, source="imap").action == "created"  # …then "crash"
    with ImapMailbox(cfg) as box:
        out = poll_once(ctx, box).outcomes
        assert [(o.action, o.reason) for _, o in out] == [("ignored", "duplicate")]
        assert box.pending() == []
    c.select_folder("INBOX")
    assert c.search(["SEEN"]) == [uid]
    c.logout()
    with ctx.read() as s:
        assert len(list(s.scalars(select(Ticket)))) == 1


def test_idle_wakes_on_new_mail(dovecot, eml):
    user, password = dovecot.add_user()
    cfg = ImapConfig("127.0.0.1", dovecot.port, user, password)
    with ImapMailbox(cfg) as box:
        assert box.supports_idle

        def deliver_later() -> None:
            time.sleep(0.3)
            c = _client(dovecot, user, password)
            c.append("INBOX", eml("big5.eml"))
            c.logout()

        t = threading.Thread(target=deliver_later)
        started = time.monotonic()
        t.start()
        box.wait(10.0)
        t.join()
        assert time.monotonic() - started < 5.0
        assert len(box.pending()) == 1


def test_poll_forever_picks_up_new_mail_and_stops(ctx, dovecot, eml):
    from paydesk.services.email.poller import poll_forever

    user, password = dovecot.add_user()
    cfg = ImapConfig("127.0.0.1", dovecot.port, user, password)
    stop = threading.Event()
    worker = threading.Thread(target=poll_forever, args=(ctx, stop, cfg, 1.0))
    worker.start()
    try:
        c = _client(dovecot, user, password)
        c.append("INBOX", eml("wrong_label_gbk_as_utf8.eml"))
        c.logout()
        deadline = time.monotonic() + 20
        subjects: list[str] = []
        while time.monotonic() < deadline and not subjects:
            time.sleep(0.2)
            with ctx.read() as s:
                subjects = list(s.scalars(select(Ticket.subject)))
        assert subjects == ["充值问题"]
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
