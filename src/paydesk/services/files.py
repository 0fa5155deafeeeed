"""Content-addressed file storage under the data dir (attachments, raw mail)."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def storage_key(area: str, data: bytes) -> tuple[str, str]:
    """(storage key, sha256) of `data`: content-addressed, two-character fan-out folders."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{area}/{digest[:2]}/{digest}", digest


def store_bytes(data_dir: Path, area: str, data: bytes) -> tuple[str, str]:
    """Write `data` once (by sha256) and return (storage key, sha256). fsynced before return."""
    key, digest = storage_key(area, data)
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


def store_many(data_dir: Path, area: str, blobs: list[bytes]) -> list[tuple[str, str]]:
    """`store_bytes` for many blobs: written and fsynced in parallel (concurrent fsyncs share
    journal commits), then renamed into place."""
    keys: list[tuple[str, str]] = []
    todo: dict[str, tuple[str, bytes]] = {}  # final path → (temporary path, bytes)
    folders: set[str] = set()
    base = os.fspath(data_dir)
    for data in blobs:
        key, digest = storage_key(area, data)
        keys.append((key, digest))
        path = os.path.join(base, key)
        if path in todo or os.path.exists(path):
            continue
        folder = os.path.dirname(path)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        tmp = os.path.join(folder, f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
        todo[path] = (tmp, data)

    def write(item: tuple[str, bytes]) -> None:
        tmp, data = item
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    if todo:
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            list(pool.map(write, todo.values()))
        for path, (tmp, _) in todo.items():
            os.replace(tmp, path)
    return keys


def read_bytes(data_dir: Path, key: str) -> bytes:
    path = (data_dir / key).resolve()
    if not str(path).startswith(str(data_dir.resolve())):
        raise ValueError("storage key escapes the data dir")
    return path.read_bytes()
