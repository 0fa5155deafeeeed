"""format=flowed (RFC 3676): soft breaks joined, space-stuffing removed, quote depth kept — in
the parser, and in what the intake stores and the console folds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from paydesk.channels.email.flowed import unflow
from paydesk.channels.email.parse import parse_email
from paydesk.domain.mailthread import split_quoted
from paydesk.services.email.ingest import ingest_bytes
from paydesk.store.tickets import Message


def test_soft_breaks_join_and_hard_breaks_stay():
    text = "one two \r\nthree\r\nfour\r\n"
    assert unflow(text) == "one two three\nfour\n"


def test_space_stuffing_and_signature_separator():
    text = " From the app \r\nI see an error.\r\n -- not a sig\r\n-- \r\nAlice\r\n"
    # the stuffed space before "From"/"--" is removed; "-- " itself is a hard line
    assert unflow(text) == "From the app I see an error.\n-- not a sig\n-- \nAlice\n"


def test_quote_depth_is_kept_and_never_joined_across_depths():
    text = "> quoted soft \r\n> end\r\n>> deeper \r\n>> text\r\n> back \r\nnew paragraph\r\n"
    assert unflow(text) == "> quoted soft end\n>> deeper text\n> back\nnew paragraph\n"


def test_delsp_removes_the_soft_space():
    assert unflow("中文一 \r\n中文二\r\n", delsp=True) == "中文一中文二\n"
    assert unflow("中文一 \r\n中文二\r\n", delsp=False) == "中文一 中文二\n"


def test_last_line_soft_and_empty_input():
    assert unflow("") == ""
    assert unflow("tail ") == "tail "


@given(st.lists(st.text(alphabet="abc xyz中文.", max_size=30), max_size=8))
def test_fixed_text_without_trailing_spaces_is_unchanged(lines):
    clean = [ln.rstrip(" ").lstrip(" ") for ln in lines]
    text = "\n".join(clean)
    assert unflow(text) == text


def test_parser_unwraps_flowed_thunderbird_mail(eml):
    p = parse_email(eml("flowed_thunderbird.eml"))
    assert (
        "Hello, I tried to top up my wallet with my bank card this morning and the payment "
        "failed twice, but the money was taken from my bank account both times." in p.body
    )
    assert "Transaction numbers:\nTX-1001\nTX-1002" in p.body  # hard breaks kept
    assert "\nFrom the app I only see an error message." in p.body  # un-stuffed
    assert (
        "> Thank you for contacting TOPAY support. Please send us the transaction numbers "
        "so we can check them.\n>\n>> Earlier: my top-up did not arrive." in p.body
    )
    assert p.body.rstrip().endswith("-- \nAlice")
    new, quoted = split_quoted(p.body)
    assert "TX-1002" in new and quoted.startswith("On 2026-11-23")


def test_parser_delsp_yes_in_base64_utf8(eml):
    p = parse_email(eml("flowed_delsp_utf8.eml"))
    assert p.body.strip() == (
        "您好，我今天早上用银行卡给钱包充值，支付失败了两次，但是银行卡被扣款了两次。请帮我查一下。"
    )


def test_plain_text_without_format_flowed_is_left_alone():
    raw = (
        b"From: a@example.com\r\nTo: support@topay.example\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nline one \r\nline two\r\n"
    )
    assert parse_email(raw).body.rstrip("\n") == "line one \nline two"


def test_stored_body_is_unwrapped(ctx, eml):
    out = ingest_bytes(ctx, eml("flowed_thunderbird.eml"), source="cli")
    assert out.action == "created"
    with ctx.read() as s:
        body = s.scalars(select(Message.body).where(Message.ticket_id == out.ticket_id)).one()
    assert "the payment failed twice, but the money was taken" in body
    assert ">> Earlier: my top-up did not arrive." in body
