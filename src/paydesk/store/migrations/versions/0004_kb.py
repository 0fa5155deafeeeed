"""knowledge base: articles, versions, feedback, full-text index

Revision ID: 0004_kb
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paydesk.store.base import UTCDateTime

revision = "0004_kb"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("translation_of", sa.String(length=120), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("helpful_yes", sa.Integer(), nullable=False),
        sa.Column("helpful_no", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_kb_articles_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("workspace_id", "slug", name=op.f("uq_kb_articles_workspace_id_slug")),
    )
    op.create_index(
        "ix_kb_articles_list", "kb_articles", ["workspace_id", "locale", "status", "category"]
    )
    op.create_table(
        "kb_article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("editor", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_versions_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_versions")),
        sa.UniqueConstraint(
            "article_id", "version", name=op.f("uq_kb_article_versions_article_id_version")
        ),
    )
    op.create_table(
        "kb_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_feedback_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback")),
    )
    op.create_index("ix_kb_feedback_article", "kb_feedback", ["article_id", "id"])
    _search_upgrade()


def _search_upgrade() -> None:
    """Full-text index over kb_articles.search_text (jieba tokens written by Python)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_kb_articles_fts ON kb_articles "
            "USING gin (to_tsvector('simple', search_text))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE kb_fts USING fts5(search_text, content='kb_articles', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER kb_fts_ai AFTER INSERT ON kb_articles BEGIN "
        "INSERT INTO kb_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER kb_fts_ad AFTER DELETE ON kb_articles BEGIN "
        "INSERT INTO kb_fts(kb_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER kb_fts_au AFTER UPDATE OF search_text ON kb_articles BEGIN "
        "INSERT INTO kb_fts(kb_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO kb_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS kb_fts")
    op.drop_index("ix_kb_feedback_article", table_name="kb_feedback")
    op.drop_table("kb_feedback")
    op.drop_table("kb_article_versions")
    op.drop_index("ix_kb_articles_list", table_name="kb_articles")
    op.drop_table("kb_articles")
