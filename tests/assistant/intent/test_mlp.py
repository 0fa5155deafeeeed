"""The MLP head: its numpy forward pass equals scikit-learn's, it survives save/load, and only
models with enough data get one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paydesk.assistant.intent import mlp
from paydesk.assistant.intent.dataset import LabelledData
from paydesk.assistant.intent.mlp import MlpHead
from paydesk.assistant.intent.model import IntentModel, TrainConfig, train


def _clusters(
    n: int, labels: int, dim: int = 24, seed: int = 0, signal: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around one centre a label; the centres differ in the first `signal` dims."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((labels, dim))
    centres[:, :signal] = rng.normal(size=(labels, signal))
    y = rng.integers(0, labels, size=n)
    x = centres[y] + rng.normal(scale=0.9, size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.array([f"l{k}" for k in y])


@pytest.mark.parametrize("n_labels", [2, 5])
def test_numpy_forward_equals_scikit_learn(n_labels: int):
    from sklearn.neural_network import MLPClassifier

    x, y = _clusters(600, n_labels)
    labels = sorted(set(y))
    head = MlpHead.fit(x, y, labels, seed=3)
    reference = MLPClassifier(
        (mlp.HIDDEN,), alpha=mlp.ALPHA, max_iter=mlp.EPOCHS, batch_size=64, random_state=3
    )
    with pytest.warns(Warning):  # the short schedule stops before convergence, on purpose
        reference.fit(x * mlp.INPUT_SCALE, y)
    want = reference.predict_proba(x * mlp.INPUT_SCALE)
    got = head.proba(x)
    assert got.shape == (600, n_labels)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert (got.argmax(1) == np.searchsorted(labels, y)).mean() > 0.8


def test_restore_rejects_arrays_of_another_shape():
    x, y = _clusters(300, 3)
    head = MlpHead.fit(x, y, sorted(set(y)), seed=0)
    assert MlpHead.restore({}, 24, 3) is None  # a model trained before the head existed
    assert MlpHead.restore(head.arrays(), 24, 3) is not None
    with pytest.raises(ValueError):
        MlpHead.restore(head.arrays(), 25, 3)
    with pytest.raises(ValueError):
        MlpHead.restore(head.arrays(), 24, 4)


def _data(n: int) -> tuple[LabelledData, np.ndarray]:
    # the texts say nothing of the label, the embeddings overlap: probabilities are not 0 or 1
    x, y = _clusters(n, 6, dim=512, signal=4)
    texts = [f"question number {i}" for i in range(n)]
    return LabelledData(texts, list(y)), x


def test_large_models_get_the_head_and_keep_it_through_save_and_load(tmp_path: Path):
    data, emb = _data(mlp.MIN_EXAMPLES)
    model = train(data, TrainConfig(), embeddings=emb)
    assert model.mlp is not None and model.mlp_weight == pytest.approx(0.2)
    model.save(tmp_path / "m")
    loaded = IntentModel.load(tmp_path / "m")
    assert loaded.mlp is not None and loaded.mlp_weight == pytest.approx(0.2)
    texts = data.texts[:50]
    np.testing.assert_allclose(
        loaded.proba(texts, emb[:50]), model.proba(texts, emb[:50]), rtol=1e-4, atol=1e-6
    )
    without = IntentModel(
        model.labels,
        model.featurizer,
        model.coef,
        model.intercept,
        model.temperature,
        neighbours=model.neighbours,
        neighbour_weight=model.neighbour_weight,
        neighbour_sharpen=model.neighbour_sharpen,
    )
    assert np.abs(without.proba(texts, emb[:50]) - model.proba(texts, emb[:50])).max() > 1e-3


def test_small_models_and_a_zero_weight_get_no_head():
    data, emb = _data(mlp.MIN_EXAMPLES - 1)
    assert train(data, TrainConfig(), embeddings=emb).mlp is None
    data, emb = _data(mlp.MIN_EXAMPLES)
    assert train(data, TrainConfig(mlp_weight=0.0), embeddings=emb).mlp is None
