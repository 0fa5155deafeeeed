"""Text features of the intent models: word n-grams + character n-grams + sentence embeddings.

- word TF-IDF (unigrams and bigrams): CJK ideographs count as one token each, so Chinese gets
  character uni/bigrams without a segmenter, and a run of Latin letters or digits is one token;
- character TF-IDF (`char_wb`, 1–5): robust to typos, inflections and mixed Chinese-English;
- the multilingual sentence embedding (`paydesk.assistant.encoder`, 512 dims), scaled so it
  weighs about as much as the two sparse blocks together: paraphrases that share no words.

Each sparse block is L2-normalised by the vectoriser, the embedding is unit length, so the weight
of a block is its scale factor. The fitted state is plain data (vocabularies, idf arrays), saved as
JSON + NumPy arrays — no pickle — and restored into the same scikit-learn vectorisers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# one CJK ideograph, or a run of other word characters (so "I", "5" and "pin" are tokens too)
WORD_PATTERN = rf"(?u)[{_CJK}]|[^\W{_CJK}]+"
EMBED_BATCH = 256
MAX_CHARS = 1_000  # the head of a long message carries its intent; keeps features fast

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 5)
    char_min_df: int = 2
    word_weight: float = 1.0
    char_weight: float = 1.0
    embedding_weight: float = 2.0  # 0 turns the sentence encoder off

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        return cls(
            word_ngrams=(int(d["word_ngrams"][0]), int(d["word_ngrams"][1])),
            char_ngrams=(int(d["char_ngrams"][0]), int(d["char_ngrams"][1])),
            char_min_df=int(d["char_min_df"]),
            word_weight=float(d["word_weight"]),
            char_weight=float(d["char_weight"]),
            embedding_weight=float(d["embedding_weight"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _word_vectorizer(
    cfg: FeatureConfig, vocabulary: dict[str, int] | None = None
) -> TfidfVectorizer:
    return TfidfVectorizer(
        token_pattern=WORD_PATTERN,
        ngram_range=cfg.word_ngrams,
        sublinear_tf=True,
        lowercase=True,
        dtype=np.float32,
        vocabulary=vocabulary,
    )


def _char_vectorizer(
    cfg: FeatureConfig, vocabulary: dict[str, int] | None = None
) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=cfg.char_ngrams,
        min_df=1 if vocabulary is not None else cfg.char_min_df,
        sublinear_tf=True,
        lowercase=True,
        dtype=np.float32,
        vocabulary=vocabulary,
    )


def clip(texts: list[str]) -> list[str]:
    return [t[:MAX_CHARS] for t in texts]


def embed(texts: list[str], progress: Progress | None = None) -> np.ndarray:
    """Sentence embeddings in batches (so a progress bar can move); (n, dim) float32."""
    from paydesk.assistant import encoder

    out = np.zeros((len(texts), encoder.dimension()), dtype=np.float32)
    if progress:
        progress(0, len(texts))
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        out[start : start + len(batch)] = encoder.encode(batch)
        if progress:
            progress(start + len(batch), len(texts))
    return out


class Featurizer:
    """Fit on training texts, then turn any texts into one sparse feature matrix."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.word = _word_vectorizer(config)
        self.char = _char_vectorizer(config)

    def fit(self, texts: list[str]) -> Featurizer:
        texts = clip(texts)
        self.word.fit(texts)
        try:
            self.char.fit(texts)
        except ValueError:  # tiny corpora: no n-gram reaches min_df
            self.char = _char_vectorizer(
                FeatureConfig(**{**self.config.as_dict(), "char_min_df": 1})
            )
            self.char.fit(texts)
        return self

    @property
    def n_features(self) -> int:
        n = len(self.word.vocabulary_) + len(self.char.vocabulary_)
        if self.config.embedding_weight:
            from paydesk.assistant import encoder

            n += encoder.dimension()
        return n

    def transform(self, texts: list[str], embeddings: np.ndarray | None = None) -> sp.csr_matrix:
        """Features of `texts`; pass precomputed `embeddings` to skip the encoder."""
        texts = clip(texts)
        cfg = self.config
        blocks: list[Any] = [
            self.word.transform(texts) * np.float32(cfg.word_weight),
            self.char.transform(texts) * np.float32(cfg.char_weight),
        ]
        if cfg.embedding_weight:
            emb = embed(texts) if embeddings is None else embeddings
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
        f.word = _word_vectorizer(f.config, {t: i for i, t in enumerate(meta["word_vocabulary"])})
        f.word.idf_ = arrays["word_idf"].astype(np.float64)
        f.char = _char_vectorizer(f.config, {t: i for i, t in enumerate(meta["char_vocabulary"])})
        f.char.idf_ = arrays["char_idf"].astype(np.float64)
        return f


def _vocab_list(v: TfidfVectorizer) -> list[str]:
    terms = [""] * len(v.vocabulary_)
    for term, i in v.vocabulary_.items():
        terms[i] = term
    return terms
