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
    redis_prefix: str = "paydesk:"  # keys/channels in Redis (unique per test run)
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
    # email channel (issue 3): IMAP polling, intake limits, auto-ack, outbox retries
    imap_host: str | None = None
    imap_port: int = 143
    imap_username: str | None = None
    imap_password: str | None = None
    imap_ssl: bool = False
    imap_folder: str = "INBOX"
    imap_done_folder: str | None = None  # move processed mail here (else only flag \\Seen)
    imap_poll_seconds: float = 30.0
    email_max_message_bytes: int = 25_000_000  # larger mail: notice to sender + visible entry
    email_ack_per_hour: int = 3  # auto-acknowledgements per sender per hour
    email_plus_addressing: bool = False  # Reply-To support+t<ticket>-<sig>@… (MTA must allow)
    email_max_attempts: int = 8  # outbox delivery attempts before a message is failed
    email_trusted_authserv_id: str = ""  # our MTA's Authentication-Results id(s), comma-separated
    email_verify_dkim: bool = False  # also verify DKIM signatures here (DNS lookups)
    email_require_sender_auth: bool = False  # no pass evidence = unverified sender

    # limits
    max_body_bytes: int = 1_000_000
    max_attachment_bytes: int = 10_000_000
    max_request_bytes: int = 30_000_000

    # payments (issue 7): PAYDESK_PAYMENTS_URL selects the platform's HTTP API, else the sandbox
    payments_url: str | None = None
    payments_token: str | None = None
    payments_timeout_seconds: float = 3.0
    sms_url: str | None = None  # SMS gateway; unset = SMS written under data_dir/sms-outbox
    sms_token: str | None = None
    # refunds above this amount (per currency, in major units) need a supervisor's approval
    refund_approval_limits: dict[str, str] = Field(
        default_factory=lambda: {"CNY": "500", "USD": "100", "JPY": "10000", "BTC": "0.001"}
    )
    refund_approval_default_limit: str = "0"  # other currencies: every refund needs approval
    verification_code_ttl_seconds: int = 600
    verification_max_attempts: int = 5
    verification_max_per_hour: int = 5  # codes sent per customer per hour
    verification_valid_seconds: int = 900  # how long a passed check authorises an action
    # which checks each account action needs: "registered" (a channel on file), "new" (the new
    # contact being added); an empty list means no customer verification (e.g. a freeze)
    verification_requirements: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "password_reset": ["registered"],
            "contact_change": ["registered", "new"],
            "unfreeze": ["registered"],
            "freeze": [],
            "refund": [],
            "self_service": ["registered"],
        }
    )
    dispute_response_days: int = 10
    chargeback_response_days: int = 7
    # refund jobs: poll submitted refunds / retry stuck executions every N s in the server (0 =
    # off; cron `paydesk refunds sync` instead); stuck = executing this long; retries then flag
    refund_sync_seconds: float = 30.0
    refund_stuck_seconds: int = 300
    refund_max_retries: int = 3
    # succeeded refunds are re-checked (sparsely) this long for a reversal; 0 = never
    refund_reversal_watch_seconds: int = 7 * 86400
    # incidents: suggest one when this many similar technical tickets arrive within the window
    incident_suggest_window_minutes: int = 60
    incident_suggest_min_tickets: int = 5
    sandbox_refund_settle_seconds: int = 120  # the sandbox platform completes refunds after this

    # CSAT / NPS (issue 2): scale "binary" (good/bad) or "five" (1-5); rating links expire;
    # at most csat_customer_limit invitations per customer per window; NPS is off unless enabled
    csat_scale: str = "binary"
    csat_survey_ttl_days: int = 14
    csat_customer_limit: int = 3
    csat_customer_window_hours: int = 24
    nps_enabled: bool = False
    nps_interval_days: int = 90
    nps_ttl_days: int = 30

    # behaviour
    default_locale: str = "en"
    timezone: str = "Asia/Shanghai"
    # assistant (issue 5): agents' hours for handoff promises, in `timezone`
    assistant_business_hours: str = "08:00-22:00"
    # optional generative replies via an OpenAI-compatible endpoint (off when unset)
    assistant_llm_url: str | None = None
    assistant_llm_model: str = "gpt-4o-mini"
    assistant_llm_key: str | None = None
    assistant_llm_timeout_seconds: float = 8.0
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
