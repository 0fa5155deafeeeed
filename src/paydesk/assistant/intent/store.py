"""Where models live (`<data_dir>/models/<name>/`) and the default TOPAY model.

The default model `topay` is trained from the bundled, hand-labelled bilingual CSV the first time
a data dir needs it (≈ 3–5 s, in a child process so that a server never imports scikit-learn or the
encoder just to train), then saved under the data dir and memoised per process. A model that
an operator trained under the same name (`paydesk intent train my.csv --model topay`) is used
instead; a cached bundled model whose CSV or code has changed since is retrained.

`ModelHolder` is what the rest of the system holds: it loads on first use (never at import or
startup), is safe to call from many threads, and notices within a few seconds when a CLI command
wrote a new version of its model, so a running server follows `paydesk intent train`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from paydesk.assistant.intent.dataset import ModelFormatError, read_labelled_csv, validate_name
from paydesk.domain import heap

if TYPE_CHECKING:  # scikit-learn is imported on first use, not with the plugins
    from paydesk.assistant.intent.model import IntentModel

log = logging.getLogger(__name__)

BUNDLED_CSV = Path(__file__).resolve().parent / "data" / "topay_intents.csv"
DEFAULT_MODEL = "topay"
_RECHECK_SECONDS = 3.0

# the bundled model depends only on the CSV and the code, so one per process is enough
_bundled_lock = threading.Lock()
_bundled: dict[str, IntentModel] = {}


def model_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "models" / validate_name(name)


def bundled_fingerprint() -> str:
    from paydesk.assistant.intent.model import FORMAT_VERSION

    h = hashlib.sha256(BUNDLED_CSV.read_bytes())
    h.update(f"format={FORMAT_VERSION};screen=1;neighbours=1".encode())
    return h.hexdigest()[:16]


def train_bundled() -> IntentModel:
    """The default TOPAY model, trained from the bundled CSV (memoised per process)."""
    from paydesk.assistant.intent.model import TrainConfig, train

    fp = bundled_fingerprint()
    with _bundled_lock:
        model = _bundled.get(fp)
        if model is None:
            data = read_labelled_csv(BUNDLED_CSV)
            model = train(
                data,
                TrainConfig(screen=True),  # intake routing asks the cheap head first
                meta={"source": "bundled", "fingerprint": fp},
            )
            _bundled.clear()
            _bundled[fp] = model
        return model


def _current(path: Path) -> IntentModel | None:
    """The model saved at `path` if it is the operator's or an up-to-date bundled one."""
    from paydesk.assistant.intent.model import IntentModel

    try:
        model = IntentModel.load(path)
    except ModelFormatError:
        return None
    if model.meta.get("source") != "bundled" or model.meta.get("fingerprint") == (
        bundled_fingerprint()
    ):
        return model
    return None


def _child_env() -> dict[str, str]:
    """This environment, with the folder that holds this process's `paydesk` first on
    PYTHONPATH, so a child Python runs the same code."""
    src = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _train_in_child(path: Path) -> bool:
    """Train and save the bundled model in a child process. Training imports scikit-learn and
    the sentence encoder (~150 MB that a server would otherwise keep for its whole life);
    predicting needs neither. True when the child saved a model.

    The child imports this process's own copy of `paydesk` (its folder first on PYTHONPATH):
    `python -m` would otherwise find the installed one, which in a second checkout (a git
    worktree, a bench of an older commit) is other code — its model then had another
    fingerprint, was not current here, and this process trained in-process after all."""
    try:
        subprocess.run(
            [sys.executable, "-m", "paydesk.assistant.intent.store", str(path)],
            check=True,
            capture_output=True,
            timeout=600,
            env=_child_env(),
        )
        return True
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("training the default intent model in a child process failed: %s", exc)
        return False


def load_default(data_dir: Path) -> IntentModel:
    """The `topay` model of this data dir: the operator's, a valid cached one, or a fresh one
    (trained in a child process unless this process already holds one)."""
    path = model_dir(data_dir, DEFAULT_MODEL)
    model = _current(path)
    if model is not None:
        return model
    fp = bundled_fingerprint()
    if fp not in _bundled and _train_in_child(path):
        model = _current(path)
        if model is not None:
            with _bundled_lock:  # the next data dir of this process copies it from memory
                _bundled.clear()
                _bundled[fp] = model
            return model
        log.warning(
            "the intent model trained in a child process is not current here: training in-process"
        )
    # in-process: this process keeps scikit-learn and the training code (~85 MB) for good
    model = train_bundled()
    try:
        model.save(path)
    except OSError as exc:  # a read-only data dir still gets a working (in-memory) model
        log.warning("cannot cache the default intent model at %s: %s", path, exc)
    return model


class ModelHolder:
    """Lazily loaded, hot-reloading handle on one named model (see module docstring)."""

    def __init__(self, data_dir: Path, name: str = DEFAULT_MODEL) -> None:
        self.path = model_dir(data_dir, name)
        self.data_dir = data_dir
        self.name = name
        self._lock = threading.Lock()
        self._model: IntentModel | None = None
        self._stamp: float | None = None
        self._checked_at = 0.0

    def _meta_mtime(self) -> float | None:
        try:
            return (self.path / "meta.json").stat().st_mtime
        except OSError:
            return None

    def get(self) -> IntentModel:
        """The current model, loading (or training the default) on first use."""
        model = self._model
        now = time.monotonic()
        if model is not None and now - self._checked_at < _RECHECK_SECONDS:
            return model
        with self._lock:
            self._checked_at = now
            stamp = self._meta_mtime()
            if self._model is None or stamp != self._stamp:
                replacing = self._model is not None
                if self.name == DEFAULT_MODEL:
                    self._model = load_default(self.data_dir)
                else:
                    from paydesk.assistant.intent.model import IntentModel

                    self._model = IntentModel.load(self.path)
                self._stamp = self._meta_mtime()
                if replacing:
                    heap.replaced()  # a settled server frees the old model
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def predict(self, text: str, locale: str | None = None) -> tuple[str, float]:
        """(sub-intent label, confidence) — the interface the assistant uses."""
        return self.get().predict(text, locale)


if __name__ == "__main__":  # `python -m paydesk.assistant.intent.store PATH`: see _train_in_child
    train_bundled().save(Path(sys.argv[1]))
