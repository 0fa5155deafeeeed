"""`paydesk kb import/export` and `paydesk assistant eval` through the real CLI, and a CLI import
reaching a running server's index."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paydesk.cli import _load_subcommands, app
from paydesk.services import assistant, kb
from paydesk.settings import get_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "assistant"

ARTICLE = """---
id: {id}
title: {title}
locale: {locale}
category: transactions
tags: [gift card, voucher]
{extra}---

{body}
"""


@pytest.fixture
def cli(settings, monkeypatch, ctx):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAYDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PAYDESK_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    if not any(g.name == "kb" for g in app.registered_groups):
        _load_subcommands()
    yield CliRunner()
    get_settings.cache_clear()


def write(folder: Path, name: str, **kw: str) -> Path:
    kw.setdefault("extra", "")
    path = folder / name
    path.write_text(ARTICLE.format(**kw), encoding="utf-8")
    return path


def test_import_reimport_export_and_bad_files(cli, ctx, tmp_path):
    src = tmp_path / "kb"
    src.mkdir()
    write(
        src,
        "gift.en.md",
        id="gift-cards",
        title="Using a gift card",
        locale="en",
        body="Redeem a TOPAY gift card under Wallet → Vouchers. Codes are valid for a year.",
    )
    write(
        src,
        "gift.zh.md",
        id="gift-cards-zh",
        title="如何使用礼品卡",
        locale="zh-CN",
        extra="translation_of: gift-cards\n",
        body="在 钱包 → 卡券 中兑换 TOPAY 礼品卡，兑换码一年内有效。",
    )
    (src / "broken.md").write_text("no front matter here", encoding="utf-8")
    r = cli.invoke(app, ["kb", "import", str(src)])
    assert r.exit_code == 1, r.output  # one file failed: reported, the others imported
    assert "2 created, 0 updated, 0 unchanged, 1 failed" in r.output
    assert "broken.md: missing YAML front matter" in r.output
    (src / "broken.md").unlink()
    write(
        src,
        "gift.en.md",
        id="gift-cards",
        title="Using a TOPAY gift card",
        locale="en",
        body="Redeem a TOPAY gift card under Wallet → Vouchers. Codes are valid for a year.",
    )
    r = cli.invoke(app, ["kb", "import", str(src)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1]) == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "failed": 0,
    }
    art = kb.public_article(ctx, "gift-cards")
    assert art["title"] == "Using a TOPAY gift card" and art["version"] == 2
    assert art["translations"] == {"zh-CN": "gift-cards-zh"}
    out = tmp_path / "out"
    r = cli.invoke(app, ["kb", "export", str(out)])
    assert r.exit_code == 0 and "exported 2 articles" in r.output
    again = cli.invoke(app, ["kb", "import", str(out)])
    assert "0 created, 0 updated, 2 unchanged, 0 failed" in again.output  # lossless round trip
    assert cli.invoke(app, ["kb", "import", str(tmp_path / "missing")]).exit_code == 2


def test_cli_import_reaches_a_running_server_within_seconds(cli, ctx, tmp_path):
    """The server's index polls the KB version; the CLI is another context (process)."""
    holder = ctx.extras["kb_index"]
    holder.poll_seconds = 0.2
    assert assistant.search(ctx, "gift card voucher") == []
    write(
        tmp_path,
        "gift.md",
        id="gift-cards",
        title="Using a gift card",
        locale="en",
        body="Redeem a TOPAY gift card under Wallet → Vouchers.",
    )
    r = cli.invoke(app, ["kb", "import", str(tmp_path / "gift.md")])
    assert r.exit_code == 0, r.output
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        res = assistant.search(ctx, "gift card voucher")
        if res:
            break
        time.sleep(0.1)
    assert res and res[0]["id"] == "gift-cards"


def test_eval_command_prints_accuracy_and_handoff_figures(cli, help_center, tmp_path):
    rows = [json.loads(x) for x in (FIXTURES / "eval.jsonl").read_text().splitlines()]
    assert len(rows) >= 150 and {r["locale"] for r in rows} == {"en", "zh-CN"}
    sample = tmp_path / "sample.jsonl"
    sample.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[::6]) + "\n")
    r = cli.invoke(app, ["assistant", "eval", str(sample)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output.strip().splitlines()[-1])
    assert result["questions"] == len(rows[::6])
    assert result["top1_accuracy"] >= 0.7 and result["handoff_recall"] >= 0.8
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert cli.invoke(app, ["assistant", "eval", str(bad)]).exit_code == 2
