"""Staff two-factor state beside `agents.totp_secret`: the last accepted TOTP time-step (replay
protection) and single-use recovery codes, stored only as salted SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from paydesk.store.base import Base, utcnow


class TotpStep(Base):
    __tablename__ = "staff_totp_steps"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    # the 30-second step of the last code accepted: a code of this step or an earlier one is
    # refused, so a code seen over a shoulder or in a proxy log cannot be used a second time
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class RecoveryCode(Base):
    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))  # sha256(salt + normalised code)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()
