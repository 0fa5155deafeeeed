"""Domain errors. The web layer maps each to one HTTP status and a JSON error body."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; `code` is the stable machine-readable name shown to API clients."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """Missing *or* not visible to the actor: both look the same from outside (no 403 oracle)."""

    code = "not_found"
    status = 404


class InvalidInput(DomainError):
    code = "invalid"
    status = 422


class Conflict(DomainError):
    code = "conflict"
    status = 409


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    status = 409


class PermissionDenied(DomainError):
    """For actions on records the actor can see but may not change (e.g. an auditor replying)."""

    code = "forbidden"
    status = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


class TooLarge(DomainError):
    code = "too_large"
    status = 413
