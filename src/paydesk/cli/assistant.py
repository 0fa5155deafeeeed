"""`paydesk assistant ask|eval` — try the assistant and measure it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="The 24-hour assistant")


def _ctx():  # type: ignore[no-untyped-def]
    from paydesk.cli import _ctx as core_ctx

    return core_ctx()


@app.command("ask")
def ask(
    message: str = typer.Argument(..., help="the customer's message"),
    locale: str = typer.Option("", help="en | zh-CN (guessed when empty)"),
) -> None:
    """Print the assistant's JSON answer to one message."""
    from paydesk.services.assistant import answer

    ctx = _ctx()
    try:
        typer.echo(json.dumps(answer(ctx, message, locale or None), ensure_ascii=False, indent=2))
    finally:
        ctx.engine.dispose()


@app.command("eval")
def eval_cmd(
    file: Path = typer.Argument(..., help='JSONL lines {"q", "locale", "expect": id or null}'),
    show_misses: bool = typer.Option(False, "--misses", help="list the questions it got wrong"),
) -> None:
    """Top-1 accuracy on answerable questions and handoff precision/recall on the others."""
    from paydesk.services.assistant import evaluate

    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            typer.echo(f"error: {file}:{n}: {exc}", err=True)
            raise typer.Exit(2) from None
        rows.append(row)
    ctx = _ctx()
    try:
        result = evaluate(ctx, rows)
    finally:
        ctx.engine.dispose()
    misses = result.pop("misses")
    if show_misses:
        for m in misses:
            typer.echo(json.dumps(m, ensure_ascii=False))
    typer.echo(
        f"questions {result['questions']}: top-1 accuracy {_pct(result['top1_accuracy'])} "
        f"({result['answerable']} answerable), handoff precision "
        f"{_pct(result['handoff_precision'])}, recall {_pct(result['handoff_recall'])} "
        f"({result['unanswerable']} unanswerable)"
    )
    typer.echo(json.dumps(result))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f} %"
