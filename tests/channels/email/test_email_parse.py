"""The pure parser on real encoded fixtures (no database)."""

from __future__ import annotations

import time

import pytest

from paydesk.channels.email.charsets import decode_bytes, decode_header_value
from paydesk.channels.email.html import html_to_text
from paydesk.channels.email.parse import ParseError, ParseLimits, parse_email, quick_headers


def test_gb2312_label_with_gbk_characters_decodes_as_gb18030(eml):
    p = parse_email(eml("gb2312_label_gbk_text.eml"))
    assert "王镕喆" in p.body and p.body.endswith("堃")  # 镕 喆 堃 are not in GB2312
    assert p.subject == "转账未到账 王镕喆"
    assert p.from_name == "王镕喆" and p.from_addr == "wang.rz@example.cn"
    assert "\ufffd" not in p.body + p.subject
    [att] = p.attachments
    assert att.filename == "转账凭证镕.pdf" and att.data.startswith(b"%PDF")  # RFC 2231, GBK


def test_big5_quoted_printable(eml):
    p = parse_email(eml("big5.eml"))
    assert p.subject == "帳戶無法登入"
    assert "您好，我的帳戶無法登入，請協助處理。" in p.body


def test_unlabelled_8bit_gbk_body_and_raw_8bit_subject(eml):
    p = parse_email(eml("unlabelled_gbk.eml"))
    assert p.subject == "退款申请 王镕喆"
    assert p.body.startswith("我申请的退款一直没有到账")


def test_wrong_label_falls_back_to_detection(eml):
    p = parse_email(eml("wrong_label_gbk_as_utf8.eml"))
    assert p.body.startswith("充值了两百元，余额没有变化") and "\ufffd" not in p.body
    assert p.subject == "充值问题"


def test_html_only_becomes_text_and_keeps_html_for_sanitising(eml):
    p = parse_email(eml("html_only.eml"))
    assert "My top-up failed twice." in p.body
    assert "alert" not in p.body and "color:red" not in p.body
    assert "<https://topay.example/h>" in p.body
    assert "> Earlier: your case was opened" in p.body  # blockquote → quoted text
    assert p.body_html and "<p>" in p.body_html  # raw here; intake sanitises it with nh3


def test_nested_multiparts_inline_image_forward_and_rfc2231_continuations(eml):
    p = parse_email(eml("nested_attachments.eml"))
    assert p.body == "I got this mail, is it from you? 截图见附件。"
    names = {a.filename: a for a in p.attachments}
    assert set(names) == {"shot.png", "forwarded-message.eml", "invoice.exe", "银行回单.pdf"}
    assert names["forwarded-message.eml"].content_type == "message/rfc822"
    assert b"Send us your recovery phrase." in names["forwarded-message.eml"].data
    assert names["shot.png"].inline and names["shot.png"].data.startswith(b"\x89PNG")


def test_long_single_line_and_broken_boundary(eml):
    p = parse_email(eml("long_line.eml"))
    assert len(p.body.strip()) == 200_000
    p = parse_email(eml("broken_boundary.eml"))
    assert "My payment is stuck" in p.body  # unknown charset, bogus CTE, unclosed boundary


def test_no_sender_is_a_parse_error(eml):
    with pytest.raises(ParseError, match="no valid sender"):
        parse_email(eml("no_from.eml"))
    with pytest.raises(ParseError):
        parse_email(b"   \r\n")


def test_missing_date_and_message_id_are_fine():
    p = parse_email(b"From: a@example.com\r\n\r\nhello")
    assert p.message_id is None and p.date is None and p.body == "hello"


def test_dsn_bounce_is_recognised():
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: support@topay.example\r\nSubject: Undelivered\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: <topay.7.abc.0123456789abcdef@topay.example>\r\nSubject: Re: x\r\n"
        b"--r--\r\n"
    )
    p = parse_email(raw)
    assert p.bounce is not None
    assert p.bounce.original_message_ids == ["<topay.7.abc.0123456789abcdef@topay.example>"]
    assert p.bounce.status == "5.1.1" and p.bounce.action == "failed"
    assert p.bounce.recipient == "gone@example.com"


def test_oversized_text_is_truncated_and_attached():
    raw = b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + (
        "退款".encode() * 100_000
    )
    p = parse_email(raw, ParseLimits(max_body_bytes=30_000))
    assert len(p.body.encode()) < 31_000 and "truncated" in p.body
    assert p.attachments[-1].filename == "full-message.txt"
    assert len(p.attachments[-1].data) == 600_000


