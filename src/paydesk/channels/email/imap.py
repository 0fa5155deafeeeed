"""IMAP transport: fetch raw messages, flag/move them once the caller has committed them, and
wait for new mail with IDLE where the server offers it. Only moves bytes (IMAPClient)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from imapclient import IMAPClient

FETCH_BATCH = 25


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    done_folder: str | None = None
    ssl: bool = False
    timeout: float = 30.0


class ImapMailbox:
    """One authenticated connection to one folder. Use as a context manager."""

    def __init__(self, cfg: ImapConfig) -> None:
        self.cfg = cfg
        self.client: IMAPClient | None = None

    def __enter__(self) -> ImapMailbox:
        c = IMAPClient(
            self.cfg.host, port=self.cfg.port, ssl=self.cfg.ssl, timeout=self.cfg.timeout
        )
        c.login(self.cfg.username, self.cfg.password)
        c.select_folder(self.cfg.folder)
        if self.cfg.done_folder and not c.folder_exists(self.cfg.done_folder):
            c.create_folder(self.cfg.done_folder)
        self.client = c
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
            self.client = None

    @property
    def _c(self) -> IMAPClient:
        assert self.client is not None, "use ImapMailbox as a context manager"
        return self.client

    @property
    def supports_idle(self) -> bool:
        return bool(self._c.has_capability("IDLE"))

    def pending(self) -> list[int]:
        """UIDs not yet handled: unseen mail (handled mail is flagged \\Seen or moved away)."""
        return sorted(int(u) for u in self._c.search(["UNSEEN"]))

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        """Raw bytes by UID, in batches. BODY.PEEK[] leaves \\Seen alone until `done`."""
        for i in range(0, len(uids), FETCH_BATCH):
            batch = uids[i : i + FETCH_BATCH]
            data = self._c.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                item = data.get(uid)
                if item is not None:
                    yield uid, bytes(item[b"BODY[]"])

    def done(self, uid: int) -> None:
        """Called after the message was committed: flag it, and move it when configured."""
        self._c.add_flags([uid], [b"\\Seen"])
        if self.cfg.done_folder:
            self._c.move([uid], self.cfg.done_folder)

    def wait(self, timeout: float) -> None:
        """Block until the server announces new mail (IDLE) or `timeout` passes."""
        if not self.supports_idle:
            import time

            time.sleep(timeout)
            return
        c = self._c
        c.idle()
        try:
            c.idle_check(timeout=timeout)
        finally:
            c.idle_done()
