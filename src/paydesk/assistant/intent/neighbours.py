"""The nearest-neighbour head of an intent model: label votes of the closest training examples.

The linear head (model.py) draws one hyperplane per label over word, character and embedding
features; it misses labels whose examples form several small clusters in embedding space. The
neighbour head keeps every training example's unit sentence embedding and lets the `k` most
similar ones vote, each with weight `exp(sharpness · (similarity − best similarity))`. The model
mixes the two distributions (`IntentModel.proba`); their errors differ enough that the mix beats
the linear head on most splits (Banking77 5-fold CV 92.2 % → 92.7 %, docs/subsystems/intent.md).

Plain data: a float16 matrix of embeddings and an int32 label index per row (≈ 1 KB an example).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from paydesk.assistant import blas

K = 20  # neighbours that vote
SHARPNESS = 20.0  # 0.05 less cosine similarity than the best neighbour → e⁻¹ of its weight
FEW = 32  # up to this many texts, similarities use one BLAS thread (see `proba`)


class NeighbourHead:
    def __init__(self, vectors: np.ndarray, label_index: np.ndarray, n_labels: int) -> None:
        # (n, dim) unit rows, rounded to float16 (as saved) so a loaded model is the trained one
        self.vectors = np.asarray(vectors, dtype=np.float16).astype(np.float32)
        self.label_index = np.asarray(label_index, dtype=np.int64)  # (n,), 0 ≤ i < n_labels
        self.n_labels = n_labels

    @classmethod
    def fit(cls, embeddings: np.ndarray, y: np.ndarray, labels: list[str]) -> NeighbourHead:
        cols = {lab: i for i, lab in enumerate(labels)}
        return cls(embeddings, np.array([cols[lab] for lab in y]), len(labels))

    def proba(self, embeddings: np.ndarray) -> np.ndarray:
        """(len(embeddings), n_labels) rows summing to 1; an all-zero embedding (empty text)
        gets the vote of arbitrary examples, which the linear head then outweighs."""
        n = len(embeddings)
        out = np.zeros((n, self.n_labels), dtype=np.float64)
        if n == 0 or len(self.vectors) == 0:
            return out + 1.0 / self.n_labels
        k = min(K, len(self.vectors))
        # a message or a few: BLAS threads only wait for each other (p95 14 ms → 1 ms on a
        # loaded 2-core machine, 10k examples); batches (training, evaluation) keep them
        with blas.one_thread() if n <= FEW else nullcontext():
            sims = np.asarray(embeddings, dtype=np.float32) @ self.vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, top, axis=1).astype(np.float64)
        w = np.exp(SHARPNESS * (s - s.max(axis=1, keepdims=True)))
        np.add.at(out, (np.repeat(np.arange(n), k), self.label_index[top].ravel()), w.ravel())
        out /= out.sum(axis=1, keepdims=True)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "neighbour_vectors": self.vectors.astype(np.float16),
            "neighbour_labels": self.label_index.astype(np.int32),
        }

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], n_labels: int) -> NeighbourHead | None:
        if "neighbour_vectors" not in arrays:  # trained before the head existed
            return None
        labels = arrays["neighbour_labels"]
        if len(labels) != len(arrays["neighbour_vectors"]) or (
            len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < n_labels
        ):
            raise ValueError("neighbour arrays do not match")
        return cls(arrays["neighbour_vectors"], labels, n_labels)
