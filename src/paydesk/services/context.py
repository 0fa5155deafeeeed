"""The application context: settings plus every adapter, built once per process.

Services receive it as their first argument; tests build one per database.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paydesk.channels.mailer import EmailSender, FileEmailSender, SmtpEmailSender
from paydesk.domain.classify import classify_category
from paydesk.domain.redaction import Redactor, default_redactor
from paydesk.domain.tickets import Category
from paydesk.realtime.bus import EventBus, make_bus
from paydesk.realtime.relay import RelayBus
from paydesk.services.uow import UnitOfWork
from paydesk.settings import Settings
from paydesk.store.db import make_engine, make_sessionmaker, write_lock_for

if TYPE_CHECKING:
    from paydesk.domain.inbound import InboundMessage

Classifier = Callable[[str, str], Category]  # (text, locale) -> category
AfterTicketUpdate = Callable[["AppContext", UnitOfWork, Any, dict[str, Any], Any], None]
AfterIntake = Callable[["AppContext", UnitOfWork, Any, Any, "InboundMessage", bool], None]


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    mailer: EmailSender
    redactor: Redactor = field(default_factory=default_redactor)
    classifier: Classifier = field(default=lambda text, _locale: classify_category(text))
    # hooks run inside the intake transaction after the ticket/message rows exist
    # (ctx, uow, ticket, message, inbound, created) — e.g. auto-acknowledgement, scam warning
    after_intake: list[AfterIntake] = field(default_factory=list)
    # hooks run inside the transaction of an agent reply/note: (ctx, uow, ticket, message)
    # — e.g. queue the outbound email; a hook may raise a DomainError to refuse the reply
    before_agent_message: list[Callable[[AppContext, str], None]] = field(default_factory=list)
    after_agent_message: list[Callable[[AppContext, UnitOfWork, Any, Any], None]] = field(
        default_factory=list
    )
    # hooks run inside the transaction of `tickets.update_ticket` after its changes:
    # (ctx, uow, ticket, diff {field: [old, new]}, now) — e.g. SLA clocks
    after_ticket_update: list[AfterTicketUpdate] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions(), write_lock_for(self.engine))

    def read(self) -> Session:
        """A session for reads: on SQLite it starts a deferred transaction (no write lock)."""
        return self.sessions(bind=self._read_engine)

    @property
    def _read_engine(self) -> Engine:
        eng = self.extras.get("_read_engine")
        if eng is None:
            eng = self.engine.execution_options(sqlite_begin="DEFERRED")
            self.extras["_read_engine"] = eng
        return eng  # type: ignore[no-any-return]


def make_mailer(settings: Settings) -> EmailSender:
    if settings.smtp_host:
        return SmtpEmailSender(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    return FileEmailSender(settings.data_dir / "mail-outbox")


def build_context(settings: Settings, *, engine: Engine | None = None) -> AppContext:
    engine = engine or make_engine(settings.database_url)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        bus=make_bus(settings.redis_url, settings.redis_prefix)
        if settings.redis_url
        else RelayBus(engine),
        mailer=make_mailer(settings),
    )
    for spec in PLUGINS:
        module, _, fn = spec.partition(":")
        getattr(importlib.import_module(module), fn)(ctx)
    return ctx


# Capabilities plug into the core here (redaction rules, intent classifier, email auto-ack...),
# each a `def install(ctx: AppContext) -> None` named "module:function". One line per capability.
PLUGINS: list[str] = [
    "paydesk.services.privacy:install",
    "paydesk.services.email:install",
    "paydesk.services.chat:install",
    "paydesk.services.assistant:install",
    "paydesk.services.intent:install",
    "paydesk.services.accounts:install",
    "paydesk.services.refund_jobs:install",
    "paydesk.services.sla:install",
    "paydesk.services.csat:install",
    "paydesk.services.macros:install",
    "paydesk.services.routing:install",
    "paydesk.services.assignment:install",
]
