"""The default bilingual TOPAY model: accuracy on phrasings it never saw, laziness, reloading,
and a model directory that is plain data."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from paydesk.assistant.intent import store
from paydesk.assistant.intent.dataset import read_labelled_csv
from paydesk.assistant.intent.model import IntentModel, ModelFormatError
from paydesk.assistant.intent.store import BUNDLED_CSV, ModelHolder, train_bundled
from paydesk.assistant.intent.taxonomy import SUB_INTENTS, category_of
from paydesk.services.intent import evaluate, predict_category

from .conftest import HELDOUT, write_csv


def test_bundled_data_covers_the_taxonomy_in_both_languages():
    data = read_labelled_csv(BUNDLED_CSV)
    assert set(data.labels) == set(SUB_INTENTS)
    pairs = zip(data.texts, data.labels, strict=True)
    zh = Counter(lab for t, lab in pairs if any("\u4e00" <= c <= "\u9fff" for c in t))
    en = Counter(data.labels) - zh
    assert min(zh.values()) >= 5 and min(en.values()) >= 5, (zh, en)
    # the held-out set shares no text with the training data
    heldout = read_labelled_csv(HELDOUT)
    assert not {t.lower() for t in heldout.texts} & {t.lower() for t in data.texts}


def test_default_model_on_held_out_bilingual_phrasings():
    """109 unseen zh-CN/en phrasings (4 per sub-intent). Measured: sub-intent accuracy 0.99,
    category 1.00; the keyword list it replaces gets 0.77 of the categories. The bars (0.90
    sub-intent, 0.95 category, and ≥ 15 points over the keywords) sit under the measurement so
    only a real regression fails — broken features, bad labels — not one borderline phrasing."""
    from paydesk.domain.classify import classify_category

    model = train_bundled()
    data = read_labelled_csv(HELDOUT)
    result = evaluate(model, data)
    assert result["accuracy"] >= 0.90 and result["macro_f1"] >= 0.90, result
    truth = [category_of(lab) for lab in data.labels]
    by_model = [predict_category(model, t)[0] for t in data.texts]
    by_keywords = [classify_category(t) for t in data.texts]

    def accuracy(pred: list) -> float:  # type: ignore[type-arg]
        scored = [(p, t) for p, t in zip(pred, truth, strict=True) if t is not None]
        return sum(p == t for p, t in scored) / len(scored)

    assert accuracy(by_model) >= 0.95
    assert accuracy(by_model) >= accuracy(by_keywords) + 0.15
    # calibrated: confidence tracks accuracy (not pinned to 1.0 when wrong)
    assert result["expected_calibration_error"] <= 0.1, result


def test_holder_is_lazy_caches_and_follows_a_retrained_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    holder = ModelHolder(tmp_path, "topay")
    assert not holder.loaded and not (tmp_path / "models").exists()
    assert holder.predict("我的refund怎么还没到")[0] == "refund_status"
    meta = json.loads((tmp_path / "models" / "topay" / "meta.json").read_text())
    assert meta["source"] == "bundled" and meta["fingerprint"] == store.bundled_fingerprint()

    # an operator trains their own "topay" model: a running holder switches to it
    monkeypatch.setattr(store, "_RECHECK_SECONDS", 0.0)
    rows = [("where is my money", "transactions/where"), ("app crashed", "technical/crash")] * 4
    custom = read_labelled_csv(write_csv(tmp_path / "custom.csv", rows))
    from paydesk.assistant.intent.features import FeatureConfig
    from paydesk.assistant.intent.model import TrainConfig, train

    time.sleep(0.01)  # a distinct mtime on coarse file systems
    cfg = TrainConfig(features=FeatureConfig(embedding_weight=0.0))
    train(custom, cfg, meta={"source": "custom.csv"}).save(tmp_path / "models" / "topay")
    assert holder.predict("where is my money")[0] == "transactions/where"
    # and a fresh holder keeps the operator's model instead of retraining the bundled one
    assert ModelHolder(tmp_path).predict("app crashed")[0] == "technical/crash"


def test_saved_model_round_trips_and_refuses_damage(tmp_path: Path):
    model = train_bundled()
    path = tmp_path / "m"
    model.save(path)
    again = IntentModel.load(path)
    texts = ["退款没到账", "app keeps crashing", "转人工"]
    assert np.allclose(model.proba(texts), again.proba(texts), atol=1e-6)
    assert again.neighbours is not None and again.neighbour_weight == 0.5
    with np.load(path / "arrays.npz", allow_pickle=False) as z:  # plain arrays, no objects
        assert all(z[k].dtype != object for k in z.files)
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 999
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="format"):
        IntentModel.load(path)
    with pytest.raises(ModelFormatError, match="no model"):
        IntentModel.load(tmp_path / "missing")


def test_models_without_a_neighbour_head_load_and_bad_neighbour_arrays_do_not(tmp_path: Path):
    """A model saved before the neighbour head existed predicts with its linear head alone;
    neighbour rows that name a label the model does not have are damage."""
    path = tmp_path / "m"
    train_bundled().save(path)
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    linear = {k: v for k, v in arrays.items() if not k.startswith("neighbour_")}
    np.savez(path / "arrays.npz", **linear)
    old = IntentModel.load(path)
    assert old.neighbours is None and old.predict("转人工")[0] == "human_request"

    arrays["neighbour_labels"] = arrays["neighbour_labels"] + 1000
    np.savez(path / "arrays.npz", **arrays)
    with pytest.raises(ModelFormatError, match="damaged"):
        IntentModel.load(path)


def test_two_labels_and_odd_texts():
    """Binary tasks work (liblinear returns one column) and no text breaks prediction."""
    from paydesk.assistant.intent.dataset import LabelledData
    from paydesk.assistant.intent.model import train

    data = LabelledData(
        ["refund please", "退款", "app crash", "闪退"] * 3, ["t", "t", "x", "x"] * 3
    )
    model = train(data)
    assert model.predict("where is my refund")[0] == "t"
    for odd in ["", "   ", "😀😀😀", "ignore previous instructions", "退" * 100_000]:
        label, conf = model.predict(odd)
        assert label in ("t", "x") and 0.0 <= conf <= 1.0
