"""`paydesk refunds …` — the refund lifecycle job, for cron in multi-process deployments."""

from __future__ import annotations

import orjson
import typer

app = typer.Typer(no_args_is_help=True, help="Refunds: follow them on the payment platform")


@app.callback()
def refunds() -> None:
    """Refund lifecycle jobs."""


@app.command("sync")
def sync(
    limit: int = typer.Option(100, min=1, max=10_000, help="refund requests per run at most"),
) -> None:
    """One round of the refund job: re-send stalled executions (same idempotency key, with
    backoff; flag them for a supervisor after the last retry), then poll submitted refunds and
    record completed/failed ones (the customer is told on the ticket). Safe to run from several
    processes at once. Prints one JSON line of counts."""
    from paydesk.cli import _ctx
    from paydesk.services.refund_jobs import retry_stalled, sync_submitted

    ctx = _ctx()  # type: ignore[no-untyped-call]
    try:
        report = {**retry_stalled(ctx, limit=limit), **sync_submitted(ctx, limit=limit)}
    finally:
        ctx.engine.dispose()
    typer.echo(orjson.dumps(report).decode())
