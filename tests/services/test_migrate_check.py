"""The cheap "already at the heads?" check that lets every command skip alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from paydesk.services.context import AppContext
from paydesk.store.migrate import alembic_config, at_heads, script_graph, upgrade


def test_the_script_graph_is_alembics() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = {s.revision: s for s in scripts.walk_revisions()}
    assert set(script_graph()) == set(revisions) and len(revisions) > 10
    for rev, parents in script_graph().items():
        s = revisions[rev]
        expected = set(s._normalized_down_revisions) | set(s._normalized_resolved_dependencies)
        assert parents == expected, rev


def test_a_migrated_database_is_at_heads(ctx: AppContext) -> None:
    assert at_heads(ctx.engine)


def test_a_partly_migrated_or_empty_database_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'partial.db'}"
    engine = create_engine(url)
    assert not at_heads(engine)  # no alembic_version table at all
    command.upgrade(alembic_config(url), "0001_core")
    assert not at_heads(engine)  # only the trunk
    command.upgrade(alembic_config(url), "0009_refund_jobs")  # and 0006, which it depends on
    assert not at_heads(engine)
    upgrade(url, engine)
    assert at_heads(engine)
    engine.dispose()
