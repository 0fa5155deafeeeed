"""Test fixtures: a real database per test (SQLite file and PostgreSQL), the real app, real Redis.

Every test that takes `ctx` (or anything built on it) runs twice: on SQLite and on PostgreSQL.
PostgreSQL comes from PAYDESK_TEST_DATABASE_URL (set by scripts/test-services.sh / .ci/run);
when it is missing the PostgreSQL half fails loudly unless PAYDESK_SKIP_POSTGRES=1 is set by hand.
"""

from __future__ import annotations

import atexit
import os

# argon2id at a test cost (same algorithm and code path; production keeps the library defaults):
# set before paydesk is imported, and inherited by the servers tests start
os.environ.setdefault("PAYDESK_ARGON2_TIME_COST", "1")
os.environ.setdefault("PAYDESK_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("PAYDESK_ARGON2_PARALLELISM", "1")
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paydesk.services.bootstrap import prepare, seed
from paydesk.services.context import AppContext, build_context
from paydesk.settings import Settings
from paydesk.store.db import make_engine, normalize_url

PG_URL = os.environ.get("PAYDESK_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PAYDESK_TEST_REDIS_URL", "")
SKIP_PG = os.environ.get("PAYDESK_SKIP_POSTGRES") == "1"

_TEMPLATE_SQLITE: dict[str, Path] = {}
_PG_READY: dict[str, str] = {}


def _worker(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


def _sqlite_template(tmp_root: Path) -> Path:
    """Migrate once per process; each test gets a byte copy (fast and fully isolated)."""
    if "path" not in _TEMPLATE_SQLITE:
        path = tmp_root / "template.db"
        settings = Settings(database_url=f"sqlite:///{path}", data_dir=tmp_root / "template-data")
        ctx = build_context(settings)
        prepare(ctx)
        ctx.engine.dispose()
        _TEMPLATE_SQLITE["path"] = path
    return _TEMPLATE_SQLITE["path"]


def _pg_database(worker: str) -> str:
    """One migrated database per xdist worker; tables are emptied before each test."""
    if worker in _PG_READY:
        return _PG_READY[worker]
    base = make_url(normalize_url(PG_URL))
    name = f"paydesk_test_{worker}_{os.getpid()}"  # unique: parallel runs never collide
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # a test database need not survive a power cut: commits don't wait for the WAL flush
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    _PG_READY[worker] = url
    atexit.register(_drop_pg, base, name)
    return url


def _drop_pg(base: object, name: str) -> None:
    try:
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")  # type: ignore[attr-defined]
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass


# a migrated worker database → its tables that tests write (listed once, after migrating)
_PG_TABLES: dict[str, list[str]] = {}


def _pg_migrate(ctx: AppContext) -> None:
    prepare(ctx)
    with ctx.engine.connect() as conn:
        _PG_TABLES[ctx.settings.database_url] = sorted(
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                    "AND tablename NOT IN ('alembic_version', 'workspaces', 'counters')"
                )
            )
        )


def _pg_reset(ctx: AppContext) -> None:
    """Empty what the last test wrote, in one transaction: find the tables holding rows and the
    sequences that moved (one round trip each), DELETE those rows with foreign-key triggers off
    and restart those sequences. TRUNCATE of every table cost ~1 s per test (a new file per
    table, synced at commit); this costs ~20 ms. A table with many rows is truncated instead."""
    names = _PG_TABLES[ctx.settings.database_url]
    probe = " UNION ALL ".join(
        f'(SELECT \'{n}\', EXISTS (SELECT 1 FROM "{n}" OFFSET 5000) FROM "{n}" LIMIT 1)'
        for n in names
    )
    with ctx.engine.begin() as conn:
        dirty = conn.execute(text(probe)).all()
        moved = conn.execute(
            text(
                "SELECT sequencename FROM pg_sequences "
                "WHERE schemaname='public' AND last_value IS NOT NULL"
            )
        ).scalars()
        big = [n for n, many in dirty if many]
        if big:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in big) + " CASCADE"))
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers
        for n, many in dirty:
            if not many:
                conn.execute(text(f'DELETE FROM "{n}"'))
        for seq in moved:
            start = " WITH 10001" if seq == "ticket_number_seq" else ""
            conn.execute(text(f'ALTER SEQUENCE "{seq}" RESTART{start}'))


