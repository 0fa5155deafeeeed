"""`paydesk privacy …` — data-subject requests: export and erase a customer."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from paydesk.services.context import AppContext

app = typer.Typer(no_args_is_help=True, help="Data-subject requests: export, erase")


def _ctx() -> AppContext:
    from paydesk.cli import _ctx as make

    return make()  # type: ignore[no-untyped-call, no-any-return]


def _customer_id(ctx, customer: str) -> int:  # type: ignore[no-untyped-def]
    """A numeric id, or an email / phone identity."""
    from paydesk.services.actors import system_actor
    from paydesk.services.dsr import find_customer_ids

    if customer.isdigit():
        return int(customer)
    kind = "email" if "@" in customer else "phone"
    ids = find_customer_ids(ctx, system_actor(), kind, customer)
    if len(ids) != 1:
        typer.echo(f"error: no single customer with {kind} {customer!r}", err=True)
        raise typer.Exit(2)
    return ids[0]


@app.command("export")
def export(
    customer: str = typer.Argument(..., help="customer id, email or phone"),
    out: Path = typer.Option(..., "--out", "-o", help="zip file to write"),
) -> None:
    """Write everything stored about the customer (customer.json + attachments) to a zip."""
    from paydesk.domain.errors import DomainError
    from paydesk.services.actors import system_actor
    from paydesk.services.dsr import export_customer

    ctx = _ctx()
    try:
        data = export_customer(ctx, system_actor(), _customer_id(ctx, customer))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    out.write_bytes(data)
    typer.echo(orjson.dumps({"file": str(out), "bytes": len(data)}).decode())


@app.command("erase")
def erase(
    customer: str = typer.Argument(..., help="customer id, email or phone"),
    reason: str = typer.Option(..., help="request reference / legal basis (audited)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Erase/pseudonymise the customer; complaint and transaction tickets are kept (retention)."""
    from paydesk.domain.errors import DomainError
    from paydesk.services.actors import system_actor
    from paydesk.services.dsr import erase_customer

    ctx = _ctx()
    cid = _customer_id(ctx, customer)
    if not yes:
        typer.confirm(f"Erase customer {cid}? This cannot be undone.", abort=True)
    try:
        result = erase_customer(ctx, system_actor(), cid, reason)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(orjson.dumps(result.as_dict()).decode())
