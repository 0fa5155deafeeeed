"""Pure threading, loop and quoting rules (domain/mailthread.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paydesk.domain.mailthread import (
    ThreadClues,
    ack_allowed,
    decide_thread,
    make_message_id,
    make_reply_address,
    message_ids,
    noise_reason,
    retry_delay,
    split_quoted,
    tag_number,
    token_ticket,
)

SECRET = "s3cret"


def clues(**kw):  # type: ignore[no-untyped-def]
    base = {"token_values": [], "in_reply_to": [], "references": [], "subject": ""}
    return ThreadClues(**{**base, **kw})


def test_tokens_are_signed():
    mid = make_message_id(SECRET, 42, "abc123", "topay.example")
    assert token_ticket(SECRET, [f"<x@y> {mid}"]) == 42
    assert token_ticket("other-secret", [mid]) is None
    assert token_ticket(SECRET, [mid.replace(".42.", ".43.")]) is None
    addr = make_reply_address(SECRET, 7, "support@topay.example")
    assert addr.startswith("support+t7-") and token_ticket(SECRET, [addr.upper()]) == 7


def test_decide_thread_order_and_the_stranger_rule():
    owned = {1: True, 2: False}
    lookups = {
        "ticket_by_mid": {"<a@x>": 1, "<b@x>": 2}.get,
        "ticket_by_number": {10001: 1, 10002: 2}.get,
        "sender_owns": lambda tid: owned[tid],
    }
    tok = make_message_id(SECRET, 2, "n", "d")
    assert decide_thread(SECRET, clues(token_values=[tok]), **lookups).how == "token"
    m = decide_thread(SECRET, clues(in_reply_to=["<a@x>"], references=["<b@x>"]), **lookups)
    assert (m.ticket_id, m.how) == (1, "in-reply-to")
    # newest reference first; a foreign ticket's reference is refused, the next one used
    m = decide_thread(SECRET, clues(references=["<a@x>", "<b@x>"]), **lookups)
    assert (m.ticket_id, m.how, m.refused) == (1, "references", ["references"])
    m = decide_thread(SECRET, clues(subject="Re: [TOPAY #10002] hi"), **lookups)
    assert (m.ticket_id, m.how, m.refused) == (None, "new", ["subject-tag"])
    assert decide_thread(SECRET, clues(subject="[topay #10001]"), **lookups).ticket_id == 1


def test_noise_rules():
    own = ["support@topay.example"]
    assert noise_reason({"auto-submitted": "auto-replied"}, "a@x.com", own)
    assert noise_reason({"auto-submitted": "no"}, "a@x.com", own) is None
    assert noise_reason({"precedence": "junk"}, "a@x.com", own)
    assert noise_reason({"precedence": "first-class"}, "a@x.com", own) is None
    assert noise_reason({"x-autorespond": "1"}, "a@x.com", own)
    assert noise_reason({}, "SUPPORT@topay.example", own) == "from our own address"
    assert noise_reason({}, "mailer-daemon@mx.example", own) == "mail system message"


def test_ack_limit_and_backoff():
    now = datetime(2026, 11, 26, tzinfo=UTC)
    recent = [now - timedelta(minutes=m) for m in (1, 10, 59)]
    assert not ack_allowed(recent, now, 3, timedelta(hours=1))
    assert ack_allowed(recent[:2] + [now - timedelta(minutes=61)], now, 3, timedelta(hours=1))
    delays = [retry_delay(i).total_seconds() for i in range(1, 9)]
    assert delays == sorted(delays) and delays[0] == 30 and delays[-1] == 21600


def test_split_quoted_history():
    body = "Thanks, got it.\n\nOn Mon, 24 Nov 2026, TOPAY Support wrote:\n> Your refund was sent.\n"
    assert split_quoted(body) == (
        "Thanks, got it.",
        "On Mon, 24 Nov 2026, TOPAY Support wrote:\n> Your refund was sent.",
    )
    zh = "好的，谢谢。\n\n在 2026年11月24日 10:00，TOPAY Support 写道：\n> 已处理。"
    assert split_quoted(zh)[0] == "好的，谢谢。"
    outlook = "See below.\n\n-----Original Message-----\nFrom: x\nold text"
    assert split_quoted(outlook)[0] == "See below."
    assert split_quoted("> only a quote") == ("> only a quote", "")  # never hides everything
    assert split_quoted("no quote at all") == ("no quote at all", "")
    assert split_quoted("new\n> old\n> older\n")[1] == "> old\n> older"


def test_header_helpers():
    assert message_ids("<a@b>\r\n <c@d>") == ["<a@b>", "<c@d>"]
    assert message_ids("bare@id") == ["<bare@id>"]
    assert tag_number("Re: problem [ TOPAY # 10023 ]") == 10023
