"""Run Alembic migrations programmatically (serve, demo and tests all call `upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from paydesk.store.db import normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, engine: Engine | None = None, *, secret_key: str | None = None) -> None:
    """Bring the database to the newest revision of every branch (idempotent). `secret_key`:
    the app secret, for migrations that seal data with it (0014: TOTP secrets)."""
    cfg = alembic_config(url)
    if secret_key:
        cfg.attributes["secret_key"] = secret_key
    if engine is not None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    else:
        command.upgrade(cfg, "heads")
