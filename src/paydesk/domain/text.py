"""Text helpers shared by search and classification: language guess and tokenisation.

Chinese runs are segmented with jieba (search mode, so both "退款" and "退款申请" match);
other text is lower-cased and split on non-word characters. The same tokens feed SQLite FTS5
and PostgreSQL full text, so both databases rank the same way.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

from paydesk.domain import heap

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def detect_locale(text: str, default: str = "en") -> str:
    """'zh-CN' when CJK ideographs are a noticeable share of the letters, else 'en'."""
    if not text:
        return default
    sample = text[:2000]
    cjk = sum(len(m) for m in _CJK.findall(sample))
    letters = sum(map(str.isalpha, sample))  # C loop: intake asks this of every message
    if cjk and cjk * 3 >= letters * 1 or cjk >= 4:
        return "zh-CN"
    return "en" if letters else default


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    # payment words jieba would otherwise split ("验证码", "助记词", "到账"…); loaded wherever
    # text is tokenised, so every process (server, CLI, tests) indexes and queries alike
    jieba.load_userdict(str(Path(__file__).with_name("payments_userdict.txt")))
    heap.loaded_for_good()
    return jieba


def tokens(text: str) -> list[str]:
    """Search tokens: lower-case words; Chinese runs segmented (search mode)."""
    out: list[str] = []
    pos = 0
    for m in _CJK.finditer(text):
        if m.start() > pos:
            out.extend(w.lower() for w in _WORD.findall(text[pos : m.start()]))
        out.extend(w for w in _jieba().cut_for_search(m.group(0)) if w.strip())
        pos = m.end()
    if pos < len(text):
        out.extend(w.lower() for w in _WORD.findall(text[pos:]))
    return out


def search_text(text: str, limit: int = 20000) -> str:
    """Space-joined tokens for an index column (bounded so a huge body cannot bloat the index)."""
    return " ".join(tokens(text[:limit]))
