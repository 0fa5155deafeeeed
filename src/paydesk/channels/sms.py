"""Outgoing SMS. `SmsSender` is the port; `HttpSmsSender` talks to an SMS gateway's JSON API
(POST {url} {"to", "text", "reference"} → 2xx), `FileSmsSender` writes messages under the data dir
for the demo and for setups without a gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Protocol

import httpx


class SmsError(Exception):
    """The gateway did not accept the message."""


class SmsSender(Protocol):
    def send(self, to: str, text: str, *, reference: str = "") -> None: ...


class HttpSmsSender:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    def send(self, to: str, text: str, *, reference: str = "") -> None:
        try:
            # the reference doubles as the gateway's idempotency key: a retried send of the
            # same code is delivered once
            resp = self._client.post(
                self.url,
                json={"to": to, "text": text, "reference": reference},
                headers={"Idempotency-Key": reference} if reference else {},
            )
        except httpx.HTTPError as exc:
            raise SmsError(f"SMS gateway unreachable ({type(exc).__name__})") from exc
        if resp.status_code >= 300:
            raise SmsError(f"SMS gateway refused the message (HTTP {resp.status_code})")


class FileSmsSender:
    """One JSON file per message under `directory` (demo: the operator can read the codes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, to: str, text: str, *, reference: str = "") -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{time.time_ns()}.json"
        path.write_text(json.dumps({"to": to, "text": text, "reference": reference}))
