"""Text features of the intent models: word n-grams + character n-grams + sentence embeddings.

- word TF-IDF (unigrams and bigrams): CJK ideographs count as one token each, so Chinese gets
  character uni/bigrams without a segmenter, and a run of Latin letters or digits is one token;
- character TF-IDF (`char_wb`, 1–5): robust to typos, inflections and mixed Chinese-English;
- sentence embeddings, scaled so they weigh about as much as the two sparse blocks together:
  paraphrases that share no words. `FeatureConfig.encoders` names them: "use" is the
  multilingual encoder (`paydesk.assistant.encoder`, 512 dims, always there); "minilm" adds the
  English all-MiniLM-L6-v2 (`paydesk.assistant.minilm`, 384 dims) for English training data.
  With several encoders each unit vector is scaled by 1/√n and the vectors are concatenated, so
  a row stays unit length (the neighbour head's cosine is then the mean of the encoders').

Each sparse block is L2-normalised by the vectoriser, the embedding is unit length, so the weight
of a block is its scale factor. The fitted state is plain data (vocabularies, idf arrays), saved as
JSON + NumPy arrays — no pickle — as `TfidfBlock`s, which fit and transform exactly like
scikit-learn's TfidfVectorizer (tested against it) without importing it (about 90 MB of a
process) or paying its per-call validation; scikit-learn is needed only for the linear model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# one CJK ideograph, or a run of other word characters (so "I", "5" and "pin" are tokens too)
WORD_PATTERN = rf"(?u)[{_CJK}]|[^\W{_CJK}]+"
EMBED_BATCH = 256
ENCODERS = ("use", "minilm")  # known sentence encoders, see `embed`
_CJK_RE = re.compile(f"[{_CJK}]")
MAX_CHARS = 1_000  # the head of a long message carries its intent; keeps features fast

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 5)
    char_min_df: int = 2
    word_weight: float = 1.0
    char_weight: float = 1.0
    embedding_weight: float = 2.0  # 0 turns the sentence encoders off
    encoders: tuple[str, ...] = ("use",)  # of ENCODERS, in this order

    def __post_init__(self) -> None:
        if not self.encoders or any(e not in ENCODERS for e in self.encoders):
            raise ValueError(f"unknown sentence encoders {self.encoders!r} (known: {ENCODERS})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        return cls(
            encoders=tuple(str(e) for e in d.get("encoders", ["use"])),  # older models: USE
            word_ngrams=(int(d["word_ngrams"][0]), int(d["word_ngrams"][1])),
            char_ngrams=(int(d["char_ngrams"][0]), int(d["char_ngrams"][1])),
            char_min_df=int(d["char_min_df"]),
            word_weight=float(d["word_weight"]),
            char_weight=float(d["char_weight"]),
            embedding_weight=float(d["embedding_weight"]),
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["encoders"] = list(self.encoders)
        return d


def choose_encoders(texts: list[str]) -> tuple[str, ...]:
    """The encoders `paydesk intent train` uses by default: the English encoder joins the
    multilingual one when it is installed and at most a quarter of the texts hold Chinese
    characters (it reads Chinese as unrelated single characters)."""
    from paydesk.assistant import minilm

    if not texts or not minilm.available():
        return ("use",)
    cjk = sum(1 for t in texts if _CJK_RE.search(t))
    return ("use", "minilm") if cjk <= len(texts) / 4 else ("use",)


def embedding_dimension(encoders: tuple[str, ...]) -> int:
    from paydesk.assistant import encoder, minilm

    return sum(encoder.dimension() if e == "use" else minilm.DIM for e in encoders)


def clip(texts: list[str]) -> list[str]:
    return [t[:MAX_CHARS] for t in texts]


def embed(
    texts: list[str], progress: Progress | None = None, encoders: tuple[str, ...] = ("use",)
) -> np.ndarray:
    """Sentence embeddings, (n, dim) float32 unit rows: the `encoders`' vectors, each scaled by
    1/√len(encoders), side by side. Computed in batches so a progress bar can move (`progress`
    counts texts × encoders)."""
    from paydesk.assistant import encoder, minilm

    total = len(texts) * len(encoders)
    out = np.zeros((len(texts), embedding_dimension(encoders)), dtype=np.float32)
    scale = np.float32(1 / np.sqrt(len(encoders)))
    if progress:
        progress(0, total)
    col = done = 0
    for name in encoders:
        if name == "minilm":
            report = (lambda n, _t, d=done: progress(d + n, total)) if progress else None
            out[:, col : col + minilm.DIM] = minilm.encode(texts, report)
            col, done = col + minilm.DIM, done + len(texts)
            continue
        dim = encoder.dimension()
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            out[start : start + len(batch), col : col + dim] = encoder.encode(batch)
            if progress:
                progress(done + start + len(batch), total)
        col, done = col + dim, done + len(texts)
    if len(encoders) > 1:
        out *= scale
    return out


class Featurizer:
    """Fit on training texts, then turn any texts into one sparse feature matrix."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.word = TfidfBlock("word", config.word_ngrams, {}, np.zeros(0))
        self.char = TfidfBlock("char_wb", config.char_ngrams, {}, np.zeros(0))

    def fit(self, texts: list[str]) -> Featurizer:
        texts = clip(texts)
        cfg = self.config
        self.word = TfidfBlock.fit("word", cfg.word_ngrams, texts)
        self.char = TfidfBlock.fit("char_wb", cfg.char_ngrams, texts, cfg.char_min_df)
        if not self.char.vocabulary_:  # tiny corpora: no n-gram reaches min_df
            self.char = TfidfBlock.fit("char_wb", cfg.char_ngrams, texts)
        if not self.word.vocabulary_ or not self.char.vocabulary_:
            raise ValueError("empty vocabulary: the texts have no words")
        return self

    @property
    def n_sparse_features(self) -> int:
        """Width of the word + character blocks (the first columns of `transform`)."""
        return len(self.word.vocabulary_) + len(self.char.vocabulary_)

    @property
    def n_features(self) -> int:
        n = self.n_sparse_features
        if self.config.embedding_weight:
            n += embedding_dimension(self.config.encoders)
        return n

    def transform_sparse(self, texts: list[str]) -> sp.csr_matrix:
        """The word + character blocks only (no sentence encoder)."""
        return sp.hstack(self._sparse_blocks(clip(texts)), format="csr", dtype=np.float32)

    def sparse_scores(self, texts: list[str], coef: np.ndarray) -> np.ndarray:
        """`transform_sparse(texts) @ coef` (coef: one row per sparse feature), summed straight
        from the blocks' entries: no sparse matrix is built, whose construction and checks cost
        more than the arithmetic for the few short texts of an intake batch."""
        texts = clip(texts)
        cfg = self.config
        out = np.zeros((len(texts), coef.shape[1]), dtype=np.float64)
        offset = 0
        for block, weight in ((self.word, cfg.word_weight), (self.char, cfg.char_weight)):
            rows, cols, data = tfidf_entries(block, texts, weight)
            offset, start = offset + len(block.vocabulary_), offset
            if not len(rows):
                continue
            # float32 entries, as in the matrix of `transform_sparse`; rows come sorted, so
            # each row's terms are one run: summed by reduceat
            terms = data.astype(np.float32)[:, None] * coef[cols + start]
            first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            out[rows[first]] += np.add.reduceat(terms, first, axis=0)
        return out

    def _sparse_blocks(self, texts: list[str]) -> list[Any]:
        cfg = self.config
        return [
            tfidf(self.word, texts, cfg.word_weight),
            tfidf(self.char, texts, cfg.char_weight),
        ]

    def transform(self, texts: list[str], embeddings: np.ndarray | None = None) -> sp.csr_matrix:
        """Features of `texts`; pass precomputed `embeddings` to skip the encoder."""
        texts = clip(texts)
        cfg = self.config
        blocks = self._sparse_blocks(texts)
        if cfg.embedding_weight:
            emb = embed(texts, encoders=cfg.encoders) if embeddings is None else embeddings
            blocks.append(sp.csr_matrix(emb * np.float32(cfg.embedding_weight)))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    # -- persistence: plain data only -------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able metadata, arrays) that `restore` turns back into this featurizer."""
        meta = {
            "config": self.config.as_dict(),
            "word_vocabulary": _vocab_list(self.word),
            "char_vocabulary": _vocab_list(self.char),
        }
        arrays = {
            "word_idf": self.word.idf_.astype(np.float32),
            "char_idf": self.char.idf_.astype(np.float32),
        }
        return meta, arrays

    @classmethod
    def restore(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Featurizer:
        f = cls(FeatureConfig.from_dict(meta["config"]))
        f.word = TfidfBlock(
            "word",
            f.config.word_ngrams,
            {t: i for i, t in enumerate(meta["word_vocabulary"])},
            arrays["word_idf"].astype(np.float64),
        )
        f.char = TfidfBlock(
            "char_wb",
            f.config.char_ngrams,
            {t: i for i, t in enumerate(meta["char_vocabulary"])},
            arrays["char_idf"].astype(np.float64),
        )
        return f


class TfidfBlock:
    """A fitted, sublinear, L2-normed TF-IDF vectoriser as plain data (analyser kind, n-gram
    range, vocabulary, idf), with the analyser of scikit-learn's `word` (WORD_PATTERN,
    lower-cased) and `char_wb`. `tfidf(block, texts)` gives its matrix."""

    def __init__(
        self,
        analyzer: str,
        ngram_range: tuple[int, int],
        vocabulary: dict[str, int],
        idf: np.ndarray,
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.vocabulary_ = vocabulary
        self.idf_ = idf

    @classmethod
    def fit(
        cls, analyzer: str, ngram_range: tuple[int, int], texts: list[str], min_df: int = 1
    ) -> TfidfBlock:
        """Vocabulary (sorted, as scikit-learn's) and smooth idf — ln((1+n)/(1+df)) + 1 — of
        `texts`, like `TfidfVectorizer(analyzer, ngram_range, min_df).fit(texts)`."""
        analyze = cls(analyzer, ngram_range, {}, np.zeros(0)).build_analyzer()
        df: dict[str, int] = {}
        for text in texts:
            for term in set(analyze(text)):
                df[term] = df.get(term, 0) + 1
        terms = sorted(t for t, k in df.items() if k >= min_df)
        counts = np.array([df[t] for t in terms], dtype=np.float64)
        idf = np.log((1 + len(texts)) / (1 + counts)) + 1.0
        return cls(analyzer, ngram_range, {t: i for i, t in enumerate(terms)}, idf)

    def build_analyzer(self) -> Callable[[str], list[str]]:
        lo, hi = self.ngram_range
        if self.analyzer == "word":
            find = re.compile(WORD_PATTERN).findall

            def words(text: str) -> list[str]:
                toks = find(text.lower())
                out = list(toks) if lo == 1 else []
                for n in range(max(lo, 2), min(hi, len(toks)) + 1):
                    out.extend(map(" ".join, zip(*(toks[i:] for i in range(n)), strict=False)))
                return out

            return words

        def char_wb(text: str) -> list[str]:
            out: list[str] = []
            for w in text.lower().split():
                w = f" {w} "
                for n in range(lo, hi + 1):
                    if len(w) <= n:  # a padded word shorter than n counts once, whole
                        out.append(w)
                        break
                    out.extend(w[i : i + n] for i in range(len(w) - n + 1))
            return out

        return char_wb


def tfidf(vec: TfidfBlock, texts: list[str], weight: float = 1.0) -> sp.csr_matrix:
    """`vec.transform(texts) * weight` for a fitted, sublinear, L2-normed vectoriser, without
    scikit-learn's per-call input validation — which costs more than the arithmetic for the few
    short texts of an intake batch. Same analyser, vocabulary and idf, so the same numbers."""
    n = len(texts)
    rows, ind, data = tfidf_entries(vec, texts, weight)
    ptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    shape = (n, len(vec.vocabulary_))
    return sp.csr_matrix((data.astype(np.float32), ind, ptr), shape=shape, dtype=np.float32)


def tfidf_entries(
    vec: TfidfBlock, texts: list[str], weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero entries of `tfidf(vec, texts, weight)` as (rows, columns, values), in CSR
    order (by row, then column). Character n-grams (`char_wb`) are found with NumPy
    (`_CharGrams`), not a Python loop."""
    n, width = len(texts), len(vec.vocabulary_)
    cache = vec.__dict__.setdefault("_paydesk_fast", {})
    if vec.analyzer == "char_wb" and vec.ngram_range[0] == 1:
        grams = cache.get("grams")
        if grams is None:
            grams = cache["grams"] = _CharGrams(vec.vocabulary_, vec.ngram_range[1])
        keys = grams.keys(texts, width)
    else:
        analyze = cache.get("analyze")
        if analyze is None:
            analyze = cache["analyze"] = vec.build_analyzer()
        get = vec.vocabulary_.get
        found: list[int] = []
        for r, text in enumerate(texts):
            base = r * width
            found.extend(base + j for j in map(get, analyze(text)) if j is not None)
        keys = np.asarray(found, dtype=np.int64)
    # count (row, column) pairs at once: sorted unique keys give CSR order
    uniq, counts = np.unique(keys, return_counts=True)
    rows, cols = np.divmod(uniq, max(width, 1))
    ind = cols.astype(np.int32)
    data = (np.log(counts.astype(np.float64)) + 1.0) * vec.idf_[ind]
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n))
    norms[norms == 0] = 1.0
    data *= (weight / norms)[rows]
    return rows, ind, data


_B = np.uint64(0x100000001B3)  # FNV prime: the base of the polynomial n-gram hash


class _CharGrams:
    """scikit-learn's `char_wb` analyser (lower-cased words padded with one space, every n-gram
    of 1..max_n inside a padded word; a padded word shorter than n counts once, whole) done with
    arrays: each n-gram gets a 64-bit polynomial hash of its code points and length, and the
    vocabulary is a sorted array of the same hashes. Returns `row * width + column` keys."""

    def __init__(self, vocabulary: dict[str, int], max_n: int) -> None:
        self.max_n = max_n
        terms = list(vocabulary)
        hashes = np.array([self._hash_one(t) for t in terms], dtype=np.uint64)
        order = np.argsort(hashes)
        self.hashes = hashes[order]
        self.columns = np.array([vocabulary[t] for t in terms], dtype=np.int64)[order]

    @staticmethod
    def _hash_one(term: str) -> int:
        h = 0
        for ch in term:
            h = (h * int(_B) + ord(ch)) & 0xFFFFFFFFFFFFFFFF
        return h ^ (len(term) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)

    def keys(self, texts: list[str], width: int) -> np.ndarray:
        words = [(r, w) for r, text in enumerate(texts) for w in text.lower().split()]
        if not words:
            return np.zeros(0, dtype=np.int64)
        joined = "".join(f" {w} " for _, w in words)
        cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(
            np.uint64
        )
        lengths = np.array([len(w) + 2 for _, w in words], dtype=np.int64)
        word_of = np.repeat(np.arange(len(words)), lengths)
        row_of_word = np.array([r for r, _ in words], dtype=np.int64)
        tagged, owner = [], []  # every n-gram's tagged hash, and the word it lies in
        h = np.zeros(len(cp), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, self.max_n + 1):
                m = len(cp) - n + 1
                if m <= 0:
                    break
                # h[p] = hash of cp[p : p + n], built from the (n-1)-gram hash at p
                h = h[:m] * _B + cp[n - 1 : n - 1 + m]
                inside = word_of[:m] == word_of[n - 1 : n - 1 + m]
                tagged.append(h[inside] ^ np.uint64(n * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))
                owner.append(word_of[:m][inside])
        # one vocabulary lookup for all lengths (a short text's cost is NumPy calls, not data)
        found = np.concatenate(tagged)
        pos = np.searchsorted(self.hashes, found)
        pos[pos == len(self.hashes)] = 0
        hit = self.hashes[pos] == found
        return row_of_word[np.concatenate(owner)[hit]] * width + self.columns[pos[hit]]


def _vocab_list(v: TfidfBlock) -> list[str]:
    terms = [""] * len(v.vocabulary_)
    for term, i in v.vocabulary_.items():
        terms[i] = term
    return terms
