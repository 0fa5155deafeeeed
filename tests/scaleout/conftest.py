"""Scale-out fixtures: real `paydesk serve` processes on one PostgreSQL database and one Redis."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paydesk.services.context import AppContext, build_context
from paydesk.settings import Settings
from paydesk.store.db import normalize_url

PG_URL = os.environ.get("PAYDESK_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PAYDESK_TEST_REDIS_URL", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    urls: list[str]
    settings: Settings
    ctx: AppContext


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two app processes (`paydesk serve`, free ports) sharing a fresh PostgreSQL database and
    Redis under a unique prefix, plus an AppContext on the same database for test data."""
    if not PG_URL or not REDIS_URL:
        pytest.fail("scale-out tests need PAYDESK_TEST_DATABASE_URL and PAYDESK_TEST_REDIS_URL")
    base = make_url(normalize_url(PG_URL))
    name = f"paydesk_scaleout_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = base.set(database=name).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "PAYDESK_DATABASE_URL": db_url,
        "PAYDESK_REDIS_URL": REDIS_URL,
        "PAYDESK_REDIS_PREFIX": f"pdtest-{uuid.uuid4().hex[:8]}:",
        "PAYDESK_DATA_DIR": str(tmp_path / "data"),
        "PAYDESK_SECRET_KEY": secrets.token_urlsafe(32),
        "PAYDESK_LOG_LEVEL": "warning",
    }
    exe = str(Path(sys.executable).parent / "paydesk")
    # the servers find this process's trained intent model in their data dir (no child training)
    from paydesk.assistant.intent.store import load_default

    load_default(tmp_path / "data")
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    ctx = None
    try:
        for i in range(2):
            port = free_port()
            log = open(tmp_path / f"server{i}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    [exe, "serve", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
            if i == 0:  # the first one migrates; start the second when it is up
                _wait_healthy(urls[0], procs[0], tmp_path / "server0.log")
        _wait_healthy(urls[1], procs[1], tmp_path / "server1.log")
        settings = Settings(
            database_url=db_url,
            redis_url=REDIS_URL,
            redis_prefix=env["PAYDESK_REDIS_PREFIX"],
            data_dir=tmp_path / "data",
            secret_key=env["PAYDESK_SECRET_KEY"],
        )
        ctx = build_context(settings)
        yield Cluster(urls, settings, ctx)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if ctx is not None:
            ctx.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not become healthy: {log.read_text()[-3000:]}")
