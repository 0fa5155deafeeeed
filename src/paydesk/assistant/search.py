"""Hybrid knowledge-base search: BM25 over jieba tokens + character n-grams + sentence embeddings.

The index is an immutable in-memory snapshot of the published articles, rebuilt when the KB
changes (see `IndexHolder`). Three signals, fused into one score per article:

* `lexical` — BM25 over `domain.text.tokens` (the same tokens the database FTS indexes hold),
  title and tags weighted up; plus `coverage`, the share of the query's IDF mass found in the
  article (a query whose key words appear nowhere in the KB is probably not answerable).
* `chars` — cosine of character 2–4-gram TF-IDF vectors: survives typos ("pasword", "refnud")
  and unsegmented Chinese.
* `semantic` — cosine of USE-multilingual embeddings of the query and of the article's title and
  lead: paraphrases, colloquial wording, mixed Chinese-English and cross-lingual queries.

Translations form a family (the root slug); a family scores as its best member and is shown in
the reader's locale when a translation exists, so an English question can find a Chinese article
and vice versa.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import math
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import snowballstemmer

from paydesk.assistant import blas, encoder
from paydesk.domain import heap
from paydesk.domain.text import tokens

# fusion weights, calibrated on tests/fixtures/assistant/eval.jsonl (see docs/subsystems)
W_SEMANTIC = 0.55
W_CHARS = 0.25
W_LEXICAL = 0.20
_K1, _B = 1.2, 0.75
_TITLE_BOOST, _TAG_BOOST = 3, 2

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARK = re.compile(r"[#>*_`|~]+")
_SPACE = re.compile(r"\s+")
# scipy/scikit-learn load on first use: importing them costs about a second, which every CLI
# command and worker would otherwise pay at start-up through the plugin registry


_LOCAL = threading.local()


@lru_cache(maxsize=20_000)
def _stem(word: str) -> str:
    """Snowball stem of an English word. A stemmer object holds the word it works on in its
    attributes, so each thread has its own (requests and an index rebuild stem concurrently);
    cached, as the same few thousand words come back in every query and article."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(word))


# question words and fillers: they appear in many titles ("怎么办", "how do I") and would
# otherwise decide the lexical ranking of short questions
_OWN_STOPWORDS = frozenset(
    """a an the i me my mine we our you your it its is are was were be been being am do does
    did doing have has had having can could would should will shall may might must to of for in
    on at by with from about into as and or but if so not no than then there here this that
    these those what which who whom whose how why when where please hi hello thanks thank help
    just still yet any some get got also very too again really pls plz u ur im dont cant
    怎么 怎么办 怎样 如何 什么 为什么 为啥 啥 吗 呢 吧 啊 呀 了 的 地 得 着 过 我 我的 我们 你 你们
    long take takes taking many much need want know tell mean means ever
    您 他 她 它 是 在 有 要 想 能 会 可以 可 请问 请 一下 这 那 这个 那个 哪 哪里 哪儿 就 都 也 还
    又 和 与 及 或 把 被 给 让 对 从 到了 一直 老是 总是 好 谢谢 你好 您好 帮 帮我""".split()
)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    # scikit-learn's English list, kept as data: importing scikit-learn costs a process ~90 MB
    lines = Path(__file__).with_name("stopwords_en.txt").read_text("utf-8").splitlines()
    english = frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))
    keep = {"not", "no", "nothing", "never", "call", "find", "first", "last"}
    return _OWN_STOPWORDS | (english - keep)


_SENT = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+|\n+")


