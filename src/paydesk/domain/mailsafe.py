"""Outgoing mail safety: no header injection, safe display names, safe exports.

Use these before putting *any* user-controlled text (a customer's name, a ticket subject, a
reply-to address) into an email header:

    msg["Subject"] = header_value(subject)
    msg["To"] = address_header(customer_name, customer_email)

Python's `email` package refuses raw CR/LF in headers of the default policy, but folds and
encodes lookalikes (U+2028, NEL) and accepts a display name that smuggles a second address
("Bob <bob@x>, evil@y"); these helpers remove both classes of problem up front.
"""

from __future__ import annotations

import re
import unicodedata
from email.headerregistry import Address
from email.utils import formataddr

from paydesk.domain.errors import InvalidInput

MAX_HEADER_CHARS = 998 - 100  # RFC 5322 line limit, room for the header name and folding
# CR, LF, NUL, other C0/C1 controls, Unicode line/paragraph separators, NEL
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251})$"
)


def header_value(text: str, *, limit: int = 200) -> str:
    """One safe header line: controls and line breaks become spaces, trimmed to `limit`."""
    clean = _BREAKS.sub(" ", unicodedata.normalize("NFC", text or "")).strip()
    return re.sub(r" {2,}", " ", clean)[: min(limit, MAX_HEADER_CHARS)]


def display_name(name: str, *, limit: int = 80) -> str:
    """A display name that cannot add recipients or fake an address: no <>, @, commas,
    semicolons or quotes (they are replaced), no line breaks."""
    clean = header_value(name, limit=limit)
    return re.sub(r"[<>@,;:\"\\]", " ", clean).strip()


def checked_address(addr: str) -> str:
    """The address itself, or InvalidInput: exactly one plain addr-spec, no display part."""
    value = (addr or "").strip()
    if not _ADDRESS.match(value) or ".." in value or _BREAKS.search(value):
        raise InvalidInput(f"not a single email address: {value[:80]!r}", field="email")
    return value


def address_header(name: str, addr: str) -> str:
    """`"Name" <addr>` for To/From/Reply-To, with the name made safe and the address checked."""
    email = checked_address(addr)
    local, _, domain = email.partition("@")
    return str(Address(display_name(name), local, domain)) if name else formataddr(("", email))


# --- exports (CSV / spreadsheets) ------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not execute: a text cell starting with a formula trigger
    ("=", "+", "-", "@", tab/CR, or their full-width forms) gets a leading apostrophe (OWASP
    CSV injection guidance). Plain numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text
