"""`paydesk kb import|export` — Markdown articles in and out of the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Knowledge base: import and export articles")


def _ctx():  # type: ignore[no-untyped-def]
    from paydesk.cli import _ctx as core_ctx

    return core_ctx()


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="a Markdown article file, or a folder of *.md files"),
) -> None:
    """Import articles (YAML front matter: id, title, locale, category, tags, translation_of).
    Re-importing updates articles by id. Prints counts; exit status 1 if any file failed."""
    from paydesk.domain.errors import DomainError
    from paydesk.services.kb import import_path

    ctx = _ctx()
    try:
        counts = import_path(ctx, path)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.engine.dispose()
    for err in counts["errors"]:
        typer.echo(f"error: {err['file']}: {err['error']}", err=True)
    typer.echo(
        f"imported: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed"
    )
    typer.echo(json.dumps({k: counts[k] for k in ("created", "updated", "unchanged", "failed")}))
    if counts["failed"]:
        raise typer.Exit(1)


@app.command("export")
def export_cmd(dest: Path = typer.Argument(..., help="folder to write <id>.md files into")) -> None:
    """Export every article as a Markdown file that `kb import` reads back."""
    from paydesk.services.kb import export_path

    ctx = _ctx()
    try:
        n = export_path(ctx, dest)
    finally:
        ctx.engine.dispose()
    typer.echo(f"exported {n} articles to {dest}")
