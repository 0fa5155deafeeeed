"""Browser tests: a real paydesk server (uvicorn subprocess, SQLite), a real SMTP server capturing
outgoing mail (aiosmtpd), and Debian's chromium driven by Playwright.

Fixtures other browser tests use:
- `live_server` → `LiveServer` with `.url`, `.ctx` (an AppContext on the same database, to make
  data through the services), `.mail` (captured messages) and `.agent(email, password, role)`.
- `agent_login(page, live_server, email=..., password=...)` signs in through the login form.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from paydesk.services.bootstrap import prepare
from paydesk.services.context import AppContext, build_context
from paydesk.services.staff import create_agent
from paydesk.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AGENT_PASSWORD = "browser-test-password"
# these tests run beside the rest of the suite on 2 cores: an expectation may wait longer than
# Playwright's 5 s default for a busy live server (a failure still fails, only later)
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):  # type: ignore[no-untyped-def]
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Capture:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


class LiveServer:
    def __init__(self, url: str, ctx: AppContext, mail: _Capture) -> None:
        self.url = url
        self.ctx = ctx
        self._mail = mail

    @property
    def mail(self) -> list[EmailMessage]:
        return self._mail.messages

    def wait_for_mail(self, to: str, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in reversed(self.mail):
                if to in str(m.get("To", "")):
                    return m
            time.sleep(0.1)
        raise AssertionError(
            f"no mail to {to} within {timeout}s; got {[m['To'] for m in self.mail]}"
        )

    def agent(
        self,
        email: str,
        role: str = "agent",
        name: str = "Test Agent",
        queues: list[str] | None = None,
    ) -> str:
        create_agent(
            self.ctx,
            email=email,
            name=name,
            password=AGENT_PASSWORD,
            role=role,
            queues=queues or [],
        )
        return AGENT_PASSWORD


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    tmp = Path(tempfile.mkdtemp(prefix="paydesk-browser-"))
    capture = _Capture()
    smtp_port = free_port()
    smtp = Controller(capture, hostname="127.0.0.1", port=smtp_port, server_hostname="mx.test")
    smtp.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        {
            "PAYDESK_DATABASE_URL": f"sqlite:///{tmp}/paydesk.db",
            "PAYDESK_DATA_DIR": str(tmp / "data"),
            "PAYDESK_SECRET_KEY": "browser-tests",
            "PAYDESK_BASE_URL": url,
            "PAYDESK_SMTP_HOST": "127.0.0.1",
            "PAYDESK_SMTP_PORT": str(smtp_port),
            "PAYDESK_LOG_LEVEL": "warning",
        }
    )
    env.pop("PAYDESK_REDIS_URL", None)
    settings = Settings(
        database_url=env["PAYDESK_DATABASE_URL"],
        data_dir=tmp / "data",
        secret_key="browser-tests",
        base_url=url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    ctx = build_context(settings)
    prepare(ctx)
    ctx.extras["intent_model"].get()  # saves this process's trained model into the server's dir
    proc = subprocess.Popen(
        [sys.executable, "-m", "paydesk.cli", "serve", "--port", str(port)], env=env, cwd=ROOT
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("paydesk server exited during start")
            time.sleep(0.1)
        else:
            raise RuntimeError("paydesk server did not start")
        yield LiveServer(url, ctx, capture)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        smtp.stop()
        ctx.engine.dispose()


def agent_login(page, server: LiveServer, email: str, password: str = AGENT_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/agent/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/agent")


@pytest.fixture
def login():  # type: ignore[no-untyped-def]
    return agent_login
