"""Run Alembic migrations programmatically (serve, demo and tests all call `upgrade`)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from paydesk.store.db import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']\s*$""", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)
_DEPENDS = re.compile(r"^depends_on\s*=\s*(.+)$", re.M)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


@functools.cache
def script_graph() -> dict[str, frozenset[str]]:
    """Each migration script's revision → the revisions it stands on (`down_revision` and
    `depends_on`), read from those lines (empty when a script has another shape: then alembic
    decides)."""
    graph: dict[str, frozenset[str]] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return {}
        depends = _DEPENDS.search(source)
        parents = set(_QUOTED.findall(down.group(1)))
        if depends is not None:
            parents.update(_QUOTED.findall(depends.group(1)))
        graph[rev.group(1)] = frozenset(parents)
    return graph


def at_heads(engine: Engine) -> bool:
    """True when every migration script is applied: nothing to upgrade. Checked without
    importing alembic or loading its scripts (~0.2 s that every CLI command paid). Alembic
    stamps only the newest revisions; what they stand on is applied too."""
    graph = script_graph()
    if not graph:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        stamped = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    applied: set[str] = set()
    todo = list(stamped)
    while todo:
        rev = todo.pop()
        if rev in applied:
            continue
        if rev not in graph:
            return False  # a revision these scripts do not know: let alembic say so
        applied.add(rev)
        todo.extend(graph[rev])
    return applied == set(graph)


def upgrade(url: str, engine: Engine | None = None, *, secret_key: str | None = None) -> None:
    """Bring the database to the newest revision of every branch (idempotent). `secret_key`:
    the app secret, for migrations that seal data with it (0014: TOTP secrets)."""
    if engine is not None and at_heads(engine):
        return
    from alembic import command

    cfg = alembic_config(url)
    if secret_key:
        cfg.attributes["secret_key"] = secret_key
    if engine is not None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    else:
        command.upgrade(cfg, "heads")
