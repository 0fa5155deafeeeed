"""The knowledge base aggregate: articles (one row per locale), their versions, reader feedback.

An article's public id is its `slug` (the `id` of the Markdown front matter), unique in a
workspace; a translation points at the slug of the article it translates (`translation_of`).
`search_text` holds the jieba tokens of title, tags and body, written by Python, so SQLite FTS5
(`kb_fts`) and PostgreSQL full text (a GIN index) match the same tokens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow

KB_VERSION_COUNTER = "kb_version"  # row in `counters`, bumped by every KB change


class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slug"),
        Index("ix_kb_articles_list", "workspace_id", "locale", "status", "category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    slug: Mapped[str] = mapped_column(String(120))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(60), default="general")
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft | published
    visibility: Mapped[str] = mapped_column(String(16), default="public")  # public | internal
    translation_of: Mapped[str | None] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbArticleVersion(Base):
    """Every saved state of an article (the editor shows the history; nothing is overwritten)."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    editor: Mapped[str] = mapped_column(String(200), default="")  # "agent:3", "import", ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbFeedback(Base):
    """One "was this helpful?" answer from a reader of the help center."""

    __tablename__ = "kb_feedback"
    __table_args__ = (Index("ix_kb_feedback_article", "article_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    helpful: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(String(1000), default="")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
