"""`paydesk csat …` — satisfaction jobs for cron, and the CSAT report as JSON."""

from __future__ import annotations

import orjson
import typer

app = typer.Typer(no_args_is_help=True, help="CSAT and NPS: send NPS questions, print reports")


@app.callback()
def csat() -> None:
    """Customer satisfaction."""


@app.command("nps-send")
def nps_send(
    limit: int = typer.Option(200, min=1, max=100_000, help="customers asked per run at most"),
) -> None:
    """Ask eligible customers the 0–10 NPS question by email (solved a ticket in the last 30
    days, not asked within PAYDESK_NPS_INTERVAL_DAYS). Safe to run from several processes.
    Prints `{"sent": N}`."""
    from paydesk.cli import _ctx
    from paydesk.services.csat import send_nps_invitations

    ctx = _ctx()  # type: ignore[no-untyped-call]
    try:
        sent = send_nps_invitations(ctx, limit=limit)
    finally:
        ctx.engine.dispose()
    typer.echo(orjson.dumps({"sent": sent}).decode())


@app.command("report")
def report(days: int = typer.Option(7, help="7 or 30")) -> None:
    """The CSAT/NPS report of the last 7 or 30 days as one JSON document (as the API)."""
    from paydesk.cli import _ctx
    from paydesk.domain.errors import DomainError
    from paydesk.services.actors import Actor
    from paydesk.services.csat_reports import csat_report

    ctx = _ctx()  # type: ignore[no-untyped-call]
    actor = Actor(kind="token", id=None, workspace_id=1, role="auditor", name="cli")
    try:
        data = csat_report(ctx, actor, days)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.engine.dispose()
    typer.echo(orjson.dumps(data, default=str).decode())