def test_nesting_bomb_is_bounded():
    depth = 400
    head = b"From: a@example.com\r\n"
    body = b""
    for i in range(depth):
        body += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    body += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    started = time.monotonic()
    try:
        p = parse_email(head + body, ParseLimits(max_depth=25))
        assert any("too deep" in n for n in p.notes)
    except ParseError as exc:
        assert "deep" in str(exc)
    assert time.monotonic() - started < 5


def test_twenty_megabyte_message_parses_quickly():
    import base64

    blob = base64.encodebytes(b"%PDF-1.4\n" + bytes(range(256)) * 58_000)  # ~20 MB encoded
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--x\r\nContent-Type: application/pdf; name=big.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--x--\r\n"
    )
    assert len(raw) > 20_000_000
    started = time.process_time()  # CPU time: the test machine is shared
    p = parse_email(raw)
    assert time.process_time() - started < 2.0  # bench/email_intake.py: < 1 s, and memory
    assert p.attachments[0].data == base64.decodebytes(blob)


def test_big_runs_cut_out_for_speed_are_restored_byte_for_byte():
    import base64

    data = bytes(range(256)) * 8000
    blob = base64.encodebytes(data).replace(b"\n", b"\r\n")
    text = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\r\n" * 3000
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\n"
        + text
        + b"--x\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"--x\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--x--\r\n"
    )
    assert len(raw) > 1_000_000  # above the cut-out threshold
    p = parse_email(raw)
    assert p.body.replace("\n", "\r\n") + "\r\n" == text.decode()  # a 7-bit text run
    assert p.attachments[0].data == data
    assert p.attachments[1].data.endswith(blob.rstrip(b"\r\n"))


def test_charset_rules():
    assert decode_bytes("镕".encode("gbk"), "GB2312") == ("镕", "gb18030")
    assert decode_bytes("€".encode("cp1252"), "iso-8859-1")[0] == "€"
    assert decode_bytes("中文".encode(), "x-unknown")[0] == "中文"
    assert (
        decode_header_value(
            "=?gb2312?B?" + __import__("base64").b64encode("镕".encode("gbk")).decode() + "?="
        )
        == "镕"
    )
    assert decode_header_value("=?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_ok?=") == "café ok"
    assert isinstance(decode_header_value("=?bogus?B?!!!?= =?utf-8?B?5p2O"), str)  # no exception


def test_html_to_text_drops_scripts_and_quotes_blockquotes():
    text = html_to_text(
        "<p>Hi<script>x()</script></p><blockquote><p>old</p></blockquote><ul><li>a</li></ul>"
    )
    assert "x()" not in text and "> old" in text and "- a" in text


def test_quick_headers_reads_only_the_head():
    raw = b"From: =?utf-8?B?5p2O5aic?= <li@example.cn>\r\nSubject: hi\r\n\r\n" + b"x" * 1000
    h = quick_headers(raw)
    assert h["from"] == "李娜 <li@example.cn>" and h["subject"] == "hi"


def test_remembered_mime_headers_are_what_the_stdlib_parses():
    """The parser's policy remembers parsed Content-Type/-Disposition/-Transfer-Encoding values;
    what it answers is what the stdlib's modern policy answers."""
    from email import policy

    from paydesk.channels.email.parse import _POLICY

    values = [
        ("Content-Type", 'multipart/mixed; boundary="b-outer"'),
        ("Content-Type", "text/plain; charset=gb2312;\r\n format=flowed; delsp=yes"),
        ("content-type", "application/pdf; name*=utf-8''%E9%93%B6%E8%A1%8C.pdf"),
        ("Content-Type", "text/plain; charset="),  # defective
        ("Content-Disposition", 'attachment; filename="receipt.pdf"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    for name, value in values:
        for _ in range(2):  # parsed, then remembered
            ours = _POLICY.header_fetch_parse(name, value)
            std = policy.default.header_fetch_parse(name, value)
            assert str(ours) == str(std) and type(ours).__name__ == type(std).__name__
            assert getattr(ours, "params", None) == getattr(std, "params", None)
            assert [type(d) for d in ours.defects] == [type(d) for d in std.defects]
    assert _POLICY.header_fetch_parse(*values[0]) is _POLICY.header_fetch_parse(*values[0])
