"""SMTP / LMTP receiver (aiosmtpd). Answers 250 only after `deliver` returned — i.e. after the
message is committed; any error answers 451 so the sending server keeps the mail and retries.

`deliver(raw, mail_from, rcpt_tos)` is a blocking callable supplied by the services layer; it
runs in a worker thread so a slow database never stalls the SMTP conversation of other clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)
Deliver = Callable[[bytes, str, list[str]], None]


class IntakeHandler:
    def __init__(self, deliver: Deliver, accept_domains: Iterable[str] = (), lmtp: bool = False):
        self.deliver = deliver
        self.domains = {d.lower() for d in accept_domains if d}
        self.lmtp = lmtp

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if self.domains and domain not in self.domains:
            return "550 5.1.1 mailbox not handled here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            await asyncio.to_thread(
                self.deliver, bytes(raw), str(envelope.mail_from or ""), list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("delivery into paydesk failed; asking the sender to retry")
            status = "451 4.3.0 temporary failure, please retry"
        else:
            status = "250 2.0.0 OK: queued as ticket mail"
        if self.lmtp:  # LMTP answers once per recipient
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status


class _LmtpController(Controller):
    def factory(self) -> Any:
        return LMTP(self.handler, **self.SMTP_kwargs)


def make_controller(
    deliver: Deliver,
    *,
    host: str,
    port: int,
    lmtp: bool,
    max_bytes: int,
    accept_domains: Iterable[str] = (),
) -> Controller:
    """A started-on-demand receiver (call .start()/.stop()). Mail above `max_bytes` gets 552."""
    handler = IntakeHandler(deliver, accept_domains, lmtp=lmtp)
    cls = _LmtpController if lmtp else Controller
    return cls(
        handler,
        hostname=host,
        port=port,
        server_hostname="paydesk",
        data_size_limit=max_bytes,
        decode_data=False,
        enable_SMTPUTF8=True,
        ready_timeout=10.0,
    )
