from __future__ import annotations

import pytest

from paydesk.domain import tickets as t
from paydesk.domain.attachments import check_attachment, safe_filename, sniff_type
from paydesk.domain.classify import classify_category
from paydesk.domain.errors import InvalidInput, TooLarge, TransitionNotAllowed
from paydesk.domain.identities import IdentityKind, normalize
from paydesk.domain.routing import route
from paydesk.domain.text import detect_locale, tokens


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("new", "open", True),
        ("new", "solved", True),
        ("open", "pending", True),
        ("pending", "open", True),
        ("on-hold", "solved", True),
        ("solved", "open", True),
        ("solved", "closed", True),
        ("closed", "open", False),
        ("closed", "solved", False),
        ("solved", "pending", False),
        ("open", "new", False),
        ("pending", "pending", True),
    ],
)
def test_status_transitions(current: str, target: str, ok: bool) -> None:
    if ok:
        t.check_transition(t.Status(current), t.Status(target))
    else:
        with pytest.raises(TransitionNotAllowed):
            t.check_transition(t.Status(current), t.Status(target))


def test_customer_and_agent_messages_move_status() -> None:
    assert t.status_after_customer_message(t.Status.PENDING) == t.Status.OPEN
    assert t.status_after_customer_message(t.Status.SOLVED) == t.Status.OPEN
    assert t.status_after_customer_message(t.Status.NEW) == t.Status.NEW
    assert t.status_after_agent_reply(t.Status.OPEN) == t.Status.PENDING
    assert t.status_after_agent_reply(t.Status.ON_HOLD) == t.Status.ON_HOLD


def test_tags_normalised() -> None:
    assert t.normalize_tags([" VIP ", "vip", "", "refund  delay", "x" * 60]) == [
        "refund delay",
        "vip",
        "x" * 40,
    ]


@pytest.mark.parametrize(
    ("kind", "raw", "canonical"),
    [
        (IdentityKind.EMAIL, " Alice@Example.COM ", "alice@example.com"),
        (IdentityKind.PHONE, "138 0013 8000", "+8613800138000"),
        (IdentityKind.PHONE, "+44 (20) 7946-0958", "+442079460958"),
        (IdentityKind.PHONE, "0044 20 7946 0958", "+442079460958"),
    ],
)
def test_identity_normalisation(kind: IdentityKind, raw: str, canonical: str) -> None:
    assert normalize(kind, raw) == canonical


@pytest.mark.parametrize(
    "bad", ["nobody", "a@b", "a b@example.com", "x@-example.com", "@example.com"]
)
def test_invalid_email_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize(IdentityKind.EMAIL, bad)


@pytest.mark.parametrize("bad", ["12", "phone", "+1234567890123456", "１３８００１３８０００"])
def test_invalid_phone_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize(IdentityKind.PHONE, bad)


def test_filenames_and_types() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\收据 <1>.pdf") == "收据 _1_.pdf"
    assert safe_filename(".htaccess") == "htaccess"
    assert len(safe_filename("a" * 300 + ".pdf")) <= 120
    assert sniff_type(b"%PDF-1.7 ...") == "application/pdf"
    assert sniff_type(b"<html><script>alert(1)</script>", "image/png") == "text/html"
    with pytest.raises(InvalidInput):
        check_attachment("receipt.pdf", b"<svg onload=alert(1)>", "application/pdf", 100)
    with pytest.raises(InvalidInput):
        check_attachment("run.exe", b"hello", "text/plain", 100)
    with pytest.raises(TooLarge):
        check_attachment("big.txt", b"x" * 101, "text/plain", 100)
    assert check_attachment("note.txt", "你好".encode(), "text/plain", 100) == (
        "note.txt",
        "text/plain",
    )


def test_classification_routing_and_locale() -> None:
    assert classify_category("我要投诉你们的退款太慢") == t.Category.COMPLAINT
    assert classify_category("my refund has not arrived") == t.Category.TRANSACTIONS
    assert classify_category("I forgot my password and I'm locked out") == t.Category.ACCOUNT
    assert route(t.Category.TRANSACTIONS, "zh-CN") == "transactions-zh"
    assert route(t.Category.COMPLAINT, "en") == "complaints"
    assert route(t.Category.EDUCATION, "en") == "general-en"
    assert detect_locale("我的refund怎么还没到") == "zh-CN"
    assert detect_locale("Where is my refund?") == "en"
    toks = tokens("我的退款怎么还没到账 Refund TP123")
    assert "退款" in toks and "refund" in toks and "tp123" in toks
