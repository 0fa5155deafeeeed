"""Markdown article files: YAML front matter + body, parsed and written (no I/O here).

---
id: refund-times
title: How long does a refund take?
locale: en
category: transactions
tags: [refund, bank card]
translation_of: null        # or the id of the same article in another locale
status: published           # optional: draft | published
visibility: public          # optional: public | internal
---
Body in Markdown…
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

LOCALES = ("zh-CN", "en")
STATUSES = ("draft", "published")
VISIBILITIES = ("public", "internal")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,119}$")
MAX_BODY = 200_000
_LOCALE_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN", "en": "en", "en-us": "en"}


class ArticleFormatError(ValueError):
    pass


@dataclass(slots=True)
class ArticleData:
    slug: str
    title: str
    locale: str
    body: str
    category: str = "general"
    tags: list[str] = field(default_factory=list)
    translation_of: str | None = None
    status: str = "published"
    visibility: str = "public"


def normalise_locale(value: object) -> str:
    loc = _LOCALE_ALIASES.get(str(value or "").strip().lower())
    if loc not in LOCALES:
        raise ArticleFormatError(f"locale must be one of {', '.join(LOCALES)}, not {value!r}")
    return loc


def validate(data: ArticleData) -> ArticleData:
    """Normalise and check the fields; raises ArticleFormatError with a readable reason."""
    data.slug = str(data.slug or "").strip().lower()
    if not SLUG.match(data.slug):
        raise ArticleFormatError(
            f"id {data.slug!r} must be a slug: lower-case letters, digits, - or _ (≤ 120)"
        )
    data.title = " ".join(str(data.title or "").split())
    if not data.title or len(data.title) > 300:
        raise ArticleFormatError("title is required (≤ 300 characters)")
    data.locale = normalise_locale(data.locale)
    if len(data.body) > MAX_BODY:
        raise ArticleFormatError(f"body is longer than {MAX_BODY} characters")
    data.category = (str(data.category or "general").strip().lower() or "general")[:60]
    data.tags = [str(t).strip()[:60] for t in (data.tags or []) if str(t).strip()][:30]
    tr = str(data.translation_of or "").strip().lower() or None
    if tr is not None and not SLUG.match(tr):
        raise ArticleFormatError(f"translation_of {tr!r} is not an article id")
    data.translation_of = tr if tr != data.slug else None
    if data.status not in STATUSES:
        raise ArticleFormatError(f"status must be one of {', '.join(STATUSES)}")
    if data.visibility not in VISIBILITIES:
        raise ArticleFormatError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    return data


def parse(text: str) -> ArticleData:
    """Parse one article file; raises ArticleFormatError on a missing or bad front matter."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    m = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)(.*)$", text, re.S)
    if not m:
        raise ArticleFormatError("missing YAML front matter (a block between --- lines)")
    try:
        meta: Any = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ArticleFormatError(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleFormatError("front matter must be a mapping")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,，]", tags)]
    if not isinstance(tags, list):
        raise ArticleFormatError("tags must be a list")
    return validate(
        ArticleData(
            slug=str(meta.get("id") or meta.get("slug") or ""),
            title=str(meta.get("title") or ""),
            locale=str(meta.get("locale") or ""),
            body=m.group(2).strip() + "\n",
            category=str(meta.get("category") or "general"),
            tags=[str(t) for t in tags],
            translation_of=(str(meta["translation_of"]) if meta.get("translation_of") else None),
            status=str(meta.get("status") or "published").lower(),
            visibility=str(meta.get("visibility") or "public").lower(),
        )
    )


def dump(data: ArticleData) -> str:
    """The file text `parse` reads back to the same data."""
    meta: dict[str, Any] = {
        "id": data.slug,
        "title": data.title,
        "locale": data.locale,
        "category": data.category,
        "tags": list(data.tags),
    }
    if data.translation_of:
        meta["translation_of"] = data.translation_of
    if data.status != "published":
        meta["status"] = data.status
    if data.visibility != "public":
        meta["visibility"] = data.visibility
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).strip()
    return f"---\n{front}\n---\n\n{data.body.strip()}\n"
