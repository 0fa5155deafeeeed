"""`paydesk email …`: the mail-server pipe, replay of quarantine, IMAP polling, LMTP receiver."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer

if TYPE_CHECKING:
    from paydesk.services.context import AppContext

app = typer.Typer(no_args_is_help=True, help="Email channel: ingest, replay, IMAP, LMTP")
EX_TEMPFAIL = 75  # sendmail convention: the MTA keeps the mail and retries


def _ctx() -> AppContext:
    from paydesk.cli import _ctx as core_ctx

    return core_ctx()  # type: ignore[no-any-return, no-untyped-call]


def _line(data: dict[str, object]) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


@app.command()
def ingest(
    files: list[str] = typer.Argument(None, help="raw RFC 5322 files; '-' or none reads stdin"),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        min=0,
        max=32,
        help="worker processes (0: one per core on PostgreSQL, one on SQLite)",
    ),
) -> None:
    """Deliver raw messages in order, as the mail server would; one JSON line per message."""
    from paydesk.services.email.backlog import default_jobs, ingest_files, ingest_many
    from paydesk.services.email.ingest import IngestOutcome

    ctx = _ctx()
    names = files or ["-"]
    failed = False
    sqlite = ctx.engine.dialect.name == "sqlite"
    workers = jobs or default_jobs(len(names), single_writer=sqlite)
    if workers > 1 and "-" not in names:
        ctx.engine.dispose()  # the workers' context is built (and warmed) by ingest_files
        for name, result in ingest_files(_ctx_nomigrate, names, workers):
            if isinstance(result, dict):
                _line({"file": name, **result})
            else:
                failed = True
                _line({"file": name, "action": "error", "ticket_id": None, "reason": result})
        if failed:
            raise typer.Exit(EX_TEMPFAIL)
        return

    def read() -> Iterator[tuple[str, bytes | Exception]]:
        for name in names:
            try:
                yield name, (sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes())
            except OSError as exc:
                yield name, exc

    for name, out in ingest_many(ctx, read(), source="cli"):
        if isinstance(out, IngestOutcome):
            _line({"file": name, **out.as_dict()})
        else:  # not stored: the MTA must keep this one and retry
            failed = True
            _line({"file": name, "action": "error", "ticket_id": None, "reason": str(out)[:300]})
    ctx.engine.dispose()
    if failed:
        raise typer.Exit(EX_TEMPFAIL)


def _ctx_nomigrate() -> AppContext:
    """A worker's context: the command's process has migrated the database already."""
    from paydesk.services.context import build_context
    from paydesk.settings import get_settings

    return build_context(get_settings())


@app.command()
def replay(
    ids: list[int] = typer.Argument(None, help="raw message ids (default: all quarantined)"),
) -> None:
    """Process quarantined mail again; one JSON line per message."""
    from paydesk.services.email.replay import replay as do_replay

    ctx = _ctx()
    for raw_id, out in do_replay(ctx, ids or None):
        _line({"raw_id": raw_id, **out.as_dict()})


@app.command("poll-imap")
def poll_imap(
    once: bool = typer.Option(False, "--once", help="fetch what is there, then exit"),
) -> None:
    """Poll the PAYDESK_IMAP_* mailbox (IDLE where offered); --once for cron."""
    import threading

    from paydesk.channels.email.imap import ImapMailbox
    from paydesk.services.email.poller import imap_config, poll_forever, poll_once

    ctx = _ctx()
    if once:
        with ImapMailbox(imap_config(ctx)) as box:
            for uid, out in poll_once(ctx, box).outcomes:
                _line({"uid": uid, **out.as_dict()})
        return
    stop = threading.Event()
    try:
        poll_forever(ctx, stop)
    except KeyboardInterrupt:
        stop.set()


@app.command("serve-lmtp")
def serve_lmtp(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8024, help="port"),
    smtp: bool = typer.Option(False, "--smtp", help="speak SMTP instead of LMTP"),
) -> None:
    """Receive mail over LMTP (or SMTP) from the mail server; 250 only after commit."""
    import signal
    import threading

    from paydesk.channels.email.receiver import make_controller
    from paydesk.services.email.ingest import ingest_bytes

    ctx = _ctx()

    def deliver(raw: bytes, mail_from: str, rcpts: list[str]) -> None:
        ingest_bytes(ctx, raw, source="smtp" if smtp else "lmtp")

    controller = make_controller(
        deliver,
        host=host,
        port=port,
        lmtp=not smtp,
        max_bytes=ctx.settings.email_max_message_bytes * 2,
    )
    controller.start()
    typer.echo(f"paydesk {'SMTP' if smtp else 'LMTP'} receiver on {host}:{port}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    controller.stop()


@app.command()
def deliver() -> None:
    """Send the outbox mail that is due now (the server does this continuously)."""
    from paydesk.services.email.outbox import deliver_due, outbox_counts

    ctx = _ctx()
    sent = deliver_due(ctx)
    _line({"sent": sent, "outbox": outbox_counts(ctx)})
