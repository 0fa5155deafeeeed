"""Attachment rules: safe filenames, content type sniffed from the bytes, size and type limits."""

from __future__ import annotations

import re
import unicodedata

from paydesk.domain.errors import InvalidInput, TooLarge

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"RIFF", "image/webp"),  # checked further below
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
)

ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "message/rfc822",
        "application/zip",
        "application/octet-stream",
    }
)
BLOCKED_EXTENSIONS = frozenset(
    {
        "exe",
        "bat",
        "cmd",
        "com",
        "scr",
        "js",
        "vbs",
        "msi",
        "ps1",
        "jar",
        "sh",
        "dll",
        "html",
        "htm",
        "svg",
        "xhtml",
        "hta",
        "lnk",
    }
)


def sniff_type(data: bytes, declared: str = "") -> str:
    """The content type the bytes really are; declared text types are trusted only for text."""
    head = data[:16]
    for magic, ctype in _MAGIC:
        if head.startswith(magic):
            if ctype == "image/webp" and data[8:12] != b"WEBP":
                break
            return ctype
    lowered = data[:512].lower()
    if (
        b"<html" in lowered
        or b"<script" in lowered
        or b"<svg" in lowered
        or b"<!doctype" in lowered
    ):
        return "text/html"
    if declared == "message/rfc822":
        return declared
    try:
        data[:4096].decode("utf-8")
        if b"\x00" not in data[:4096]:
            return "text/csv" if declared == "text/csv" else "text/plain"
    except UnicodeDecodeError:
        pass
    return "application/octet-stream"


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]+')


def safe_filename(name: str, default: str = "attachment") -> str:
    """No paths, control characters or shell/HTML metacharacters; ≤ 120 characters; keeps CJK."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    name = name.lstrip(".") or default
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:110] + "." + ext[:9]) if dot and len(ext) < 10 else name[:120]
    return name


def check_attachment(filename: str, data: bytes, declared: str, max_bytes: int) -> tuple[str, str]:
    """(safe filename, sniffed content type); raises TooLarge / InvalidInput."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"attachment {safe_filename(filename)!r} is larger than {max_bytes} bytes",
            field="attachments",
        )
    name = safe_filename(filename)
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    ctype = sniff_type(data, declared)
    if ext in BLOCKED_EXTENSIONS or ctype not in ALLOWED_TYPES:
        raise InvalidInput(f"attachment type not allowed: {name!r} ({ctype})", field="attachments")
    return name, ctype
