"""Email test servers on loopback: an aiosmtpd SMTP sink that captures (or refuses) what paydesk
sends, and a private Dovecot IMAP instance (see RECIPES.md)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from paydesk.channels.mailer import SmtpEmailSender
from paydesk.services.context import AppContext

FIXTURES = Path(__file__).parents[2] / "fixtures" / "email"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def eml() -> Any:
    """eml("big5.eml") → the raw bytes of a fixture."""
    return fixture_bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    """Captures every message; `refuse` holds SMTP replies to give DATA before accepting."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        self.envelopes.append(envelope)
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    sink = Sink()
    sink.port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=sink.port, server_hostname="mx.test")
    ctl.start()
    yield sink
    ctl.stop()


@pytest.fixture
def mail_ctx(ctx: AppContext, smtp_sink: Sink) -> AppContext:
    """The test context sending through the real SMTP adapter to the loopback sink."""
    ctx.mailer = SmtpEmailSender("127.0.0.1", smtp_sink.port, timeout=5.0)
    return ctx


# ---- Dovecot ----------------------------------------------------------------------------------


@dataclass
class Dovecot:
    port: int
    users: dict[str, str]
    base: Path
    taken: set[str] = field(default_factory=set)

    def add_user(self) -> tuple[str, str]:
        """A fresh, empty mailbox from the pool created at start (Dovecot caches passwd-file
        by mtime in seconds, so users added later may not be seen at once)."""
        user = next(u for u in self.users if u not in self.taken)
        self.taken.add(user)
        return user, self.users[user]


DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/users
  default_fields = uid=65534 gid=65534 home={base}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot on a free loopback port for this test session (one per xdist worker)."""
    exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
    base = Path(tempfile.mkdtemp(prefix="pd-dovecot-", dir="/tmp"))
    os.chmod(base, 0o755)
    port = free_port()
    users = {
        f"support-{i}-{uuid.uuid4().hex[:6]}@topay.example": uuid.uuid4().hex for i in range(64)
    }
    (base / "home").mkdir()
    (base / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
    conf = base / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(base=base, port=port))
    subprocess.run(["chown", "-R", "65534:65534", str(base / "home")], check=True)
    proc = subprocess.Popen([exe, "-F", "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    break
        except OSError:
            if proc.poll() is not None:
                log = (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited: {log}") from None
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("dovecot did not start")
    yield Dovecot(port, users, base)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(base, ignore_errors=True)
