"""Knowledge-base use cases: import/export, the editor, the public help center, feedback.

Every write bumps the `kb_version` counter in the same transaction; each process's search index
polls that counter (`services.assistant`), so a CLI import reaches a running server in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from paydesk.assistant.articles import ArticleData, ArticleFormatError, dump, parse, validate
from paydesk.assistant.search import Doc
from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.permissions import Perm
from paydesk.domain.text import search_text
from paydesk.services import audit
from paydesk.services.actors import Actor, system_actor
from paydesk.services.context import AppContext
from paydesk.store.base import utcnow
from paydesk.store.kb import KB_VERSION_COUNTER, KbArticle, KbArticleVersion, KbFeedback
from paydesk.store.search import query_tokens
from paydesk.store.workspace import Counter

WORKSPACE = 1  # the public help center and the assistant serve the default workspace


# ---------- version counter ----------
def kb_version(session: Session) -> int:
    return int(session.scalar(select(Counter.value).where(Counter.name == KB_VERSION_COUNTER)) or 0)


def _bump(ctx: AppContext, session: Session) -> None:
    res = session.execute(
        update(Counter).where(Counter.name == KB_VERSION_COUNTER).values(value=Counter.value + 1)
    )
    if res.rowcount == 0:  # type: ignore[attr-defined]
        session.add(Counter(name=KB_VERSION_COUNTER, value=1))


def _notify(ctx: AppContext) -> None:
    holder = ctx.extras.get("kb_index")
    if holder is not None:
        holder.mark_dirty()


# ---------- writes ----------
def _index_text(data: ArticleData) -> str:
    return _segmented(f"{data.title} {' '.join(data.tags)} {data.body}")


@lru_cache(maxsize=4096)
def _segmented(text: str) -> str:
    # re-importing a folder re-reads every article; segmenting only changed ones keeps it fast
    return search_text(text)


def _upsert(
    session: Session, data: ArticleData, editor: str, workspace_id: int
) -> tuple[str, KbArticle]:
    """Insert or update one article by slug; a new version row only when something changed."""
    art = session.scalar(
        select(KbArticle).where(KbArticle.workspace_id == workspace_id, KbArticle.slug == data.slug)
    )
    now = utcnow()
    if art is None:
        art = KbArticle(workspace_id=workspace_id, slug=data.slug, version=1, created_at=now)
        action = "created"
    else:
        same = (
            art.title == data.title
            and art.body == data.body
            and art.locale == data.locale
            and art.category == data.category
            and list(art.tags) == data.tags
            and art.translation_of == data.translation_of
            and art.status == data.status
            and art.visibility == data.visibility
        )
        if same:
            return "unchanged", art
        art.version += 1
        action = "updated"
    art.title, art.body, art.locale = data.title, data.body, data.locale
    art.category, art.tags, art.translation_of = data.category, data.tags, data.translation_of
    art.status, art.visibility = data.status, data.visibility
    art.search_text = _index_text(data)
    art.updated_at = now
    session.add(art)
    session.flush()
    session.add(
        KbArticleVersion(
            article_id=art.id,
            version=art.version,
            title=art.title,
            body=art.body,
            status=art.status,
            editor=editor,
            created_at=now,
        )
    )
    return action, art


def import_files(
    ctx: AppContext, files: Iterable[Path], *, workspace_id: int = WORKSPACE
) -> dict[str, Any]:
    """Import Markdown article files (re-import updates by id). One transaction: a file that
    fails to parse is reported and skipped, the others are imported.

    Returns {"created", "updated", "unchanged", "failed", "errors": [{"file", "error"}]}.
    """
    counts: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "errors": []}
    parsed: list[tuple[Path, ArticleData]] = []
    seen: dict[str, Path] = {}
    for f in sorted(files):
        try:
            data = parse(f.read_text(encoding="utf-8"))
            if data.slug in seen:
                raise ArticleFormatError(f"id {data.slug!r} is also used by {seen[data.slug].name}")
        except (ArticleFormatError, UnicodeDecodeError, OSError) as exc:
            counts["failed"] += 1
            counts["errors"].append({"file": str(f), "error": str(exc)})
            continue
        seen[data.slug] = f
        parsed.append((f, data))
    if not parsed:
        return counts
    actor = system_actor(workspace_id)
    with ctx.uow() as uow:
        for _, data in parsed:
            action, art = _upsert(uow.session, data, "import", workspace_id)
            counts[action] += 1
        if counts["created"] or counts["updated"]:
            _bump(ctx, uow.session)
            audit.record(
                uow.session,
                actor,
                "kb.import",
                object_type="kb",
                details={k: counts[k] for k in ("created", "updated", "unchanged", "failed")},
            )
            uow.on_commit(lambda: _notify(ctx))
    return counts


def import_path(ctx: AppContext, path: Path) -> dict[str, Any]:
    """`paydesk kb import PATH`: one .md file, or every .md under a folder (recursively)."""
    if path.is_dir():
        files = [p for p in path.rglob("*.md") if p.is_file()]
    elif path.is_file():
        files = [path]
    else:
        raise NotFound(f"{path} does not exist")
    return import_files(ctx, files)


def export_path(ctx: AppContext, dest: Path, *, workspace_id: int = WORKSPACE) -> int:
    """Write every article as `<id>.md` into `dest` (the format `import` reads). Returns count."""
    dest.mkdir(parents=True, exist_ok=True)
    with ctx.read() as s:
        arts = list(s.scalars(select(KbArticle).where(KbArticle.workspace_id == workspace_id)))
        for a in arts:
            (dest / f"{a.slug}.md").write_text(dump(_data(a)), encoding="utf-8")
    return len(arts)


def _data(a: KbArticle) -> ArticleData:
    return ArticleData(
        slug=a.slug,
        title=a.title,
        locale=a.locale,
        body=a.body,
        category=a.category,
        tags=list(a.tags),
        translation_of=a.translation_of,
        status=a.status,
        visibility=a.visibility,
    )


def save_article(ctx: AppContext, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    """Create or update an article from the editor (needs kb.write); keeps a version row."""
    actor.require(Perm.KB_WRITE)
    try:
        data = validate(
            ArticleData(
                slug=str(fields.get("slug") or ""),
                title=str(fields.get("title") or ""),
                locale=str(fields.get("locale") or ""),
                body=str(fields.get("body") or "").replace("\r\n", "\n"),
                category=str(fields.get("category") or "general"),
                tags=list(fields.get("tags") or []),
                translation_of=fields.get("translation_of") or None,
                status=str(fields.get("status") or "draft"),
                visibility=str(fields.get("visibility") or "public"),
            )
        )
    except ArticleFormatError as exc:
        raise InvalidInput(str(exc)) from None
    with ctx.uow() as uow:
        action, art = _upsert(uow.session, data, f"{actor.kind}:{actor.id}", actor.workspace_id)
        if action != "unchanged":
            _bump(ctx, uow.session)
            audit.record(
                uow.session,
                actor,
                f"kb.article_{action}",
                object_type="kb_article",
                object_id=art.id,
                details={"slug": art.slug, "version": art.version, "status": art.status},
            )
            uow.on_commit(lambda: _notify(ctx))
        result = {"action": action, **article_dict(art)}
    return result


def record_feedback(
    ctx: AppContext, slug: str, helpful: bool, comment: str = "", locale: str = "en"
) -> None:
    """A reader's "was this helpful?" on a published public article (anonymous)."""
    clean = ctx.redactor.redact(comment[:1000]).text  # readers paste card numbers anywhere
    with ctx.uow() as uow:
        art = _public(uow.session, slug)
        if art is None:
            raise NotFound("article not found")
        uow.session.add(
            KbFeedback(
                article_id=art.id,
                helpful=helpful,
                comment=clean,
                locale=locale if locale in ("en", "zh-CN") else "en",
                created_at=utcnow(),
            )
        )
        col = KbArticle.helpful_yes if helpful else KbArticle.helpful_no
        uow.session.execute(update(KbArticle).where(KbArticle.id == art.id).values({col: col + 1}))


