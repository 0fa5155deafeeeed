"""Content-addressed file storage under the data dir (attachments, raw mail)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def store_bytes(data_dir: Path, area: str, data: bytes) -> tuple[str, str]:
    """Write `data` once (by sha256) and return (storage key, sha256). fsynced before return."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{area}/{digest[:2]}/{digest}"
    path = data_dir / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    return key, digest


def read_bytes(data_dir: Path, key: str) -> bytes:
    path = (data_dir / key).resolve()
    if not str(path).startswith(str(data_dir.resolve())):
        raise ValueError("storage key escapes the data dir")
    return path.read_bytes()