def plain_text(markdown: str) -> str:
    """Markdown to readable plain text (links keep their label, markup characters go)."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = _MD_MARK.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def paragraphs(markdown: str) -> list[str]:
    """Non-empty plain-text blocks of an article body (headings and list items are blocks)."""
    out = []
    for block in re.split(r"\n\s*\n|\n(?=#)|\n(?=\s*[-*] )|\n(?=\s*\d+\. )", markdown):
        p = plain_text(block)
        if p:
            out.append(p)
    return out


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def terms(text: str) -> list[str]:
    """Ranking terms: `domain.text.tokens` without stopwords, English words stemmed."""
    out = []
    for t in tokens(normalise(text)):
        if not t.strip() or t in stopwords():
            continue
        out.append(_stem(t) if t.isascii() and t.isalpha() and len(t) > 3 else t)
    return out


@dataclass(frozen=True, slots=True)
class Doc:
    slug: str
    locale: str
    title: str
    body: str
    category: str = "general"
    tags: tuple[str, ...] = ()
    translation_of: str | None = None
    visibility: str = "public"

    @property
    def lead(self) -> str:
        return plain_text(self.body)[:400]

    def sections(self, limit: int = 8) -> list[str]:
        """Heading + start of each `#` section: what a long article answers besides its lead."""
        out = []
        parts = re.split(r"\n(?=#{1,6} )", "\n" + self.body.strip())
        for part in parts[1:]:
            head, _, rest = part.partition("\n")
            text = plain_text(rest)[:120]
            out.append(f"{plain_text(head)}: {text}" if text else plain_text(head))
        return [s for s in out if s][:limit]

    def embed_key(self) -> str:
        return hashlib.sha1(f"{self.title}\x00{self.body}".encode()).hexdigest()


@lru_cache(maxsize=4000)
def _doc_terms(title: str, tags: tuple[str, ...], body: str) -> tuple[str, ...]:
    """Weighted ranking terms of an article; cached, so a rebuild after one edit re-segments
    only that article (jieba is the slow part of a build). Interned: jieba returns a new string
    per occurrence, the KB has a few thousand distinct terms."""
    head = terms(title)
    tag_terms = [t for tag in tags for t in terms(tag)]
    body_terms = terms(plain_text(body)[:20000])
    return tuple(sys.intern(t) for t in head * _TITLE_BOOST + tag_terms * _TAG_BOOST + body_terms)


@dataclass(slots=True)
class Hit:
    slug: str
    title: str
    locale: str
    category: str
    score: float
    semantic: float
    chars: float
    lexical: float
    coverage: float
    doc: Doc = field(repr=False)


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    margin: float  # fused score of the best family minus the second
    unknown_share: float  # share of the query's tokens the KB has never seen
    agreement: float = 0.0  # how many of the 3 signals rank the best family first (0..1)


class _Dequantised:
    """An article's int8 title/lead rows in the embedding cache; `np.asarray` gives float32."""

    __slots__ = ("q", "scale")

    def __init__(self, q: np.ndarray, scale: np.ndarray) -> None:
        self.q, self.scale = q, scale

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out: np.ndarray = self.q.astype(np.float32) * self.scale
        return out if dtype is None else out.astype(dtype)


EmbedCache = dict[str, tuple[Any, np.ndarray]]  # key -> (title+lead rows, sections)
# embeddings by content hash, shared by every index of the process (a rebuild re-encodes only
# new or edited articles); pruned to the live articles when it outgrows them
_SHARED_CACHE: EmbedCache = {}


