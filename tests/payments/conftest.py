"""Payments fixtures: a real SMTP server (aiosmtpd) and a fake SMS gateway on loopback wired into
`ctx`, the fake platform HTTP server, and a sandbox ledger with Alice's history."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from paydesk.channels.mailer import SmtpEmailSender
from paydesk.channels.sms import HttpSmsSender
from paydesk.payments.demo_ledger import seed
from paydesk.services.auth import create_session
from paydesk.services.context import AppContext
from paydesk.store.ledger import LedgerTransaction
from tests.factories import ALICE, agent, ticket
from tests.fakes.platform_server import FakePlatform
from tests.fakes.sms_gateway import FakeSmsGateway

ALICE_PHONE = "+447700900123"
LINK_RE = re.compile(r"/verify/(\d+\.[0-9a-f]{32})")
QUEUES = [
    "general-zh",
    "account-zh",
    "transactions-zh",
    "complaints",
    "general-en",
    "account-en",
    "transactions-en",
    "technical",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, addr: str) -> list[Message]:
        return [m for m in self.messages if addr in str(m["To"])]

    def last_code(self, addr: str) -> str:
        return self._last(addr, rb"\b(\d{6})\b")

    def last_token(self, addr: str) -> str:
        return self._last(addr, LINK_RE.pattern.encode())

    def _last(self, addr: str, pattern: bytes) -> str:
        for m in reversed(self.to(addr)):
            body = m.get_payload(decode=True) if not m.is_multipart() else b""
            found = re.search(pattern, body or b"")
            if found:
                return found.group(1).decode()
        raise AssertionError(f"nothing matching {pattern!r} mailed to {addr}")


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=inbox.port, server_hostname="mx.test")
    ctl.start()
    yield inbox
    ctl.stop()


@pytest.fixture
def sms() -> Iterator[FakeSmsGateway]:
    gw = FakeSmsGateway()
    yield gw
    gw.stop()


@pytest.fixture
def pctx(ctx: AppContext, smtp: Inbox, sms: FakeSmsGateway) -> AppContext:
    """ctx with real SMTP delivery and the SMS gateway, and Alice's sandbox account."""
    ctx.mailer = SmtpEmailSender("127.0.0.1", smtp.port)
    ctx.extras["sms"] = HttpSmsSender(sms.url)
    seed(ctx.sessions, [(ALICE.name, ALICE.email, ALICE_PHONE, "en")])
    return ctx


@pytest.fixture
def platform_server() -> Iterator[FakePlatform]:
    fake = FakePlatform().start()
    yield fake
    fake.stop()


def alice_ticket(ctx: AppContext, body: str = "I was charged twice") -> int:
    return ticket(ctx, ALICE, body=body, phone=ALICE_PHONE).ticket_id


def duplicate_charge(ctx: AppContext) -> LedgerTransaction:
    with ctx.read() as s:
        row = s.scalars(
            select(LedgerTransaction)
            .where(LedgerTransaction.description.like("%duplicate charge%"))
            .order_by(LedgerTransaction.created_at)
        ).first()
        assert row is not None
        return row


def staff_client(client: Any, ctx: AppContext, role: str = "agent", email: str = "") -> Any:
    """The TestClient signed in as a new staff member (console cookie + CSRF header)."""
    from paydesk.services.auth import resolve_session

    a, actor = agent(
        ctx, email=email or f"{role}@topay.example", role=role, name=role.title(), queues=QUEUES
    )
    raw = create_session(ctx, agent_id=a.id, workspace_id=1)
    info = resolve_session(ctx, raw)
    assert info is not None
    client.cookies.set("pd_staff", raw)
    client.headers["X-CSRF-Token"] = info.csrf_token
    return actor


def enter_code(client: Any, token: str, code: str) -> Any:
    """What the customer does: open the link from the message and type the code."""
    page = client.get(f"/verify/{token}")
    assert page.status_code == 200, page.text
    # the anonymous double-submit token (also rendered into the form while one is shown)
    csrf = client.cookies.get("pd_csrf")
    assert csrf
    return client.post(f"/verify/{token}", data={"code": code, "csrf_token": csrf})
