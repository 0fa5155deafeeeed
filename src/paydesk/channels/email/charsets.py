"""Decoding bytes of real-world mail the way mail clients do.

- GB2312/GBK/CP936/EUC-CN labels decode as GB18030 (the superset every Chinese client really
  sends); Big5 as Big5-HKSCS; ISO-8859-1/ASCII as Windows-1252 (what browsers do).
- A label that fails strictly, is unknown, or is a single-byte Latin label on bytes that are not
  Latin at all falls back to UTF-8, then to detection (charset-normalizer) on a bounded sample.
- Headers: RFC 2047 encoded words with the same charset rules, plus raw 8-bit header bytes.
"""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big-5": "big5hkscs",
    "csbig5": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
_SINGLE_BYTE_LATIN = {"cp1252", "iso8859-15", "cp1250", "iso8859-2"}
_CJK = ("gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp949", "euc_kr", "cp932", "shift_jis")
DETECT_SAMPLE = 64 * 1024


def codec_for(label: str | None) -> str | None:
    """The Python codec to use for a MIME charset label, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower().partition("*")[0]
    name = ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # unknown, or junk such as embedded NULs
        return None


def detect(data: bytes) -> str | None:
    """Best guess from a bounded sample (detection is O(n) but slow per byte)."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[:DETECT_SAMPLE]).best()
    if best is None:
        return None
    return codec_for(best.encoding)


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str]:
    """(text, codec used). Never raises; worst case is U+FFFD replacement characters."""
    if not data:
        return "", codec_for(label) or "utf-8"
    codec = codec_for(label)
    if data.isascii():
        return data.decode("ascii"), codec or "ascii"
    if codec and codec not in _SINGLE_BYTE_LATIN and codec != "utf-7":
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    guessed = detect(data)
    if codec in _SINGLE_BYTE_LATIN:
        # a Latin label on bytes that are really CJK (old webmail) — trust a CJK detection only
        if guessed and guessed.startswith(_CJK):
            return data.decode(guessed, "replace"), guessed
        return data.decode(codec, "replace"), codec
    if guessed:
        return data.decode(guessed, "replace"), guessed
    if codec:
        return data.decode(codec, "replace"), codec
    return data.decode("utf-8", "replace"), "utf-8"


_ENCODED_WORD_GAP = re.compile(r"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)")


def decode_header_value(raw: str) -> str:
    """A header as stored by the parser (str with surrogate-escaped 8-bit bytes) → text.

    RFC 2047 words are decoded with `decode_bytes` so GB2312-labelled GBK words survive; a
    malformed word is left as it is rather than failing the whole message.
    """
    if not raw:
        return ""
    value = _ENCODED_WORD_GAP.sub(r"\1", raw.replace("\r", "").replace("\n", ""))
    try:
        chunks = decode_header(value)
    except Exception:  # noqa: BLE001 - malformed words: keep the literal text
        chunks = [(value, None)]
    out: list[str] = []
    for chunk, label in chunks:
        if isinstance(chunk, str):
            out.append(_from_surrogates(chunk))
        else:
            if label is None:
                out.append(_from_surrogates(chunk.decode("raw-unicode-escape", "replace")))
            else:
                out.append(decode_bytes(chunk, label)[0])
    text = "".join(out)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text).strip()


def _from_surrogates(text: str) -> str:
    """Raw 8-bit header bytes (surrogate-escaped by the parser) → decoded text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)[0]