class KbIndex:
    """An immutable snapshot; build once, query from many threads."""

    CANDIDATES = 40  # articles re-scored on their sections
    SECTION_WEIGHT = 0.5  # how much a better-matching section lifts the semantic score
    FAMILY_WEIGHT = 0.3  # share of a family's score taken from its best translation
    SECTIONS_UP_TO = 3000  # articles; larger KBs skip section vectors (build time)
    # Above this many articles the semantic signal is computed in two stages: a projection of
    # the lead vectors onto their top principal directions for every article, then the exact
    # cosine (title and lead, stored as float16) for the best EXACT_CANDIDATES by fused score.
    # Smaller KBs score every article exactly (the two stages would change nothing measurable).
    EXACT_UP_TO = 2000
    PROJECTED_DIM = 128
    EXACT_CANDIDATES = 300

    def __init__(self, docs: Sequence[Doc], cache: EmbedCache | None = None) -> None:
        self.docs = list(docs)
        self.cache: EmbedCache = {} if cache is None else cache
        n = len(self.docs)
        self.by_slug = {d.slug: i for i, d in enumerate(self.docs)}
        # family root: follow translation_of one step (a translation of a translation is rare)
        self.family = [
            d.translation_of if d.translation_of in self.by_slug else d.slug for d in self.docs
        ]
        self.members: dict[str, dict[str, int]] = {}
        for i, d in enumerate(self.docs):
            self.members.setdefault(self.family[i], {}).setdefault(d.locale, i)
        self.size = n
        if not n:  # an empty KB: `search` answers [] before touching any matrix
            return
        self._build_lexical()
        self._build_typos()
        self._build_chars()
        self._build_semantic()
        self.public = np.array([d.visibility == "public" for d in self.docs], dtype=bool)
        self.all_public = bool(self.public.all())  # then a public search masks nothing

    # ---------- build ----------
    def _doc_tokens(self, d: Doc) -> tuple[str, ...]:
        return _doc_terms(d.title, d.tags, d.body)

    def _build_lexical(self) -> None:
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = []
        for i, d in enumerate(self.docs):
            counts: dict[int, int] = {}
            toks = self._doc_tokens(d)
            lengths.append(len(toks))
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                rows.append(i)
                cols.append(j)
                vals.append(c)
        n = max(len(self.docs), 1)
        from scipy import sparse

        tf = sparse.csr_matrix(
            (np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, max(len(vocab), 1))
        )
        df = np.bincount(np.array(cols, dtype=np.int64), minlength=max(len(vocab), 1))
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.max_idf = float(math.log(1 + (n + 0.5) / 0.5))
        avg = (sum(lengths) / len(lengths)) if lengths else 1.0
        dl = np.array(lengths or [1], dtype=np.float32)
        norm = _K1 * (1 - _B + _B * dl / max(avg, 1.0))
        tf = tf.tocoo()
        w = tf.data * (_K1 + 1) / (tf.data + norm[tf.row])
        # term-major (CSR over terms): a query reads only the rows of its own terms
        shape_t = (tf.shape[1], tf.shape[0])
        self.bm25_t = sparse.csr_matrix((w * self.idf[tf.col], (tf.col, tf.row)), shape=shape_t)

        self.vocab = vocab

    def _lexical(self, known: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every article for the query's known terms, and the IDF mass of those terms
        each article contains. Reads the terms' posting lists straight from the term-major CSR
        arrays (scipy's row indexing and sum build three intermediate matrices per query)."""
        m = self.bm25_t
        ptr = m.indptr
        starts, ends = ptr[known], ptr[np.asarray(known) + 1]
        docs = np.concatenate([m.indices[a:b] for a, b in zip(starts, ends, strict=True)])
        weights = np.concatenate([m.data[a:b] for a, b in zip(starts, ends, strict=True)])
        n = len(self.docs)
        lexical = np.bincount(docs, weights=weights, minlength=n).astype(np.float32)
        idf = np.repeat(self.idf[known], ends - starts)
        matched = np.bincount(docs, weights=idf, minlength=n).astype(np.float32)
        return lexical, matched

    def _build_typos(self) -> None:
        """Single-deletion variants of the Latin-script terms (SymSpell-style), so a query word
        one edit away from a KB word ("pasword", "recieve") still matches it."""
        dels: dict[str, str] = {}
        for t in self.vocab:
            if t.isascii() and t.isalpha() and len(t) >= 4:
                for k in range(len(t)):
                    dels.setdefault(t[:k] + t[k + 1 :], t)
        self.deletes = dels

    def _correct(self, t: str) -> str:
        if t in self.vocab or not (t.isascii() and t.isalpha() and len(t) >= 4):
            return t
        if t in self.deletes:  # the query lost a letter
            return self.deletes[t]
        for k in range(len(t)):  # the query has an extra or swapped letter
            v = t[:k] + t[k + 1 :]
            if v in self.vocab:
                return v
            if v in self.deletes:
                return self.deletes[v]
        return t

    def _char_text(self, d: Doc) -> str:
        return normalise(f"{d.title} {d.title} {' '.join(d.tags)} {d.lead[:200]}")

    def _build_chars(self) -> None:
        # scikit-learn's TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf)
        # as plain data (same vocabulary, idf and matrix), without importing scikit-learn
        from paydesk.assistant.intent.features import TfidfBlock, tfidf

        # "·" keeps the vocabulary non-empty when every article is a single character
        texts = [self._char_text(d) + " ··" for d in self.docs]
        block = TfidfBlock.fit("char_wb", (2, 4), texts)
        self.chars_t = tfidf(block, texts).T.tocsr()  # n-gram-major
        self._analyze = block.build_analyzer()
        self._grams: dict[str, int] = block.vocabulary_
        self._gram_idf = block.idf_.astype(np.float32)

    def _chars(self, q: str) -> np.ndarray:
        """Cosine of the query's character n-grams with every article (sklearn's transform,
        inlined: its per-call validation costs more than the arithmetic)."""
        counts: dict[int, int] = {}
        for g in self._analyze(q):
            j = self._grams.get(g)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return np.zeros(len(self.docs), dtype=np.float32)
        idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
        w = (1 + np.log(np.fromiter(counts.values(), np.float32, len(counts)))) * self._gram_idf[
            idx
        ]
        w /= np.linalg.norm(w)
        return _rows_dot(self.chars_t, idx, w, len(self.docs))

    def _build_semantic(self) -> None:
        # section vectors pay off on small and medium KBs; on huge ones they would make a
        # rebuild take minutes, so those rank on title + lead only
        with_sections = len(self.docs) <= self.SECTIONS_UP_TO
        keys = [d.embed_key() + ("s" if with_sections else "") for d in self.docs]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        for start in range(0, len(missing), 128):
            batch = missing[start : start + 128]
            texts: list[str] = []
            spans = []
            for i in batch:
                d = self.docs[i]
                # short texts: the encoder's cost grows with length, its meaning does not
                parts = [d.title, f"{d.title}. {d.lead[:240]}"]
                if with_sections:
                    parts += d.sections()
                spans.append((len(texts), len(parts)))
                texts += parts
            vecs = encoder.encode(texts)
            for (off, cnt), i in zip(spans, batch, strict=True):
                self.cache[keys[i]] = (vecs[off : off + 2], vecs[off + 2 : off + cnt])
        dim = encoder.dimension()
        self.emb: np.ndarray = np.zeros((len(self.docs), 2, dim), dtype=np.float32)
        chunks: list[np.ndarray] = []
        self.chunk_start = np.zeros(len(self.docs) + 1, dtype=np.int64)
        for i, k in enumerate(keys):
            main, sections = self.cache[k]
            self.emb[i] = np.asarray(main)
            chunks.append(sections)
            self.chunk_start[i + 1] = self.chunk_start[i] + len(sections)
        self.chunks = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
        # the cache now points into these matrices: one copy of every vector in memory
        for i, k in enumerate(keys):
            a, b = self.chunk_start[i], self.chunk_start[i + 1]
            self.cache[k] = (self.emb[i], self.chunks[a:b])
        self.emb = self.emb.reshape(-1, dim)  # rows: title_0, lead_0, title_1, ...
        self.proj: np.ndarray | None = None
        if len(self.docs) > self.EXACT_UP_TO:
            self._build_projection(keys)
        # memory follows the KB: drop embeddings of deleted/edited articles once they pile up
        if len(self.cache) > 1.5 * len(keys) + 1000:
            live = set(keys)
            for k in [k for k in self.cache if k not in live]:
                del self.cache[k]

    def _build_projection(self, keys: list[str]) -> None:
        """Large KBs: int8 title/lead vectors (a quarter of the memory) for exact re-scoring, and
        the lead vectors projected on the PROJECTED_DIM directions that carry most of their energy
        (uncentred, so dot products are kept) for the first, whole-KB stage: a query reads
        n x 128 float32 instead of 2n x 512 — 8x less memory traffic (98 % of the energy at 10k
        articles; the best candidates are re-scored exactly)."""
        dim = self.emb.shape[1]
        with blas.one_thread():
            lead = self.emb[1::2]
            gram = lead.T @ lead
            vals, vecs = np.linalg.eigh(gram)  # ascending
            r = min(self.PROJECTED_DIM, dim)
            self.proj = np.ascontiguousarray(vecs[:, ::-1][:, :r], dtype=np.float32)
            self.lead_p = np.ascontiguousarray(lead @ self.proj)
        # one translation per article (the first other member of its family), or itself
        partner = np.arange(len(self.docs))
        for members in self.members.values():
            ids = list(members.values())
            for i in ids:
                partner[i] = next((j for j in ids if j != i), i)
        self.partner = partner
        self.projected_energy = float(vals[::-1][:r].sum() / max(vals.sum(), 1e-9))
        del lead, gram
        # int8 with one scale per row in memory (a quarter of float32; numpy widens int8 to
        # float32 fast, unlike float16); cosines stay within ~0.005 of the float32 ones
        scale = np.abs(self.emb).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        self.emb_scale = scale.astype(np.float32)
        self.emb = np.round(self.emb / self.emb_scale[:, None]).astype(np.int8)
        # the embedding cache keeps float32 copies only of what is not in this index any more;
        # a rebuild re-derives these rows from the int8 ones (the same precision as the search)
        emb3 = self.emb.reshape(len(self.docs), 2, dim)
        sc3 = self.emb_scale.reshape(len(self.docs), 2, 1)
        for i, k in enumerate(keys):
            self.cache[k] = (_Dequantised(emb3[i], sc3[i]), self.cache[k][1])

    # ---------- query ----------
    def search(
        self,
        query: str,
        *,
        locale: str | None = None,
        limit: int = 5,
        include_internal: bool = False,
        qvec: np.ndarray | None = None,
    ) -> SearchResult:
        if not self.docs:
            return SearchResult([], 0.0, 1.0)
        q = normalise(query[:2000])
        qtoks = [self._correct(t) for t in dict.fromkeys(terms(q))][:64]
        known = [self.vocab[t] for t in qtoks if t in self.vocab]
        unknown = len(qtoks) - len(known)
        n = len(self.docs)
        if known:
            lexical, matched = self._lexical(known)
        else:
            lexical = np.zeros(n, dtype=np.float32)
            matched = np.zeros(n, dtype=np.float32)
        # unseen tokens weigh as much as the rarest known token: they are what the KB lacks
        total_idf = float(self.idf[known].sum()) + unknown * self.max_idf if qtoks else 1.0
        coverage = matched / max(total_idf, 1e-6)
        lex_norm = lexical / (lexical.max() + 1e-6) if lexical.size else lexical
        lex_norm = lex_norm * np.minimum(1.0, coverage * 2)  # a top BM25 of weak words is weak
        chars = self._chars(q)
        if qvec is None:
            qvec = _query_vector(query[:2000])
        with blas.one_thread():  # one query: threads only add contention
            if self.proj is None:
                semantic = (self.emb @ qvec).reshape(n, 2).max(axis=1)
            else:
                semantic = self.lead_p @ (qvec @ self.proj)
            fused = W_SEMANTIC * semantic + W_CHARS * chars + W_LEXICAL * lex_norm
            if not include_internal and not self.all_public:
                fused = np.where(self.public, fused, -1.0)
            if self.proj is not None:  # stage 1b: exact cosine for the best candidates
                k = min(self.EXACT_CANDIDATES, n)
                near = np.argpartition(-fused, k - 1)[:k]
                # with their translations: a family's score also reads its other members
                pick = np.zeros(n, dtype=bool)
                pick[near] = True
                pick[self.partner[near]] = True
                near = np.flatnonzero(pick)
                near = near[fused[near] >= 0]
                rows = np.stack([2 * near, 2 * near + 1], axis=1).ravel()
                exact = (self.emb[rows].astype(np.float32) @ qvec) * self.emb_scale[rows]
                exact = exact.reshape(-1, 2).max(axis=1)
                fused[near] += W_SEMANTIC * (exact - semantic[near])
                semantic[near] = exact
            # stage 2: the best candidates also match on their sections (long articles)
            k = min(self.CANDIDATES, n)
            cand = np.argpartition(-fused, k - 1)[:k]
            cand = cand[np.argsort(-fused[cand])]
            for i in cand:
                a, b = self.chunk_start[i], self.chunk_start[i + 1]
                if b > a and fused[i] >= 0:
                    best = float((self.chunks[a:b] @ qvec).max())
                    if best > semantic[i]:
                        gain = self.SECTION_WEIGHT * (best - semantic[i])
                        semantic[i] += gain
                        fused[i] += W_SEMANTIC * gain
        # families: the best member, helped by its translations (cross-lingual evidence)
        fam_score: dict[str, float] = {}
        fam_best: dict[str, int] = {}
        score = fused.item  # Python floats: numpy scalars cost more than this arithmetic
        for i in cand.tolist():
            sc = score(i)
            if sc < 0:
                continue
            fam = self.family[i]
            if fam in fam_best:
                continue
            member_scores = (score(j) for j in self.members[fam].values() if j != i)
            other = max((x for x in member_scores if x >= 0), default=None)
            if other is not None:
                sc = (1 - self.FAMILY_WEIGHT) * sc + self.FAMILY_WEIGHT * other
            fam_best[fam] = i
            fam_score[fam] = sc
        ranked = sorted(fam_score, key=lambda f: -fam_score[f])
        hits: list[Hit] = []
        for fam in ranked[:limit]:
            best = fam_best[fam]
            shown = best
            if locale and self.docs[best].locale != locale:
                alt = self.members.get(fam, {}).get(locale)
                if alt is not None and fused[alt] >= 0:
                    shown = alt
            d = self.docs[shown]
            hits.append(
                Hit(
                    slug=d.slug,
                    title=d.title,
                    locale=d.locale,
                    category=d.category,
                    score=fam_score[fam],
                    semantic=float(semantic[best]),
                    chars=float(chars[best]),
                    lexical=float(lex_norm[best]),
                    coverage=float(coverage[best]),
                    doc=d,
                )
            )
        scores = [fam_score[f] for f in ranked[:2]]
        margin = scores[0] - scores[1] if len(scores) > 1 else (scores[0] if scores else 0.0)
        agreement = 0.0
        if ranked:
            top = ranked[0]
            shown_ok = fused >= 0
            for signal in (semantic, chars, lex_norm):
                j = int(np.argmax(np.where(shown_ok, signal, -1.0)))
                agreement += self.family[j] == top
            agreement /= 3
        return SearchResult(hits, float(margin), unknown / max(len(qtoks), 1), agreement)


def _rows_dot(m: Any, rows: np.ndarray, w: np.ndarray, width: int) -> np.ndarray:
    """`m[rows].T @ w` for a CSR matrix `m` (float32, length `width`), gathered straight from
    its arrays: scipy's row indexing builds a new matrix and checks it, several times the cost
    of the arithmetic for the few rows of a query."""
    starts, ends = m.indptr[rows], m.indptr[rows + 1]
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(width, dtype=np.float32)
    # position of every stored entry of the chosen rows, row after row
    first = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    at = np.arange(total) + first
    vals = m.data[at] * np.repeat(w, lens)
    return np.bincount(m.indices[at], weights=vals, minlength=width).astype(np.float32)


@lru_cache(maxsize=4096)
def _query_vector(text: str) -> np.ndarray:
    """Embedding of a query; popular questions ("退款多久到账") repeat, the encoder is the
    costliest step of a search."""
    v = encoder.encode([text])[0]
    v.setflags(write=False)
    return v


@lru_cache(maxsize=2000)
def _sentences(body: str) -> tuple[tuple[str, str, float], ...]:
    """Sentences of an article body with their lower-case text and length penalty (cached for
    the articles people search most)."""
    found = [s for s in (x.strip() for x in _SENT.split(plain_text(body))) if len(s) >= 8][:60]
    return tuple((s, s.lower(), 1 + 0.01 * len(s)) for s in found)


@lru_cache(maxsize=256)
def _snippet_words(query: str) -> tuple[str, ...]:
    """The query's words for `snippet`: segmented once per query, not once per hit."""
    return tuple(t for t in dict.fromkeys(tokens(normalise(query[:500]))) if t not in stopwords())


def snippet(doc: Doc, query: str, width: int = 200) -> str:
    """The sentence of the article containing most query words, cut to `width`. Substring
    matching, so the article needs no segmentation at query time."""
    qt = _snippet_words(query)
    best, best_score = "", -1.0
    for s, low, penalty in _sentences(doc.body):
        score = sum(len(t) for t in qt if t in low) / penalty
        if score > best_score:
            best, best_score = s, score
    best = best or plain_text(doc.body)
    return best if len(best) <= width else best[: width - 1] + "…"


TRIM_AFTER_DOCS = 1000  # builds smaller than this leave little behind (~8 MB per 1,000 articles)


def _trim_heap(*, collect: bool = True) -> None:
    """Hand the build's freed temporaries back to the OS: glibc keeps freed heap pages mapped,
    so without this a server's resident memory stays at the build's peak (~80 MB more at
    10,000 articles). A no-op where malloc_trim does not exist. `collect=False`: a full
    collection just ran."""
    if collect:
        gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class IndexHolder:
    """The process's current `KbIndex`, rebuilt when the KB version in the database changes.

    `load()` returns (version, docs); `version()` is a cheap read of the version counter. A
    running server polls every `poll_seconds` (so a `paydesk kb import` in another process is
    searchable within seconds). A write in this process calls `mark_dirty()`: the next read
    waits for a snapshot that includes it (read-your-writes); otherwise readers keep using the
    previous snapshot while another thread rebuilds.
    """

    def __init__(
        self,
        load: Callable[[], tuple[int, list[Doc]]],
        version: Callable[[], int],
        *,
        poll_seconds: float = 2.0,
    ) -> None:
        self._load = load
        self._version = version
        self.poll_seconds = poll_seconds
        self._index: KbIndex | None = None
        self._built_version = -1
        self._checked_at = 0.0
        self._wanted = 1  # generation of local writes; a snapshot covers those before its build
        self._built = 0
        self._lock = threading.Lock()
        self._cache = _SHARED_CACHE

    def mark_dirty(self) -> None:
        self._wanted += 1

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild if the KB changed; True when a new snapshot was built."""
        stale = self._built < self._wanted
        now = time.monotonic()
        if not (force or stale or now - self._checked_at >= self.poll_seconds):
            return False
        if not self._lock.acquire(blocking=self._index is None or stale):
            return False  # a poll while another thread rebuilds: keep the old snapshot
        try:
            self._checked_at = time.monotonic()
            wanted = self._wanted
            if not (force or self._built < wanted) and self._version() == self._built_version:
                return False
            version, docs = self._load()
            replacing = self._index is not None
            self._index = KbIndex(docs, self._cache)
            self._built_version = version
            self._built = wanted
            big = len(docs) >= TRIM_AFTER_DOCS
            del docs
            # a settled server frees the old snapshot (one full collection, which the trim
            # below then need not repeat)
            collected = replacing and heap.replaced()
            if big:  # a full collection costs ~0.1–0.5 s in a big process: only worth it at scale
                _trim_heap(collect=not collected)
            return True
        finally:
            self._lock.release()

    def get(self) -> KbIndex:
        self.refresh()
        assert self._index is not None
        return self._index
