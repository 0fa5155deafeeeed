"""Fixtures of the intent tests: a data dir for the CLI and small bilingual CSV files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from paydesk.assistant.intent.store import BUNDLED_CSV
from paydesk.cli.intent import app
from paydesk.settings import get_settings

HERE = Path(__file__).parent
HELDOUT = HERE / "topay_heldout.csv"
# a small task the CLI tests train in about a second: 6 sub-intents, English and Chinese
SMALL_LABELS = (
    "refund_status",
    "password_reset",
    "app_crash",
    "complaint",
    "human_request",
    "topup_failed",
)


def rows_of(path: Path, labels: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    return [r for r in rows if labels is None or r[1] in labels]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


@pytest.fixture
def small_csvs(tmp_path: Path) -> tuple[Path, Path]:
    train = write_csv(tmp_path / "train.csv", rows_of(BUNDLED_CSV, SMALL_LABELS))
    test = write_csv(tmp_path / "test.csv", rows_of(HELDOUT, SMALL_LABELS))
    return train, test


Invoke = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run `paydesk intent …` in-process with PAYDESK_DATA_DIR pointing at a fresh dir."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield invoke
    get_settings.cache_clear()


def json_lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
