"""`text/plain; format=flowed` (RFC 3676) → the text as the writer typed it. Pure.

Flowed mail (Thunderbird, Apple Mail, many phones) wraps long paragraphs at ~72 columns and marks
each soft break with a trailing space; read literally, every paragraph becomes a column of short
lines and the redactor, search and agents see words cut in two. Reception rules (§4.1–4.5):

- quote depth = the number of leading `>`; the quote marks are removed, then one leading space
  (space-stuffing) is removed;
- `-- ` (the signature separator) is a hard line, never flowed;
- a line ending in a space is soft: it joins the next line *of the same quote depth*; with
  `delsp=yes` that trailing space is deleted (it was added by the sender, e.g. inside CJK text
  with no spaces between words);
- a soft line followed by a different quote depth or the end of the text is treated as hard.

Quoted paragraphs come back as `> ` lines (`>> ` at depth 2…), so quoted history still folds.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"\r\n|\n|\r")


def _split_line(line: str) -> tuple[int, str]:
    depth = len(line) - len(line.lstrip(">"))
    text = line[depth:]
    if text.startswith(" "):
        text = text[1:]  # space-stuffing (RFC 3676 §4.4)
    return depth, text


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join the soft line breaks of a format=flowed body; keeps quote depth and hard breaks."""
    if not text:
        return text
    lines = _BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final line break is not a line of its own
        trailing = "\n"
    else:
        trailing = ""
    out: list[str] = []
    para: list[str] = []
    para_depth = -1

    def flush() -> None:
        nonlocal para, para_depth
        if para_depth >= 0:
            prefix = ">" * para_depth + " " if para_depth else ""
            joined = "".join(para)
            out.append((prefix + joined).rstrip(" ") if para_depth else joined)
        para, para_depth = [], -1

    for line in lines:
        depth, body = _split_line(line)
        if para_depth >= 0 and depth != para_depth:
            flush()  # a soft line before a change of quote depth counts as hard
        soft = body.endswith(" ") and body != "-- "
        if soft and delsp:
            body = body[:-1]
        para.append(body)
        para_depth = depth
        if not soft:
            flush()
    flush()
    return "\n".join(out) + trailing
