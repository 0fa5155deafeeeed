"""Staff two-factor state beside `agents.totp_secret`: the last accepted TOTP time-step (replay
protection), the per-account attempt counter (throttling), single-use recovery codes stored
only as salted SHA-256, and the sealing of the TOTP secret itself (AES-256-GCM at rest)."""

from __future__ import annotations

import base64
import os
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
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
    # second-factor attempts since the last success (counted *before* a code is checked, so
    # parallel guesses cannot slip past the limit) and the lock they earned (0014)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    blocked_until: Mapped[datetime | None] = mapped_column()


class RecoveryCode(Base):
    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))  # sha256(salt + normalised code)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


# --- the TOTP secret at rest -----------------------------------------------------------------
# agents.totp_secret holds "enc1:" + base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag). The key is
# derived (HKDF-SHA256) from the configured app secret, so a copy of the database alone does
# not give the codes; the agent id is the associated data, so a sealed secret copied onto
# another account does not open. Values without the prefix are plaintext from before 0014.

SEALED_PREFIX = "enc1:"


def totp_key(app_secret: str) -> bytes:
    """The 256-bit AES key for TOTP secrets, derived from the app secret (PAYDESK_SECRET_KEY or
    the generated `secret.key`): changing that secret makes sealed TOTP secrets unreadable."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not app_secret:
        raise ValueError("the app secret is empty")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"paydesk", info=b"totp-secret v1"
    ).derive(app_secret.encode())


def _aad(agent_id: int) -> bytes:
    return f"paydesk agent {agent_id} totp".encode()


def seal_totp_secret(key: bytes, agent_id: int, secret: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = nonce + AESGCM(key).encrypt(nonce, secret.encode(), _aad(agent_id))
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def is_sealed(value: str | None) -> bool:
    return bool(value) and str(value).startswith(SEALED_PREFIX)


def open_totp_secret(key: bytes, agent_id: int, stored: str) -> str:
    """The plaintext secret; a value from before sealing is returned as is. Raises ValueError
    when the value does not open with this key (app secret changed, row tampered with)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not stored.startswith(SEALED_PREFIX):
        return stored
    body = stored[len(SEALED_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(raw[:12], raw[12:], _aad(agent_id)).decode()
    except (InvalidTag, ValueError) as exc:
        raise ValueError("the TOTP secret does not open with this app secret") from exc
