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
    """One round of the refund job: recover stalled executions, reconcile refunds whose platform
    answer is unknown (looked up by refund id / idempotency key; re-sent with the same key only
    when the platform has none; flagged for a supervisor after the last retry), then poll
    submitted refunds and record completed/failed/reversed ones (the customer is told on the
    ticket). Safe to run from several processes at once. Prints one JSON line of counts."""
    from paydesk.cli import _ctx
    from paydesk.services.refund_jobs import run_once

    ctx = _ctx()  # type: ignore[no-untyped-call]
    try:
        report = run_once(ctx, limit=limit)
    finally:
        ctx.engine.dispose()
    typer.echo(orjson.dumps(report).decode())
