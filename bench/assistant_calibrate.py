"""Fit the assistant's answer-or-handoff confidence model on two independent knowledge bases.

    .venv/bin/python bench/assistant_calibrate.py [--min-recall 0.92]

For each (knowledge base, question set) pair — the demo help center with
tests/fixtures/assistant/eval.jsonl, and the held-out KB tests/fixtures/assistant/heldout_kb
with heldout_eval.jsonl (other payment topics, written separately) — it imports the KB with the
real `kb import` service into a temporary SQLite workspace, asks every question through
`services.assistant.answer` (hard rules and the intent model included) and records the search
signals `policy.features` of the questions no hard rule handed off.

It prints:
  * cross-KB figures: trained on one KB, threshold chosen on that KB's out-of-fold
    probabilities, measured on the other KB — what to expect on a KB the model has never seen;
  * the pooled model (both KBs) with its threshold chosen on 5-fold out-of-fold probabilities
    (most correct answers while handing off at least --min-recall of the unanswerable
    questions), as a `policy.Calibration(...)` literal to paste into assistant/policy.py.

A question counts as answerable-and-right when it expects an article and the best family is that
article; the model learns "the best article answers this" against everything else.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FIX = ROOT / "tests" / "fixtures" / "assistant"
SETS = {
    "demo": (ROOT / "src" / "paydesk" / "assistant" / "content", FIX / "eval.jsonl"),
    "heldout": (FIX / "heldout_kb", FIX / "heldout_eval.jsonl"),
}
Rows = list[dict[str, Any]]


def collect(kb_dir: Path, eval_file: Path) -> Rows:
    from paydesk.assistant import policy
    from paydesk.services import assistant, kb
    from paydesk.services.bootstrap import prepare
    from paydesk.services.context import build_context
    from paydesk.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="paydesk-calibrate-"))
    ctx = build_context(Settings(database_url=f"sqlite:///{tmp}/c.db", data_dir=tmp / "data"))
    prepare(ctx)
    counts = kb.import_files(ctx, sorted(kb_dir.rglob("*.md")))
    assert counts["failed"] == 0, counts
    out: Rows = []
    for line in eval_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        r = assistant.answer(ctx, row["q"], row.get("locale"))
        loc = assistant._locale(row["q"], row.get("locale"))
        res = assistant._holder(ctx).get().search(r["message"].strip(), locale=loc, limit=3)
        hard = r["reason"] not in ("answered", "low_confidence")
        out.append(
            {
                "expect": row.get("expect"),
                "hard": hard or not res.hits,
                "top": res.hits[0].slug if res.hits else None,
                "x": policy.features(res) if res.hits else None,
            }
        )
    ctx.engine.dispose()
    return out


def _xy(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    soft = [r for r in rows if not r["hard"]]
    x = np.array([r["x"] for r in soft], dtype=float)
    y = np.array([int(r["expect"] is not None and r["top"] == r["expect"]) for r in soft])
    return x, y


def _model(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000)


def score(rows: Rows, prob: np.ndarray, threshold: float) -> tuple[float, float]:
    """(top-1 accuracy over answerable rows, handoff recall over unanswerable rows)."""
    it = iter(prob)
    right = answerable = handed = unanswerable = 0
    for r in rows:
        p = 0.0 if r["hard"] else float(next(it))
        answered = None if r["hard"] or p < threshold else r["top"]
        if r["expect"] is not None:
            answerable += 1
            right += answered == r["expect"]
        else:
            unanswerable += 1
            handed += answered is None
    return right / max(answerable, 1), handed / max(unanswerable, 1)


def out_of_fold(rows: Rows) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = _xy(rows)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(_model(), x, y, cv=folds, method="predict_proba")[:, 1]  # type: ignore[no-any-return]


def pick_threshold(rows: Rows, prob: np.ndarray, min_recall: float) -> float:
    best: tuple[tuple[bool, float], float] | None = None
    for t in np.arange(0.05, 0.96, 0.01):
        top1, recall = score(rows, prob, float(t))
        key = (recall >= min_recall, top1 + min(recall, min_recall))
        if best is None or key > best[0]:
            best = (key, float(t))
    assert best is not None
    return round(best[1], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-recall", type=float, default=0.92)
    args = ap.parse_args()
    data = {name: collect(*paths) for name, paths in SETS.items()}
    for train, test in (("demo", "heldout"), ("heldout", "demo")):
        x, y = _xy(data[train])
        model = _model().fit(x, y)
        t = pick_threshold(data[train], out_of_fold(data[train]), args.min_recall)
        xt, _ = _xy(data[test])
        top1, recall = score(data[test], model.predict_proba(xt)[:, 1], t)
        print(
            f"trained on {train}, tested on {test}: threshold {t:.2f}  top-1 {top1:.1%}  "
            f"handoff recall {recall:.1%}"
        )
    pooled = data["demo"] + data["heldout"]
    x, y = _xy(pooled)
    model = _model().fit(x, y)
    t = pick_threshold(pooled, out_of_fold(pooled), args.min_recall)
    for name, rows in data.items():
        xs, _ = _xy(rows)
        top1, recall = score(rows, model.predict_proba(xs)[:, 1], t)
        print(f"pooled model on {name} (in-sample): top-1 {top1:.1%}  handoff recall {recall:.1%}")
    w = ", ".join(f"{v:.3f}" for v in model.coef_[0])
    print(f"Calibration(intercept={model.intercept_[0]:.3f}, weights=({w}), threshold={t:.2f})")


if __name__ == "__main__":
    main()
