"""Email threading, loop and noise rules — pure functions, no I/O, clock passed in.

Threading order (first hit wins):
  1. a signed reply token (in one of our Message-IDs quoted by In-Reply-To/References, or in a
     plus-addressed recipient `support+t<ticket>-<sig>@…`): the signature proves the sender saw
     our mail, so it is accepted from any address;
  2. In-Reply-To naming a message we stored or sent;
  3. References, newest (last) first;
  4. a `[TOPAY #number]` subject tag.
Steps 2–4 are only trusted when the sender is a known identity of that ticket's customer: a
stranger quoting a ticket number or a Message-ID must not join someone else's ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TAG_PREFIX = "TOPAY"
_TAG = re.compile(r"\[\s*" + TAG_PREFIX + r"\s*#\s*(\d{1,12})\s*\]", re.IGNORECASE)
# our Message-IDs: <topay.<ticket>.<nonce>.<sig>@domain>
_OUR_MID = re.compile(r"topay\.(\d{1,12})\.([A-Za-z0-9]{1,40})\.([0-9a-f]{16})@", re.IGNORECASE)
# plus-addressed reply token: local+t<ticket>-<sig>@domain
_PLUS_TOKEN = re.compile(r"\+t(\d{1,12})-([0-9a-f]{16})@", re.IGNORECASE)
_MID = re.compile(r"<([^<>\s]{1,990})>")


def _sig(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:16]


def make_message_id(secret: str, ticket_id: int, nonce: str, domain: str) -> str:
    """Our own Message-ID for an outgoing message of a ticket, carrying a signed reply token."""
    return f"<topay.{ticket_id}.{nonce}.{_sig(secret, f'm{ticket_id}.{nonce}')}@{domain}>"


def make_reply_address(secret: str, ticket_id: int, address: str) -> str:
    """`support@x` → `support+t<ticket>-<sig>@x` (needs plus-addressing at the mail server)."""
    local, _, domain = address.rpartition("@")
    return f"{local}+t{ticket_id}-{_sig(secret, f'r{ticket_id}')}@{domain}"


def token_ticket(secret: str, values: Iterable[str]) -> int | None:
    """The ticket id of the first validly signed token found in Message-IDs or addresses."""
    for value in values:
        for m in _OUR_MID.finditer(value or ""):
            tid, nonce, sig = m.group(1), m.group(2), m.group(3).lower()
            if hmac.compare_digest(sig, _sig(secret, f"m{int(tid)}.{nonce}")):
                return int(tid)
        for m in _PLUS_TOKEN.finditer(value or ""):
            tid, sig = m.group(1), m.group(2).lower()
            if hmac.compare_digest(sig, _sig(secret, f"r{int(tid)}")):
                return int(tid)
    return None


def subject_tag(number: int) -> str:
    return f"[{TAG_PREFIX} #{number}]"


def tag_number(subject: str) -> int | None:
    m = _TAG.search(subject or "")
    return int(m.group(1)) if m else None


def message_ids(header: str | None) -> list[str]:
    """`<a@b> <c@d>` → ['<a@b>', '<c@d>'] (angle brackets kept: that is the canonical form)."""
    if not header:
        return []
    found = [f"<{m}>" for m in _MID.findall(header)]
    if not found and header.strip() and " " not in header.strip():
        found = [f"<{header.strip().strip('<>')}>"]  # some clients drop the brackets
    return found


def first_message_id(header: str | None) -> str | None:
    ids = message_ids(header)
    return ids[0] if ids else None


def mid_hash(message_id: str) -> str:
    """Index key of a Message-ID (they can be up to 998 characters long)."""
    return hashlib.sha256(message_id.strip().lower().encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class ThreadClues:
    token_values: list[str]  # In-Reply-To, References, To, Cc, Delivered-To values
    in_reply_to: list[str]
    references: list[str]  # in header order (oldest first)
    subject: str


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    ticket_id: int | None
    how: str  # "token" | "in-reply-to" | "references" | "subject-tag" | "new"
    refused: list[str] = field(default_factory=list)  # clues ignored because the sender is foreign


def decide_thread(
    secret: str,
    clues: ThreadClues,
    *,
    ticket_by_mid: Callable[[str], int | None],
    ticket_by_number: Callable[[int], int | None],
    sender_owns: Callable[[int], bool],
) -> ThreadMatch:
    """Apply the threading order of the module docstring. The callables are lookups the caller
    answers from the store (read-only)."""
    tid = token_ticket(secret, clues.token_values)
    if tid is not None:
        return ThreadMatch(tid, "token")
    refused: list[str] = []
    candidates: list[tuple[str, str]] = [("in-reply-to", m) for m in clues.in_reply_to]
    candidates += [("references", m) for m in reversed(clues.references)]
    seen: set[str] = set()
    for how, mid in candidates:
        if mid in seen:
            continue
        seen.add(mid)
        tid = ticket_by_mid(mid)
        if tid is None:
            continue
        if sender_owns(tid):
            return ThreadMatch(tid, how, refused)
        refused.append(how)
    number = tag_number(clues.subject)
    if number is not None:
        tid = ticket_by_number(number)
        if tid is not None:
            if sender_owns(tid):
                return ThreadMatch(tid, "subject-tag", refused)
            refused.append("subject-tag")
    return ThreadMatch(None, "new", refused)


# ---- loops and noise -------------------------------------------------------------------------

_BULK = {"bulk", "junk", "list"}


def noise_reason(
    headers: Mapping[str, str], sender: str | None, own_addresses: Iterable[str]
) -> str | None:
    """Why this mail must be recorded but not answered nor added to a ticket, or None.

    `headers` maps lower-case header names to their (first) value.
    """
    own = {a.strip().lower() for a in own_addresses if a.strip()}
    if sender and sender.lower() in own:
        return "from our own address"
    auto = (headers.get("auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]}"
    prec = (headers.get("precedence") or "").strip().lower()
    if prec in _BULK:
        return f"Precedence: {prec}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers:
            return f"{name}: {headers[name][:40]}"
    local = (sender or "").partition("@")[0].lower()
    if local in ("mailer-daemon", "postmaster") and not headers.get("_is_bounce"):
        return "mail system message"
    return None


def suppress_ack(headers: Mapping[str, str]) -> bool:
    """The sender asked not to be auto-answered (Outlook's X-Auto-Response-Suppress)."""
    value = (headers.get("x-auto-response-suppress") or "").lower()
    return any(v.strip() in ("all", "autoreply", "oof") for v in value.split(","))


def is_bounce(content_type: str, report_type: str | None, return_path: str | None) -> bool:
    """A delivery status notification (RFC 3464) — or a legacy bounce with an empty return path
    and a mail-system sender (the caller checks the sender)."""
    if content_type == "multipart/report" and (report_type or "").lower() == "delivery-status":
        return True
    return return_path is not None and return_path.strip() in ("<>", "")


def ack_allowed(
    recent_ack_times: list[datetime], now: datetime, limit: int, window: timedelta
) -> bool:
    """Auto-acknowledgements per sender: at most `limit` in any `window` (stops ack ping-pong
    with a robot that slipped through the header checks)."""
    return sum(1 for t in recent_ack_times if now - t < window) < limit


def retry_delay(attempt: int) -> timedelta:
    """Outbox backoff after the `attempt`-th failure (1-based): 30 s, 2, 8, 30 min, 2 h, 6 h…"""
    steps = [30, 120, 480, 1800, 7200, 21600]
    return timedelta(seconds=steps[min(max(attempt, 1), len(steps)) - 1])


# ---- quoted history ----------------------------------------------------------------------------

_QUOTE_HEADS = re.compile(
    r"^(?:"
    r"On .{1,200}wrote:\s*$"
    r"|在\s*.{1,200}(?:写道|寫道)\s*[:：]\s*$"
    r"|-{2,}\s*(?:Original Message|原始邮件|原始郵件|Forwarded message|转发邮件)\s*-{2,}\s*$"
    r"|_{10,}\s*$"
    r"|From:\s.{1,200}$"
    r"|发件人[:：].{0,200}$"
    r")",
    re.MULTILINE,
)


def split_quoted(body: str) -> tuple[str, str]:
    """(new text, quoted history). The history starts at the first attribution line ("On … wrote:",
    "在 … 写道：", "-----Original Message-----", Outlook's "From:" block) that is followed only by
    quoted or attributed text, or at a trailing block of `>` lines. Never hides everything."""
    if not body:
        return body, ""
    cut: int | None = None
    m = _QUOTE_HEADS.search(body)
    if m and body[: m.start()].strip():
        cut = m.start()
    if cut is None:
        lines = body.splitlines(keepends=True)
        i = len(lines)
        while i > 0 and (lines[i - 1].startswith(">") or not lines[i - 1].strip()):
            i -= 1
        if i < len(lines) and any(x.startswith(">") for x in lines[i:]):
            head = "".join(lines[:i])
            if head.strip():
                cut = len(head)
    if cut is None:
        return body, ""
    return body[:cut].rstrip(), body[cut:].strip("\n")
