"""A fake SMS gateway on loopback: accepts POST {"to", "text", "reference"} and keeps the
messages (deduplicated by Idempotency-Key, as a real gateway does)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeSmsGateway:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.fail = False
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 500 if gw.fail else 202
                if not gw.fail:
                    key = self.headers.get("Idempotency-Key")
                    if not key or all(m.get("reference") != key for m in gw.messages):
                        gw.messages.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_code(self, to: str) -> str:
        return self._last(to, r"\b(\d{6})\b")

    def last_token(self, to: str) -> str:
        return self._last(to, r"/verify/(\d+\.[0-9a-f]{32})")

    def _last(self, to: str, pattern: str) -> str:
        for m in reversed(self.messages):
            if m["to"] == to:
                found = re.search(pattern, m["text"])
                if found:
                    return found.group(1)
        raise AssertionError(f"nothing matching {pattern!r} sent to {to}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
