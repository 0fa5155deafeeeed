"""The WebSocket protocol `paydesk serve` gives uvicorn: websockets-sansio, lighter per socket.

uvicorn keeps the opening handshake (the request and response objects with all their headers)
for as long as a socket stays open, ~4 KB that nothing reads once the socket is accepted; a
chat server holds thousands of sockets. The ASGI scope keeps its own copy of the headers, which
is what the application reads.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