# ---------- reads ----------
def article_dict(a: KbArticle) -> dict[str, Any]:
    return {
        "id": a.slug,
        "title": a.title,
        "locale": a.locale,
        "body": a.body,
        "category": a.category,
        "tags": list(a.tags),
        "translation_of": a.translation_of,
        "status": a.status,
        "visibility": a.visibility,
        "version": a.version,
        "helpful_yes": a.helpful_yes,
        "helpful_no": a.helpful_no,
        "updated_at": a.updated_at.isoformat(),
    }


def _public(session: Session, slug: str, workspace_id: int = WORKSPACE) -> KbArticle | None:
    return session.scalar(
        select(KbArticle).where(
            KbArticle.workspace_id == workspace_id,
            KbArticle.slug == slug[:120].lower(),
            KbArticle.status == "published",
            KbArticle.visibility == "public",
        )
    )


def public_article(ctx: AppContext, slug: str) -> dict[str, Any]:
    """A published public article with its translations ({locale: slug}); NotFound otherwise."""
    with ctx.read() as s:
        art = _public(s, slug)
        if art is None:
            raise NotFound("article not found")
        root = art.translation_of or art.slug
        family = s.scalars(
            select(KbArticle).where(
                KbArticle.workspace_id == art.workspace_id,
                KbArticle.status == "published",
                KbArticle.visibility == "public",
                (KbArticle.slug == root) | (KbArticle.translation_of == root),
            )
        )
        out = article_dict(art)
        out["translations"] = {a.locale: a.slug for a in family if a.slug != art.slug}
        return out


def public_articles(
    ctx: AppContext, locale: str, category: str | None = None
) -> list[dict[str, Any]]:
    """Published public articles of a locale (optionally one category), by category and title."""
    with ctx.read() as s:
        stmt = select(KbArticle).where(
            KbArticle.workspace_id == WORKSPACE,
            KbArticle.locale == locale,
            KbArticle.status == "published",
            KbArticle.visibility == "public",
        )
        if category:
            stmt = stmt.where(KbArticle.category == category[:60])
        arts = s.scalars(stmt.order_by(KbArticle.category, KbArticle.title).limit(2000))
        return [
            {k: v for k, v in article_dict(a).items() if k != "body"} | {"lead": a.body[:400]}
            for a in arts
        ]


