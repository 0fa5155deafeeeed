"""Who is acting: an agent (console session), an API token, a customer (portal) or the system."""

from __future__ import annotations

from dataclasses import dataclass, field

from paydesk.domain.errors import PermissionDenied
from paydesk.domain.permissions import Perm, has_perm


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "agent" | "token" | "customer" | "system"
    id: int | None
    workspace_id: int
    role: str  # a staff Role value, or "customer" / "system"
    name: str = ""
    queue_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return self.kind in ("agent", "token", "system")

    @property
    def is_customer(self) -> bool:
        return self.kind == "customer"

    def can(self, perm: Perm) -> bool:
        if self.kind == "system":
            return True
        if self.kind == "customer":
            return False
        if self.kind == "token" and perm == Perm.TICKET_READ_ALL:
            return True  # integration tokens are workspace-wide; their role limits what they do
        return has_perm(self.role, perm)

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise PermissionDenied(f"your role ({self.role}) may not do this ({perm.value})")


def system_actor(workspace_id: int = 1) -> Actor:
    return Actor(kind="system", id=None, workspace_id=workspace_id, role="system", name="system")
