"""The LMTP/SMTP receiver: 250 only after the message is committed, 451 when it could not be
stored (the sending server keeps it and retries), 552 above the hard size limit."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select

from paydesk.channels.email.receiver import make_controller
from paydesk.services.email.ingest import ingest_bytes
from paydesk.store.email import EmailRaw


def _receiver(ctx, port: int, lmtp: bool, max_bytes: int = 1_000_000):  # type: ignore[no-untyped-def]
    def deliver(raw: bytes, mail_from: str, rcpts: list[str]) -> None:
        ingest_bytes(ctx, raw, source="lmtp" if lmtp else "smtp")

    return make_controller(
        deliver,
        host="127.0.0.1",
        port=port,
        lmtp=lmtp,
        max_bytes=max_bytes,
        accept_domains=["topay.example"],
    )


def test_lmtp_answers_per_recipient_after_commit(ctx, eml):
    port = _port()
    ctl = _receiver(ctx, port, lmtp=True)
    ctl.start()
    try:
        with smtplib.LMTP("127.0.0.1", port, local_hostname="mx.test") as c:
            refused = c.sendmail(
                "bounce@mail.example.cn",
                ["support@topay.example", "help@topay.example"],
                eml("gb2312_label_gbk_text.eml"),
            )
            assert refused == {}
            # RFC 2033: one reply per recipient (smtplib reads only the first one itself)
            assert c.getreply()[0] == 250
            # the row exists the moment 250 came back
            with ctx.read() as s:
                [row] = list(s.scalars(select(EmailRaw)))
                assert row.status == "processed" and row.source == "lmtp"
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                c.sendmail("x@example.com", ["someone@elsewhere.example"], b"Subject: x\r\n\r\nx")
    finally:
        ctl.stop()


def test_smtp_temp_failure_when_the_mail_cannot_be_stored(ctx, tmp_path, eml):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    ctx.settings.data_dir = blocker / "data"
    port = _port()
    ctl = _receiver(ctx, port, lmtp=False)
    ctl.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.test") as c:
            with pytest.raises(smtplib.SMTPDataError) as err:
                c.sendmail("a@example.com", ["support@topay.example"], eml("big5.eml"))
            assert err.value.smtp_code == 451
    finally:
        ctl.stop()


def test_smtp_rejects_above_the_hard_limit(ctx):
    port = _port()
    ctl = _receiver(ctx, port, lmtp=False, max_bytes=10_000)
    ctl.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.test") as c:
            with pytest.raises(smtplib.SMTPException) as err:
                c.sendmail(
                    "a@example.com",
                    ["support@topay.example"],
                    b"Subject: x\r\n\r\n" + b"y" * 50_000,
                )
            assert "552" in str(err.value) or getattr(err.value, "smtp_code", 0) == 552
    finally:
        ctl.stop()


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
