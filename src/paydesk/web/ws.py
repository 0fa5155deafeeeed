"""WebSocket endpoints. /ws/agent streams inbox and ticket changes to the console."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from paydesk.services.context import AppContext
from paydesk.web.sessions import STAFF_COOKIE

router = APIRouter()


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    """Sends `{"type", "ticket_id"}` for every change the agent may care about; the console then
    re-fetches through access-checked endpoints, so nothing private travels on this socket."""
    ctx: AppContext = websocket.app.state.ctx
    from paydesk.services.auth import resolve_session

    raw = websocket.cookies.get(STAFF_COOKIE, "")
    info = await asyncio.to_thread(resolve_session, ctx, raw) if raw else None
    if info is None or not info.actor.is_staff or info.mfa_pending:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    topics = [f"inbox:{info.actor.workspace_id}"]
    if info.actor.kind == "agent" and info.actor.id is not None:
        topics.append(f"agent:{info.actor.id}")  # alerts for this agent (refund failed, on-call)
    sub = ctx.bus.subscribe(*topics)
    try:
        receiver = asyncio.create_task(_drain(websocket))
        while not receiver.done():
            try:
                ev = await sub.get(timeout=25)
            except TimeoutError:
                await websocket.send_json({"type": "ping"})
                continue
            out = {"type": ev.get("type"), "ticket_id": ev.get("ticket_id")}
            for key in ("incident_id", "alert"):  # ids and an alert kind: nothing private
                if ev.get(key) is not None:
                    out[key] = ev.get(key)
            await websocket.send_json(out)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sub.close()
        with contextlib.suppress(Exception):
            receiver.cancel()


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
