"""Labelled intent data: a UTF-8 CSV with a `text,label` header, validated strictly.

Operators hand us files from spreadsheets and exports, so every way such a file goes wrong gets a
message that names the row and the problem instead of a traceback deep inside the trainer.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_TEXT_CHARS = 5_000  # an utterance, not a document: longer rows are a broken export
MAX_LABEL_CHARS = 100
MAX_ROWS = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class IntentDataError(ValueError):
    """The labelled file cannot be used; `str(exc)` is a message for the operator."""


class ModelFormatError(ValueError):
    """A model directory is missing, from another format version, or damaged."""


@dataclass(frozen=True, slots=True)
class LabelledData:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def counts(self) -> Counter[str]:
        return Counter(self.labels)


def validate_name(name: str) -> str:
    """A model name is a plain file name: letters, digits, `_ . -`; no paths, ≤ 64 chars."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(
            f"invalid model name {name!r}: use letters, digits, '_', '.', '-' (max 64 characters)"
        )
    return name


def read_labelled_csv(path: Path, *, for_training: bool = True) -> LabelledData:
    """Read and validate a `text,label` CSV.

    Raises IntentDataError for: a missing file, a directory, a file that is not UTF-8, an empty
    file, a header other than text,label (any case, any column order, extra columns allowed),
    rows with an empty text or label, rows longer than MAX_TEXT_CHARS, more than MAX_ROWS rows,
    and — when `for_training` — fewer than two classes. Blank lines are skipped; a UTF-8 BOM is
    accepted (Excel writes one).
    """
    try:
        if path.is_dir():
            raise IntentDataError(f"{path} is a directory, not a CSV file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IntentDataError(f"{path} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IntentDataError(f"{path} does not exist") from None
    except OSError as exc:
        raise IntentDataError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IntentDataError(
            f"{path} is not UTF-8 (invalid byte at line {line}); save it as UTF-8 CSV"
        ) from None
    if "\x00" in text:
        raise IntentDataError(f"{path} contains NUL bytes; it is not a text CSV file")
    return parse_labelled_csv(text, source=str(path), for_training=for_training)


def parse_labelled_csv(
    text: str, *, source: str = "CSV", for_training: bool = True
) -> LabelledData:
    """Parse CSV text (see read_labelled_csv for the rules)."""
    if not text.strip():
        raise IntentDataError(f"{source} is empty; expected a `text,label` header and rows")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    # the csv module caps a field at 128 KiB by default and raises a bare csv.Error; we check
    # the length ourselves so the message names the row
    texts: list[str] = []
    labels: list[str] = []
    try:
        header = next(reader)
        cols = [h.strip().lower() for h in header]
        if "text" not in cols or "label" not in cols:
            shown = ",".join(header)[:80]
            raise IntentDataError(
                f"{source}: the first line must be the header `text,label`, found {shown!r}"
            )
        ti, li = cols.index("text"), cols.index("label")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(ti, li):
                raise IntentDataError(f"{source}: line {line} has {len(row)} column(s), expected 2")
            t, lab = row[ti].strip(), row[li].strip()
            if not t:
                raise IntentDataError(f"{source}: line {line} has an empty text")
            if not lab:
                raise IntentDataError(f"{source}: line {line} has an empty label")
            if len(t) > MAX_TEXT_CHARS:
                raise IntentDataError(
                    f"{source}: line {line} has a text of {len(t):,} characters; "
                    f"the limit is {MAX_TEXT_CHARS:,}"
                )
            if len(lab) > MAX_LABEL_CHARS:
                raise IntentDataError(f"{source}: line {line} has a label longer than 100 chars")
            texts.append(t)
            labels.append(lab)
            if len(texts) > MAX_ROWS:
                raise IntentDataError(f"{source}: more than {MAX_ROWS:,} rows")
    except csv.Error as exc:
        msg = str(exc)
        if "field larger than field limit" in msg:
            msg = f"a field is longer than the limit of {MAX_TEXT_CHARS:,} characters"
        raise IntentDataError(f"{source}: line {reader.line_num}: malformed CSV ({msg})") from None
    except StopIteration:  # pragma: no cover - text.strip() guarantees a first row
        raise IntentDataError(f"{source} is empty") from None
    if not texts:
        raise IntentDataError(f"{source} has a header but no rows")
    data = LabelledData(texts, labels)
    if for_training and len(data.classes) < 2:
        raise IntentDataError(
            f"{source} has only one label ({data.classes[0]!r}); a classifier needs at least two"
        )
    return data