def admin_articles(
    ctx: AppContext, actor: Actor, *, q: str = "", locale: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    """Every article of the workspace for the editor list; `q` uses the database full text."""
    if not actor.is_staff:
        raise NotFound("not found")
    with ctx.read() as s:
        stmt = select(KbArticle).where(KbArticle.workspace_id == actor.workspace_id)
        if locale:
            stmt = stmt.where(KbArticle.locale == locale)
        toks = query_tokens(q)
        if toks:
            stmt = stmt.where(KbArticle.id.in_(_fts_ids(ctx, toks)))
        arts = s.scalars(stmt.order_by(KbArticle.updated_at.desc()).limit(limit))
        return [article_dict(a) for a in arts]


def _fts_ids(ctx: AppContext, toks: list[str]) -> Any:
    if ctx.dialect == "postgresql":
        tsq = " & ".join(toks[:-1] + [toks[-1] + ":*"])
        return (
            select(KbArticle.id)
            .where(
                text("to_tsvector('simple', kb_articles.search_text) @@ to_tsquery('simple', :q)")
            )
            .params(q=tsq)
        )
    fts = " AND ".join(f'"{t}"' for t in toks[:-1]) + (" AND " if len(toks) > 1 else "")
    fts += f'"{toks[-1]}"*'
    return (
        select(text("rowid"))
        .select_from(text("kb_fts"))
        .where(text("kb_fts MATCH :fts").bindparams(fts=fts))
    )


def admin_article(ctx: AppContext, actor: Actor, slug: str) -> dict[str, Any]:
    """One article with its version history, for the editor."""
    if not actor.is_staff:
        raise NotFound("article not found")
    with ctx.read() as s:
        art = s.scalar(
            select(KbArticle).where(
                KbArticle.workspace_id == actor.workspace_id, KbArticle.slug == slug[:120]
            )
        )
        if art is None:
            raise NotFound("article not found")
        versions = s.scalars(
            select(KbArticleVersion)
            .where(KbArticleVersion.article_id == art.id)
            .order_by(KbArticleVersion.version.desc())
            .limit(50)
        )
        feedback = s.scalars(
            select(KbFeedback)
            .where(KbFeedback.article_id == art.id)
            .order_by(KbFeedback.id.desc())
            .limit(50)
        )
        out = article_dict(art)
        out["versions"] = [
            {"version": v.version, "editor": v.editor, "status": v.status, "at": v.created_at}
            for v in versions
        ]
        out["feedback"] = [
            {"helpful": f.helpful, "comment": f.comment, "locale": f.locale, "at": f.created_at}
            for f in feedback
        ]
        return out


def feedback_summary(ctx: AppContext, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """Articles by reader feedback, least helpful first (supervisors review these)."""
    actor.require(Perm.KB_WRITE)
    with ctx.read() as s:
        total = KbArticle.helpful_yes + KbArticle.helpful_no
        rows = s.scalars(
            select(KbArticle)
            .where(KbArticle.workspace_id == actor.workspace_id, total > 0)
            .order_by((KbArticle.helpful_no * 1.0 / total).desc(), total.desc())
            .limit(limit)
        )
        return [
            {
                "id": a.slug,
                "title": a.title,
                "locale": a.locale,
                "yes": a.helpful_yes,
                "no": a.helpful_no,
            }
            for a in rows
        ]


def kb_counts(ctx: AppContext) -> dict[str, int]:
    with ctx.read() as s:
        rows = s.execute(select(KbArticle.status, func.count()).group_by(KbArticle.status)).all()
        return {str(k): int(v) for k, v in rows}


def load_docs(ctx: AppContext, workspace_id: int = WORKSPACE) -> tuple[int, list[Doc]]:
    """(kb version, every published article) for the search index; version read first so a
    change committed during the load triggers another rebuild rather than being missed."""
    with ctx.read() as s:
        version = kb_version(s)
        rows = s.execute(
            select(
                KbArticle.slug,
                KbArticle.locale,
                KbArticle.title,
                KbArticle.body,
                KbArticle.category,
                KbArticle.tags,
                KbArticle.translation_of,
                KbArticle.visibility,
            )
            .where(KbArticle.workspace_id == workspace_id, KbArticle.status == "published")
            .order_by(KbArticle.id)
        ).all()
    docs = [
        Doc(
            slug=r[0],
            locale=r[1],
            title=r[2],
            body=r[3],
            category=r[4],
            tags=tuple(r[5] or ()),
            translation_of=r[6],
            visibility=r[7],
        )
        for r in rows
    ]
    return version, docs


def read_version(ctx: AppContext) -> int:
    with ctx.read() as s:
        return kb_version(s)
