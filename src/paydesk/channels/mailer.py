"""Outgoing mail transport. `EmailSender` is the port; SMTP for real, a file sink for the demo."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class EmailSender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpEmailSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(
            self.host, self.port, timeout=self.timeout, local_hostname="paydesk"
        ) as s:
            if self.starttls:
                s.starttls()
            if self.username:
                s.login(self.username, self.password or "")
            s.send_message(message)


class FileEmailSender:
    """Writes each message as an .eml file (demo / no SMTP configured): nothing is lost and the
    operator can open the sign-in links the demo sends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.eml"
        (self.directory / name).write_bytes(bytes(message))