@pytest.fixture(scope="session", autouse=True)
def _bundled_intent_model() -> None:
    """Train the default intent model once per test process, in process: every test's fresh data
    dir then saves it from memory instead of training it in a child process (what a server does,
    covered by tests/assistant/intent/test_fast_path.py)."""
    import fcntl
    import hashlib

    from paydesk.assistant.intent import store
    from paydesk.assistant.intent.model import IntentModel

    # the model depends on the bundled CSV and the training code: one trained copy per version,
    # shared by the xdist workers and the browser run through a file (trained once, under a lock)
    code = hashlib.sha256()
    for src in sorted(Path(store.__file__).parent.parent.rglob("*.py")):
        code.update(src.read_bytes())
    key = f"{store.bundled_fingerprint()}-{code.hexdigest()[:12]}"
    cache = Path(__file__).resolve().parents[1] / "var" / "cache" / f"test-intent-{key}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / "test-intent.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (cache / "done").exists():
            with store._bundled_lock:
                store._bundled.clear()
                store._bundled[store.bundled_fingerprint()] = IntentModel.load(cache)
            return
        model = store.train_bundled()
        model.save(cache)
        (cache / "done").touch()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        if SKIP_PG:
            pytest.skip("PAYDESK_SKIP_POSTGRES=1")
        pytest.fail("PostgreSQL is required: set PAYDESK_TEST_DATABASE_URL (make test does)")
    return request.param


@pytest.fixture
def settings(
    db_kind: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if db_kind == "sqlite":
        template = _sqlite_template(tmp_path_factory.getbasetemp())
        db = tmp_path / "paydesk.db"
        shutil.copyfile(template, db)
        url = f"sqlite:///{db}"
    else:
        url = _pg_database(_worker(request))
    return Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key="test-secret-" + uuid.uuid4().hex,
        base_url="http://testserver",
    )


@pytest.fixture
def ctx(settings: Settings, db_kind: str) -> Iterator[AppContext]:
    """A context on a migrated, seeded database. Migrations run once per process and database
    (the SQLite template; each worker's PostgreSQL database); every test then starts from the
    seeded rows only (a copy of the template; on PostgreSQL the last test's rows are deleted
    and the seed runs again)."""
    engine = make_engine(settings.database_url, pool_size=5)
    c = build_context(settings, engine=engine)
    if db_kind == "postgresql":
        if settings.database_url not in _PG_TABLES:
            _pg_migrate(c)
        _pg_reset(c)
        seed(c)
    yield c
    engine.dispose()


_APPS: dict[tuple[object, ...], object] = {}


@pytest.fixture
def app(ctx: AppContext):  # type: ignore[no-untyped-def]
    """The real app on this test's context. One FastAPI object per process and settings shape,
    handed the test's context (`app.state.ctx`, all it reads per request): FastAPI derives each
    route's parameter handling per app object, ~0.2 s of CPU that every test paid again."""
    from paydesk.web.app import create_app

    key = (ctx.settings.max_request_bytes, ctx.settings.secure_cookies)
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = create_app(ctx=ctx)
    app.state.ctx = ctx  # type: ignore[attr-defined]
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin_token(ctx: AppContext) -> str:
    from paydesk.services.auth import create_token

    return create_token(ctx, "admin", "tests").token


@pytest.fixture
def api(client, admin_token: str):  # type: ignore[no-untyped-def]
    """TestClient with an admin bearer token."""
    client.headers["Authorization"] = f"Bearer {admin_token}"
    return client


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.fail("Redis is required: set PAYDESK_TEST_REDIS_URL (make test does)")
    return REDIS_URL
