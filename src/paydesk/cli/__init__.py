"""`paydesk` command line. Thin: parse arguments, call one service, print the result."""

from __future__ import annotations

import logging

import typer

from paydesk.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="TOPAY customer-service desk")
token_app = typer.Typer(no_args_is_help=True, help="API tokens")
app.add_typer(token_app, name="token")


def _ctx():  # type: ignore[no-untyped-def]
    from paydesk.services.bootstrap import prepare
    from paydesk.services.context import build_context

    ctx = build_context(get_settings())
    prepare(ctx)
    return ctx


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, min=1, max=64, help="worker processes"),
) -> None:
    """Migrate the database, then serve HTTP and WebSockets."""
    ctx = _ctx()
    ctx.engine.dispose()
    _run(host, port, workers)


def _few_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own arena (up to 8 per core), and each arena
    keeps what was freed in it: a server with 30-odd sender threads grew ~10 KB per chat socket
    that way after one message each. Two arenas cost no measurable speed here. Where mallopt
    does not exist (not glibc), nothing changes; MALLOC_ARENA_MAX in the environment wins."""
    import ctypes
    import ctypes.util
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _run(host: str, port: int, workers: int) -> None:
    import uvicorn

    from paydesk.web.ws_protocol import LeanWebSocketProtocol

    _few_malloc_arenas()
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        "paydesk.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=True,
        ws=LeanWebSocketProtocol,
        ws_max_size=1_048_576,
        ws_per_message_deflate=False,  # ~90 KB of zlib state per chat socket; chat frames are tiny
    )


@app.command()
def demo(
    port: int = typer.Option(8000, help="port"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    seed_only: bool = typer.Option(False, "--seed-only", help="seed, print logins, do not serve"),
) -> None:
    """Seed the TOPAY demo workspace (idempotent) and serve it."""
    from paydesk.services.demo import seed

    ctx = _ctx()
    info = seed(ctx)
    ctx.engine.dispose()
    base = f"http://{host}:{port}"
    typer.echo("")
    typer.echo("paydesk demo — TOPAY workspace")
    typer.echo(f"  customer portal : {base}/")
    typer.echo(f"  agent console   : {base}/agent")
    typer.echo(f"  API docs        : {base}/docs")
    for login in info["logins"]:
        typer.echo(f"  login {login['role']:<10} {login['email']}  password: {login['password']}")
    typer.echo(f"  API token (admin): {info['token']}")
    typer.echo(
        f"  sign-in links of the portal are written to {ctx.settings.data_dir / 'mail-outbox'}"
    )
    typer.echo("")
    if not seed_only:
        _run(host, port, 1)


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., help="admin | supervisor | agent"),
    name: str = typer.Option(..., help="what the token is for"),
) -> None:
    """Create an API token; the token is the last line of output (shown once)."""
    from paydesk.domain.errors import DomainError
    from paydesk.services.auth import create_token

    if role not in ("admin", "supervisor", "agent"):
        typer.echo(f"error: role must be admin, supervisor or agent, not {role!r}", err=True)
        raise typer.Exit(2)
    ctx = _ctx()
    try:
        tok = create_token(ctx, role, name)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created token {tok.id} ({role}, {name!r}); keep it secret, it is shown once:")
    typer.echo(tok.token)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke an API token by id."""
    from paydesk.services.actors import system_actor
    from paydesk.services.auth import revoke_token

    revoke_token(_ctx(), system_actor(), token_id)
    typer.echo(f"revoked token {token_id}")


@app.command()
def migrate() -> None:
    """Apply database migrations (serve does this too)."""
    _ctx()
    typer.echo("database is up to date")


# Capability command groups register here: (module, attribute, name).
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("paydesk.cli.audit", "app", "audit"),
    ("paydesk.cli.privacy", "app", "privacy"),
    ("paydesk.cli.email", "app", "email"),
    ("paydesk.cli.kb", "app", "kb"),
    ("paydesk.cli.assistant", "app", "assistant"),
    ("paydesk.cli.intent", "app", "intent"),
    ("paydesk.cli.refunds", "app", "refunds"),
    ("paydesk.cli.csat", "app", "csat"),
]


def _load_subcommands() -> None:
    import importlib

    for module, attr, name in SUBCOMMANDS:
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)


def main() -> None:
    _load_subcommands()
    app()


if __name__ == "__main__":
    main()
