"""`paydesk audit …` — verify the hash chain, search the trail."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import typer

from paydesk.services.context import AppContext

app = typer.Typer(no_args_is_help=True, help="Audit trail: verify the hash chain, search events")


def _ctx() -> AppContext:
    from paydesk.cli import _ctx as make

    return make()  # type: ignore[no-untyped-call, no-any-return]


@app.command("verify")
def verify() -> None:
    """Seal pending events, recompute the chain; exit 1 and name the first broken event."""
    from paydesk.services.audit import seal_pending, verify_report

    ctx = _ctx()
    seal_pending(ctx)
    with ctx.read() as s:
        report = verify_report(s)
    typer.echo(orjson.dumps(report).decode())
    if not report["ok"]:
        typer.echo(
            f"audit chain BROKEN at event {report['first_broken_id']}: {report['reason']}",
            err=True,
        )
        raise typer.Exit(1)


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date/time: {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@app.command("search")
def search(
    customer: int | None = typer.Option(None, help="customer id"),
    actor_type: str | None = typer.Option(None, help="agent | token | customer | system"),
    actor_id: int | None = typer.Option(None, help="agent/token id"),
    action: str | None = typer.Option(None, help='exact action, or a prefix ending in "."/"*"'),
    since: str | None = typer.Option(None, help="ISO date/time (UTC if no offset)"),
    until: str | None = typer.Option(None, help="ISO date/time, exclusive"),
    limit: int = typer.Option(50, min=1, max=200),
) -> None:
    """Print matching events as JSON lines, newest first (as the system actor)."""
    from paydesk.services import audit
    from paydesk.services.actors import system_actor

    ctx = _ctx()
    with ctx.uow() as uow:
        events = audit.search_events(
            uow.session,
            system_actor(),
            customer_id=customer,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            since=_when(since),
            until=_when(until),
            limit=limit,
        )
        for ev in events:
            typer.echo(orjson.dumps(audit.event_dict(ev)).decode())
