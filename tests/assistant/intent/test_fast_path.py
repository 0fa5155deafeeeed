"""The intake hot path of the intent model: the validation-free TF-IDF (and its NumPy character
n-grams) must give scikit-learn's numbers exactly, and the cheap screen head must route like the
full model on held-out phrasings while sparing the sentence encoder for most messages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from paydesk.assistant import encoder
from paydesk.assistant.intent.dataset import LabelledData, read_labelled_csv
from paydesk.assistant.intent.features import (
    WORD_PATTERN,
    FeatureConfig,
    Featurizer,
    TfidfBlock,
    tfidf,
)
from paydesk.assistant.intent.model import IntentModel, TrainConfig, train
from paydesk.assistant.intent.store import BUNDLED_CSV, train_bundled
from paydesk.assistant.intent.taxonomy import category_of
from paydesk.domain.tickets import Category
from paydesk.services.intent import (
    SCREEN_THRESHOLD,
    _categories_of,
    _category_from,
    _routing_many,
)

from .conftest import HELDOUT

ODD_TEXTS = [
    "",
    "   ",
    "a",
    "I  lost\tmy\n\ncard",
    "我的refund怎么还没到？？",
    "Ünïcödé ÀCCENTS and ÉMOJI 😀😀 ok",
    "x" * 3000,
    "a\ud800b lone surrogate",
    "TP20261102-88341 ¥1,234.56 2026年11月2日",
    "ab cd ef gh",
]


@pytest.fixture(scope="module")
def fitted() -> Featurizer:
    data = read_labelled_csv(BUNDLED_CSV)
    return Featurizer(FeatureConfig(embedding_weight=0)).fit(data.texts)


def sklearn_twin(block: TfidfBlock) -> TfidfVectorizer:
    """scikit-learn's vectoriser with the block's vocabulary and idf: the reference."""
    vec = TfidfVectorizer(
        analyzer=block.analyzer,
        ngram_range=block.ngram_range,
        token_pattern=WORD_PATTERN if block.analyzer == "word" else None,
        sublinear_tf=True,
        dtype=np.float32,
        vocabulary=dict(block.vocabulary_),
    )
    vec.idf_ = block.idf_
    return vec


def test_prediction_does_not_import_scikit_learn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a fresh interpreter loads a saved model and predicts: scikit-learn stays out of memory
    model = train_bundled()
    model.save(tmp_path / "m")
    code = (
        "import sys; from pathlib import Path\n"
        "from paydesk.assistant.intent.model import IntentModel\n"
        f"m = IntentModel.load(Path({str(tmp_path / 'm')!r}))\n"
        "assert m.screen_proba(['refund late']) is not None\n"
        "print(any(k == 'sklearn' or k.startswith('sklearn.') for k in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("block", ["word", "char"])
def test_fast_tfidf_equals_scikit_learn(fitted: Featurizer, block: str) -> None:
    vec = getattr(fitted, block)
    texts = ODD_TEXTS + read_labelled_csv(HELDOUT).texts
    safe = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]  # sklearn side
    want = sklearn_twin(vec).transform(safe).toarray()
    got = tfidf(vec, safe, 1.0).toarray()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-6
    # a weight scales the block, and a lone surrogate does not break the fast path
    assert np.allclose(tfidf(vec, safe[:5], 2.0).toarray(), 2 * want[:5], atol=1e-6)
    assert tfidf(vec, ["a\ud800b"], 1.0).shape == (1, len(vec.vocabulary_))


def test_char_grams_of_short_words_count_like_scikit_learn(fitted: Featurizer) -> None:
    # padded words shorter than the largest n ("a" → " a ") are the edge of char_wb
    for text in ["a", "a b", "ab", "abc d", "一 二三", "abcdefg hi"]:
        want = sklearn_twin(fitted.char).transform([text]).toarray()
        assert np.abs(tfidf(fitted.char, [text]).toarray() - want).max() < 1e-6, text


def test_default_model_has_a_screen_that_routes_without_the_encoder() -> None:
    model = train_bundled()
    assert model.screen is not None
    held = read_labelled_csv(HELDOUT)
    screen = model.screen_proba(held.texts)
    full = model.proba(held.texts)
    assert screen is not None and screen.shape == full.shape
    sure = right = 0
    for proba, label in zip(screen, held.labels, strict=True):
        cat, conf = _category_from(model, proba)
        if conf >= SCREEN_THRESHOLD:
            sure += 1
            right += cat == category_of(label)
    # most messages are decided by the screen, and what it decides is right
    assert sure >= 0.75 * len(held)
    assert right >= 0.97 * sure


def test_cascade_pays_for_the_encoder_only_when_the_screen_is_unsure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = train_bundled()
    calls: list[int] = []
    real = encoder.encode

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr(encoder, "encode", counting)

    class Holder:
        def get(self) -> IntentModel:
            return model

    classify = _routing_many(Holder(), lambda _t, _l: Category.EDUCATION)  # type: ignore[arg-type]
    held = read_labelled_csv(HELDOUT)
    items = [(t, "en") for t in held.texts]
    cats = classify(items)
    assert len(cats) == len(items)
    # one encoder call for the unsure ones together, far fewer texts than the batch
    assert len(calls) <= 1 and sum(calls) <= 0.25 * len(items)
    # routing agrees with the category of the label wherever the label has one
    labelled = [(c, category_of(lab)) for c, lab in zip(cats, held.labels, strict=True)]
    known = [(c, want) for c, want in labelled if want is not None]
    assert sum(c == want for c, want in known) >= 0.97 * len(known)


def test_screen_survives_save_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = LabelledData(
        ["refund late", "退款没到", "password reset", "重置密码", "app crashes", "应用闪退"] * 3,
        ["refund", "refund", "password", "password", "app", "app"] * 3,
    )
    model = train(data, TrainConfig(screen=True))
    model.save(tmp_path / "m")
    loaded = IntentModel.load(tmp_path / "m")
    assert loaded.screen is not None
    a, b = model.screen_proba(["退款"]), loaded.screen_proba(["退款"])
    assert a is not None and b is not None and np.allclose(a, b, atol=1e-6)
    # without the flag there is no screen, and callers fall back to the full model
    plain = train(data)
    assert plain.screen is None and plain.screen_proba(["x"]) is None


def test_pure_python_analysers_match_scikit_learn(fitted: Featurizer) -> None:
    texts = ODD_TEXTS[:6] + ["abcdefg hi", "I lost my card 卡丢了"]
    for block in (fitted.word, fitted.char):
        ref = sklearn_twin(block).build_analyzer()
        ours = block.build_analyzer()
        for t in texts:
            assert sorted(ours(t)) == sorted(ref(t)), (block.analyzer, t)


def test_a_server_trains_the_default_model_in_a_child_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from paydesk.assistant.intent.store import _current, _train_in_child, model_dir

    path = model_dir(tmp_path, "topay")
    assert _current(path) is None
    assert _train_in_child(path)
    model = _current(path)  # saved by the child, current, and with its cheap head
    assert model is not None and model.screen is not None
    assert model.meta.get("source") == "bundled"


def test_the_training_child_runs_the_code_of_its_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A second copy of the package (a git worktree, a bench of an older commit) trains with
    its own code, not the installed one: else the child's model has another fingerprint and
    the parent trains in-process after all (scikit-learn, ~85 MB kept by a server)."""
    import paydesk

    shutil.copytree(
        Path(paydesk.__file__).parent,
        tmp_path / "copy" / "paydesk",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = (
        "import subprocess, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'copy')!r})\n"
        "from paydesk.assistant.intent.store import _child_env\n"
        "child = 'import paydesk; print(paydesk.__file__)'\n"
        "out = subprocess.run([sys.executable, '-c', child], env=_child_env(),\n"
        "                     capture_output=True, text=True, check=True)\n"
        "print(out.stdout.strip())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(tmp_path / "copy" / "paydesk" / "__init__.py")


@pytest.mark.parametrize(
    ("analyzer", "ngrams", "min_df"),
    [("char_wb", (2, 4), 1), ("char_wb", (1, 5), 2), ("word", (1, 2), 1)],
)
def test_block_fit_equals_scikit_learn_fit(
    analyzer: str, ngrams: tuple[int, int], min_df: int
) -> None:
    texts = ODD_TEXTS[:7] + read_labelled_csv(HELDOUT).texts[:60] + [" ··"]
    texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    block = TfidfBlock.fit(analyzer, ngrams, texts, min_df)
    ref = TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        min_df=min_df,
        token_pattern=WORD_PATTERN if analyzer == "word" else None,
        sublinear_tf=True,
        dtype=np.float32,
    ).fit(texts)
    assert block.vocabulary_ == ref.vocabulary_
    assert np.allclose(block.idf_, ref.idf_)
    assert np.abs(tfidf(block, texts).toarray() - ref.transform(texts).toarray()).max() < 1e-6


def test_search_and_prediction_do_not_import_scikit_learn() -> None:
    code = (
        "import sys\n"
        "from paydesk.assistant.search import KbIndex, stopwords\n"
        "assert 'the' in stopwords()\n"
        "print(any(k == 'sklearn' or k.startswith('sklearn.') for k in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stopword_list_is_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from paydesk.assistant.search import _OWN_STOPWORDS, stopwords

    keep = {"not", "no", "nothing", "never", "call", "find", "first", "last"}
    assert stopwords() == _OWN_STOPWORDS | (ENGLISH_STOP_WORDS - keep)


def test_sparse_scores_equal_the_product_with_the_sparse_matrix(fitted: Featurizer) -> None:
    width = fitted.n_sparse_features
    coef = np.random.default_rng(7).standard_normal((width, 5)).astype(np.float32)
    # odd texts include empty rows (nothing in the vocabulary) between filled ones
    for texts in (ODD_TEXTS, ODD_TEXTS[:1], ["", "refund"], ["refund", ""], ["zzz qqq"]):
        want = np.asarray(fitted.transform_sparse(texts) @ coef)
        got = fitted.sparse_scores(texts, coef)
        assert got.shape == (len(texts), 5)
        assert np.abs(got - want).max() < 1e-5, texts


def test_batch_categories_match_one_by_one_sums() -> None:
    model = train_bundled()
    probas = np.random.default_rng(3).dirichlet(np.ones(len(model.labels)), size=40)
    # ties between categories go to the one whose first label comes first
    tie = np.zeros(len(model.labels))
    firsts: dict[Category, int] = {}
    for i, label in enumerate(model.labels):
        cat = category_of(label)
        if cat is not None:
            firsts.setdefault(cat, i)
    (c1, i1), (c2, i2) = sorted(firsts.items(), key=lambda kv: kv[1])[:2]
    tie[i1] = tie[i2] = 0.5
    probas = np.vstack([probas, tie])
    cats, sure = _categories_of(model, probas)
    for k, proba in enumerate(probas):
        totals: dict[Category, float] = {}
        for label, p in zip(model.labels, proba, strict=True):
            cat = category_of(label)
            if cat is not None:
                totals[cat] = totals.get(cat, 0.0) + float(p)
        best = max(totals, key=lambda c: totals[c])
        assert cats[k] == best and abs(sure[k] - totals[best]) < 1e-9
    assert cats[-1] == c1 != c2
