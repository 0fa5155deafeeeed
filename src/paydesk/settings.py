"""One Settings object for every process (server, CLI, jobs), read from PAYDESK_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYDESK_", extra="ignore")

    database_url: str = "sqlite:///./var/paydesk.db"
    redis_url: str | None = None
    data_dir: Path = Path("./var")
    secret_key: str = Field(default="", description="signs reply tokens, links; generated if empty")
    base_url: str = "http://127.0.0.1:8000"
    secure_cookies: bool = False
    session_ttl_seconds: int = 8 * 3600
    magic_link_ttl_seconds: int = 15 * 60

    # email
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "TOPAY Support <support@topay.example>"
    support_addresses: str = "support@topay.example"

    # limits
    max_body_bytes: int = 1_000_000
    max_attachment_bytes: int = 10_000_000
    max_request_bytes: int = 30_000_000

    # behaviour
    default_locale: str = "en"
    timezone: str = "Asia/Shanghai"
    demo: bool = False
    log_level: str = "info"

    def resolved_secret(self) -> str:
        """The signing key: configured, or created once under the data dir and kept there."""
        if self.secret_key:
            return self.secret_key
        return _file_secret(self.data_dir.resolve())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=8)
def _file_secret(data_dir: Path) -> str:
    import os
    import secrets
    import time

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret.key"
    try:  # O_EXCL: when two processes start at once, exactly one writes the key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
