"""Email channel services: ingest (pipe, IMAP, LMTP), outbox delivery, replay, bounces.

`install(ctx)` plugs the channel into the core: the intake hook that ties a raw message to its
ticket message and sends the auto-acknowledgement, the agent-reply hook that queues outbound
mail, and the background loops of the server process (outbox delivery, IMAP polling when
configured).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from paydesk.services.context import AppContext

log = logging.getLogger(__name__)


def install(ctx: AppContext) -> None:
    from paydesk.services.email import ingest, outbox, participants, senderauth

    def after_intake(
        c: AppContext, uow: Any, ticket: Any, message: Any, inbound: Any, created: bool
    ) -> None:
        if inbound.channel.value != "email":
            return
        ingest.record_raw(c, uow, ticket, message, inbound)
        senderauth.record_unverified(c, uow, ticket, message, inbound, created)
        participants.record_from_inbound(c, uow, ticket, message, inbound)
        outbox.queue_ack(c, uow, ticket, message, inbound, created)

    ctx.after_intake.append(after_intake)
    ctx.after_agent_message.append(outbox.queue_agent_reply)
    ctx.extras["email_outbox_wakeup"] = threading.Event()
    background = ctx.extras.setdefault("background", [])
    background.append(outbox_loop)
    if ctx.settings.imap_host:
        background.append(imap_loop)


async def outbox_loop(ctx: AppContext, idle_seconds: float = 5.0) -> None:
    """Deliver due outbox mail; wakes early when a commit queued something."""
    from paydesk.services.email.outbox import deliver_due

    wake: threading.Event = ctx.extras.setdefault("email_outbox_wakeup", threading.Event())
    while True:
        try:
            await asyncio.to_thread(deliver_due, ctx)
        except Exception:
            log.exception("email outbox delivery failed")
        # poll the event from the loop: a thread blocked in wait() would delay shutdown
        for _ in range(max(1, int(idle_seconds / 0.1))):
            if wake.is_set():
                break
            await asyncio.sleep(0.1)
        wake.clear()


async def imap_loop(ctx: AppContext) -> None:
    """Poll the configured IMAP mailbox (IDLE where offered) for the life of the server."""
    from paydesk.services.email.poller import poll_forever

    stop = threading.Event()
    try:
        await asyncio.to_thread(poll_forever, ctx, stop)
    finally:
        stop.set()
